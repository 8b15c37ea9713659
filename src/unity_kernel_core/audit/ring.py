# Copyright 2026 UnityKernel contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""
A single-producer, single-consumer ring of byte records in a shared memory-mapped file.

Pure Python. The kernel (producer) and its audit writer process (consumer) map the same
file: a record the producer has written and published (by moving ``head``) is visible to the
consumer without a system call, and stays in the file's pages when either process dies, even
by ``kill -9``. The consumer moves ``tail`` only once it has made the records durable
elsewhere (Redis or the journal); a consumer that dies leaves ``tail`` where it was, and the
next one starts there (the records after it are sent again; Redis refuses what it has).

Layout: a 64-byte header (magic, capacity, head, tail, closing flag), then ``capacity``
bytes of data. ``head`` and ``tail`` count bytes ever written and consumed, so
``head - tail`` is the fill. Each record is ``<length u32><payload>`` and never wraps: when
it does not fit before the end of the data area, a ``0xFFFFFFFF`` marker (or fewer than 4
bytes left) skips the producer to the start. One 8-byte aligned store publishes ``head`` or
``tail`` (on x86_64 and arm64 an aligned 8-byte store is atomic, and the data is written
before the store in program order).
"""

import mmap
import os
import pathlib
import struct
from typing import List, Optional, Tuple

from unity_kernel_core.errors import UnityKernelError

MAGIC = b'UKRING01'
HEADER = 64
_HEAD_AT, _TAIL_AT, _CLOSING_AT = 16, 24, 32
_CAP = struct.Struct('<Q')
_U64 = struct.Struct('<Q')
_LEN = struct.Struct('<I')
_SKIP = 0xFFFFFFFF


class RingError(UnityKernelError):
    """The ring file cannot be used (missing, not a ring, wrong size)."""


class Ring:
    """One side (producer or consumer) of a ring file."""

    def __init__(self, path: pathlib.Path, mm: mmap.mmap, capacity: int) -> None:
        self.path = path
        self._mm = mm
        self.capacity = capacity
        self._head = _U64.unpack_from(mm, _HEAD_AT)[0]
        self._tail = _U64.unpack_from(mm, _TAIL_AT)[0]
        self._claimed = self._head
        """The head after the record being written (set by _claim, published by _publish)."""

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, path: pathlib.Path, capacity: int) -> 'Ring':
        """Create (or replace) an empty ring file of ``capacity`` data bytes and map it."""
        path = pathlib.Path(path)
        tmp = path.with_name(path.name + '.new')
        try:
            with open(tmp, 'wb') as f:
                f.truncate(HEADER + capacity)
                # reserve every page now: a page of a sparse mapped file that the disk cannot
                # take later is a SIGBUS in the kernel's bus tap, not an error
                os.posix_fallocate(f.fileno(), 0, HEADER + capacity)
                f.seek(0)
                f.write(MAGIC + _CAP.pack(capacity))
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise RingError(f'cannot create the writer ring {path} ({HEADER + capacity} bytes, '
                            f'redis.ring_bytes): {exc.strerror}') from None
        os.replace(tmp, path)
        return cls.open(path)

    @classmethod
    def open(cls, path: pathlib.Path) -> 'Ring':  # noqa: A003 (Ring.open, as io's open)
        """Map an existing ring file; raise RingError when it is missing or no ring."""
        path = pathlib.Path(path)
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise RingError(f'cannot open the writer ring {path}: {exc.strerror}') from None
        try:
            size = os.fstat(fd).st_size
            if size < HEADER:
                raise RingError(f'{path}: not a writer ring (too short)')
            mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        if mm[:len(MAGIC)] != MAGIC:
            mm.close()
            raise RingError(f'{path}: not a writer ring (bad magic)')
        (capacity,) = _CAP.unpack_from(mm, len(MAGIC))
        if capacity + HEADER != size:
            mm.close()
            raise RingError(f'{path}: capacity {capacity} does not match the file size {size}')
        return cls(path, mm, capacity)

    def close(self) -> None:
        """Unmap the file (the records stay in it)."""
        self._mm.close()

    @property
    def buffer(self) -> mmap.mmap:
        """
        Return the mapping, for a native producer or reader of the same format.

        A native producer (``unity_kernel_core.native``) writes records in place of
        :meth:`put`; never both at once. The mapping cannot be closed while one holds it.
        """
        return self._mm

    # -- state -----------------------------------------------------------------------------

    @property
    def head(self) -> int:
        """Return the bytes ever published by the producer."""
        return _U64.unpack_from(self._mm, _HEAD_AT)[0]

    @property
    def tail(self) -> int:
        """Return the bytes ever released by the consumer."""
        return _U64.unpack_from(self._mm, _TAIL_AT)[0]

    @property
    def used(self) -> int:
        """Return the bytes published and not yet released."""
        return self.head - self.tail

    @property
    def closing(self) -> bool:
        """Return True once the producer said it will publish nothing more."""
        return self._mm[_CLOSING_AT] == 1

    def set_closing(self, value: bool = True) -> None:
        """Tell the consumer that nothing more comes (or, with False, that it does again)."""
        self._mm[_CLOSING_AT] = 1 if value else 0

    # -- producer --------------------------------------------------------------------------

    def put(self, parts: Tuple[bytes, ...]) -> bool:
        """Append one record made of ``parts``; return False when it does not fit now."""
        size = 0
        for p in parts:
            size += len(p)
        at = self._claim(size)
        if at < 0:
            return False
        mm = self._mm
        for p in parts:
            end = at + len(p)
            mm[at:end] = p
            at = end
        self._publish()
        return True

    def put2(self, first: bytes, second: bytes) -> bool:
        """Append one record made of two parts (the tap's case: :meth:`put`, unrolled)."""
        n1 = len(first)
        n2 = len(second)
        at = self._claim(n1 + n2)
        if at < 0:
            return False
        mid = at + n1
        self._mm[at:mid] = first
        self._mm[mid:mid + n2] = second
        self._publish()
        return True

    def _claim(self, size: int) -> int:
        """
        Make room for a record of ``size`` bytes and write its length; return where it goes.

        Returns -1 when it does not fit now. A record that would not fit before the end of the
        buffer starts at its beginning (the rest marked skipped). The record becomes visible
        to the consumer only with :meth:`_publish`, once its bytes are written.
        """
        need = size + 4
        cap = self.capacity
        head = self._head
        pos = head % cap
        room = cap - pos
        skip = room if need > room else 0
        if head + skip + need - self._tail > cap:
            self._tail = _U64.unpack_from(self._mm, _TAIL_AT)[0]
            if head + skip + need - self._tail > cap:
                return -1
        if skip:
            if room >= 4:
                _LEN.pack_into(self._mm, HEADER + pos, _SKIP)
            head += skip
            pos = 0
        _LEN.pack_into(self._mm, HEADER + pos, size)
        self._claimed = head + need
        return HEADER + pos + 4

    def _publish(self) -> None:
        """Make the record written after :meth:`_claim` visible to the consumer."""
        self._head = self._claimed
        _U64.pack_into(self._mm, _HEAD_AT, self._head)

    # -- consumer --------------------------------------------------------------------------

    def peek(self, max_records: int, max_bytes: int = 1 << 62,
             start: Optional[int] = None) -> Tuple[List[bytes], int]:
        """
        Return up to ``max_records`` records after the consumer's position, and the next one.

        Give that position to :meth:`release` once the records are safe elsewhere. ``start``
        (a position an earlier peek returned) continues after records already taken.
        """
        mm = self._mm
        cap = self.capacity
        head = _U64.unpack_from(mm, _HEAD_AT)[0]
        pos = self._tail if start is None else start
        out: List[bytes] = []
        taken = 0
        while pos < head and len(out) < max_records and taken < max_bytes:
            at = pos % cap
            room = cap - at
            if room < 4:
                pos += room
                continue
            (size,) = _LEN.unpack_from(mm, HEADER + at)
            if size == _SKIP:
                pos += room
                continue
            if size + 4 > room or pos + 4 + size > head:
                raise RingError(f'{self.path}: record of {size} bytes at {pos} overruns the '
                                f'ring (head {head})')
            start = HEADER + at + 4
            out.append(mm[start:start + size])
            pos += 4 + size
            taken += size
        return out, pos

    def release(self, position: int) -> None:
        """Mark everything before ``position`` (from :meth:`peek`) as consumed."""
        self._tail = position
        _U64.pack_into(self._mm, _TAIL_AT, position)

    def reset(self) -> None:
        """Empty the ring (consumer, while no producer maps it)."""
        self._head = self._tail = 0
        _U64.pack_into(self._mm, _HEAD_AT, 0)
        _U64.pack_into(self._mm, _TAIL_AT, 0)
        self.set_closing(False)


def try_open(path: pathlib.Path) -> Optional[Ring]:
    """Return the ring at ``path``, or None when there is none (or it is unreadable)."""
    try:
        return Ring.open(path)
    except RingError:
        return None
