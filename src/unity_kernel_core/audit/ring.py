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
before the store in program order). The native producer (``native/csrc/uk_ring.h``) writes
the same bytes.

Files: a ring is created with ``O_EXCL`` and never through a symlink, opened only when it is
this user's regular file and not writable by group or others
(:mod:`unity_kernel_core.common.files`); a header that does not hold together (magic,
capacity, file size, ``tail <= head <= tail + capacity``) is a :class:`RingError`.

Damage: a record whose length is wrong (past the data area or the head) does not stop the
consumer: :meth:`Ring.peek` goes on at the next place where a record starts and counts what
it skipped (:attr:`Ring.damage`). Where a record starts is the records' business, not the
ring's: the consumer gives a :data:`Finder` (the writer's: ``encoder.find_record``, which
knows an event's head); without one, a damaged ring is skipped up to its head. A ring whose
header is damaged is read by :func:`recover`, which takes every record it finds in the data
area.
"""

import dataclasses
import mmap
import os
import pathlib
import struct
from typing import Callable, List, Optional, Tuple

from unity_kernel_core.common.files import create_private, open_private
from unity_kernel_core.errors import StateFileError, UnityKernelError

MAGIC = b'UKRING01'
HEADER = 64
_HEAD_AT, _TAIL_AT, _CLOSING_AT = 16, 24, 32
_CAP = struct.Struct('<Q')
_U64 = struct.Struct('<Q')
_LEN = struct.Struct('<I')
FRAME = _LEN.size
_SKIP = 0xFFFFFFFF

Finder = Callable[[mmap.mmap, int, int], int]
"""``(data, start, end)`` -> the offset of the first place in ``data[start:end]`` where a
record's length word plausibly starts (its payload checked as far as the finder knows the
records), or -1."""


def no_finder(data: mmap.mmap, start: int, end: int) -> int:
    """Find nothing: a consumer that knows no records skips damage up to the head."""
    return -1


class RingError(UnityKernelError):
    """The ring file cannot be used (missing, not a ring, wrong size, a damaged header)."""


@dataclasses.dataclass
class Damage:
    """What a consumer skipped: the first place, the bytes and the number of places."""

    first_at: int = -1
    """The position (bytes ever written) of the first damaged frame, -1: none."""
    skipped: int = 0
    """Bytes skipped over damaged frames."""
    places: int = 0
    """Damaged places found (each one or more records lost)."""

    def __bool__(self) -> bool:
        return self.places > 0

    def add(self, at: int, skipped: int) -> None:
        """Count a damaged place at ``at`` and the ``skipped`` bytes up to the next frame."""
        if self.first_at < 0:
            self.first_at = at
        self.skipped += skipped
        self.places += 1


class Ring:
    """One side (producer or consumer) of a ring file."""

    def __init__(self, path: pathlib.Path, mm: mmap.mmap, capacity: int,
                 finder: Finder = no_finder) -> None:
        self.path = path
        self.finder = finder
        """Where the consumer resyncs after damage (see :data:`Finder`)."""
        self._mm = mm
        self._words = memoryview(mm)[:HEADER].cast('Q')
        """
        The header as 64-bit words: head and tail are read and written whole, as the native side
        does (``struct.pack_into`` zeroes its bytes before writing them, so a reader in the
        other process could see a tail of 0 between the two, and a byte-wise read can mix an
        old and a new value).
        """
        self.capacity = capacity
        self._head = self._load(_HEAD_AT)
        self._tail = self._load(_TAIL_AT)
        self._claimed = self._head
        """The head after the record being written (set by _claim, published by _publish)."""
        self.damage = Damage()
        """Damaged frames the consumer skipped (see :meth:`peek`)."""

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, path: pathlib.Path, capacity: int) -> 'Ring':
        """
        Create an empty ring file of ``capacity`` data bytes at a new ``path``, and map it.

        ``O_EXCL``: RingError when anything is at ``path`` (a symlink is never followed).
        Every page is reserved now: RingError (ENOSPC) when the file system cannot hold it.
        """
        path = pathlib.Path(path)
        size = HEADER + capacity
        try:
            fd = create_private(path)
        except OSError as exc:
            raise RingError(f'cannot create the writer ring {path}: {exc.strerror}') from None
        try:
            os.ftruncate(fd, size)
            # reserve every page now: a page of a sparse mapped file that the file system
            # cannot take later is a SIGBUS in the kernel's bus tap, not an error
            os.posix_fallocate(fd, 0, size)
            os.pwrite(fd, _CAP.pack(capacity), len(MAGIC))
            os.pwrite(fd, MAGIC, 0)  # the magic last: a half-made ring is no ring
            mm = mmap.mmap(fd, size)
        except OSError as exc:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise RingError(f'cannot create the writer ring {path} ({size} bytes, '
                            f'redis.ring_bytes): {exc.strerror}') from None
        os.close(fd)
        return cls(path, mm, capacity)

    @classmethod
    def open(cls, path: pathlib.Path,  # noqa: A003 (Ring.open, as io's open)
             finder: Finder = no_finder) -> 'Ring':
        """
        Map an existing ring file; RingError when it is missing, no ring, or damaged.

        StateFileError (not used, not read) when it is not this user's regular file or is
        writable by group or others.
        """
        path = pathlib.Path(path)
        try:
            fd = open_private(path, os.O_RDWR)
        except FileNotFoundError:
            raise RingError(f'cannot open the writer ring {path}: no such file') from None
        try:
            size = os.fstat(fd).st_size
            if size < HEADER:
                raise RingError(f'{path}: not a writer ring (too short: {size} bytes)')
            mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        problem = header_problem(mm, size)
        if problem:
            mm.close()
            raise RingError(f'{path}: {problem}')
        (capacity,) = _CAP.unpack_from(mm, len(MAGIC))
        return cls(path, mm, capacity, finder)

    def close(self) -> None:
        """Unmap the file (the records stay in it)."""
        self._words.release()
        self._mm.close()

    def _load(self, at: int) -> int:
        """Return the header word at byte ``at`` (one aligned 8-byte load)."""
        return int(self._words[at >> 3])

    def _store(self, at: int, value: int) -> None:
        """Set the header word at byte ``at`` (one aligned 8-byte store)."""
        self._words[at >> 3] = value

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
        return self._load(_HEAD_AT)

    @property
    def tail(self) -> int:
        """Return the bytes ever released by the consumer."""
        return self._load(_TAIL_AT)

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
        Make room for a record of ``size`` bytes and write its frame; return where it goes.

        Returns -1 when it does not fit now. A record that would not fit before the end of the
        buffer starts at its beginning (the rest marked skipped). The record becomes visible
        to the consumer only with :meth:`_publish`, once its bytes are written.
        """
        need = size + FRAME
        cap = self.capacity
        head = self._head
        pos = head % cap
        room = cap - pos
        skip = room if need > room else 0
        if head + skip + need - self._tail > cap:
            self._tail = self._load(_TAIL_AT)
            if head + skip + need - self._tail > cap:
                if skip and need <= cap and head + skip - self._tail <= cap:
                    self._wrap(head, pos, room)
                return -1
        if skip:
            if room >= FRAME:
                _LEN.pack_into(self._mm, HEADER + pos, _SKIP)
            head += skip
            pos = 0
        _LEN.pack_into(self._mm, HEADER + pos, size)
        self._claimed = head + need
        return HEADER + pos + FRAME

    def _wrap(self, head: int, pos: int, room: int) -> None:
        """
        Move the head to the buffer's start now, with a skip record (the record waits there).

        A record larger than half the ring that cannot start before the buffer's end would
        otherwise wait forever in an empty ring: the skip it needs and itself never fit
        together. The native producer does the same (``uk_ring_wrap``).
        """
        if room >= FRAME:
            _LEN.pack_into(self._mm, HEADER + pos, _SKIP)
        self._head = head + room
        self._store(_HEAD_AT, self._head)

    def fits(self, size: int) -> bool:
        """Return whether a record of ``size`` bytes can ever be put in this ring."""
        return size + FRAME <= self.capacity

    def _publish(self) -> None:
        """Make the record written after :meth:`_claim` visible to the consumer."""
        self._head = self._claimed
        self._store(_HEAD_AT, self._head)

    # -- consumer --------------------------------------------------------------------------

    def peek(self, max_records: int, max_bytes: int = 1 << 62,
             start: Optional[int] = None) -> Tuple[List[bytes], int]:
        """
        Return up to ``max_records`` records after the consumer's position, and the next one.

        Give that position to :meth:`release` once the records are safe elsewhere. ``start``
        (a position an earlier peek returned) continues after records already taken. A
        damaged frame is skipped up to the next intact one (counted in :attr:`damage`).
        """
        mm = self._mm
        cap = self.capacity
        head = self._load(_HEAD_AT)
        pos = self._tail if start is None else start
        out: List[bytes] = []
        taken = 0
        while pos < head and len(out) < max_records and taken < max_bytes:
            at = pos % cap
            room = cap - at
            if pos + room > head and (room < FRAME or _LEN.unpack_from(
                    mm, HEADER + at)[0] == _SKIP):  # a skip past the head: damage
                self.damage.add(pos, head - pos)
                pos = head
                break
            if room < FRAME:
                pos += room
                continue
            (size,) = _LEN.unpack_from(mm, HEADER + at)
            if size == _SKIP:
                pos += room
                continue
            if size + FRAME <= room and pos + FRAME + size <= head:
                begin = HEADER + at + FRAME
                out.append(mm[begin:begin + size])
                pos += FRAME + size
                taken += size
                continue
            following = self._next_frame(pos + 1, head)
            self.damage.add(pos, following - pos)
            pos = following
        return out, pos

    def _next_frame(self, pos: int, head: int) -> int:
        """Return the position of the next record the finder finds from ``pos`` (or head)."""
        mm = self._mm
        cap = self.capacity
        while pos < head:
            at = pos % cap
            end = min(cap, at + (head - pos))
            found = self.finder(mm, HEADER + at, HEADER + end)
            if found < 0:
                pos += end - at
                continue
            candidate = pos + (found - HEADER - at)
            (size,) = _LEN.unpack_from(mm, found)
            if found - HEADER + FRAME + size <= cap and candidate + FRAME + size <= head:
                return candidate
            pos = candidate + 1
        return head

    def release(self, position: int) -> None:
        """Mark everything before ``position`` (from :meth:`peek`) as consumed."""
        self._tail = position
        self._store(_TAIL_AT, position)

    def reset(self) -> None:
        """Empty the ring (consumer, while no producer maps it)."""
        self._head = self._tail = 0
        self._store(_HEAD_AT, 0)
        self._store(_TAIL_AT, 0)
        self.set_closing(False)


def header_problem(data: 'bytes | mmap.mmap', size: int) -> str:
    """Return what is wrong with a ring file's header ('' when it holds together)."""
    if size < HEADER or len(data) < HEADER:
        return f'not a writer ring (too short: {size} bytes)'
    if data[:len(MAGIC)] != MAGIC:
        return 'not a writer ring of this version (bad magic)'
    (capacity,) = _CAP.unpack_from(data, len(MAGIC))
    if capacity + HEADER != size:
        return f'capacity {capacity} does not match the file size {size}'
    head = _U64.unpack_from(data, _HEAD_AT)[0]
    tail = _U64.unpack_from(data, _TAIL_AT)[0]
    if head < tail:
        return f'head {head} is behind tail {tail}'
    if head - tail > capacity:
        return f'head {head} is more than the capacity {capacity} past tail {tail}'
    return ''


@dataclasses.dataclass
class Recovery:
    """What :func:`recover` read from a ring file: its records and what was wrong."""

    records: List[bytes]
    problem: str
    """What was wrong ('' when nothing was)."""
    skipped: int
    """Bytes of damaged frames skipped over."""
    in_order: bool
    """True when the records are in the order they were written (a sound header)."""


def recover(path: pathlib.Path, max_size: int, finder: Finder = no_finder) -> Recovery:
    """
    Read every intact record of the ring file at ``path``, damaged or not, without writing.

    With a sound header, the records between tail and head, in order (damaged ones
    skipped, :attr:`Ring.damage`); with a damaged one (bad magic, wrong size, head and tail
    out of step), every record the ``finder`` finds in the data area, in the file's order
    (the caller puts them back in order: they carry their entry IDs). StateFileError when the
    file must not be read (see :meth:`Ring.open`), or is larger than ``max_size`` bytes.
    """
    try:
        fd = open_private(path)
    except FileNotFoundError:
        return Recovery([], 'no such file', 0, True)
    try:
        size = os.fstat(fd).st_size
        if size > max_size:
            raise StateFileError(f'{path}: {size} bytes, more than a ring can be ({max_size})')
        if size == 0:
            return Recovery([], 'empty file', 0, True)
        mm = mmap.mmap(fd, size, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
    ring: Optional[Ring] = None
    try:
        problem = header_problem(mm, size)
        if not problem:
            ring = Ring(pathlib.Path(path), mm, size - HEADER, finder)
            records: List[bytes] = []
            position: Optional[int] = None
            while True:
                batch, position = ring.peek(4096, start=position)
                if not batch:
                    break
                records += batch
            damage = ring.damage
            found = (f'{damage.places} damaged record(s), the first at position '
                     f'{damage.first_at}') if damage else ''
            return Recovery(records, found, damage.skipped, True)
        records, skipped = _scan(mm, size, finder)
        return Recovery(records, problem, skipped, False)
    finally:
        if ring is not None:
            ring.close()  # its header view first, then the mapping
        else:
            mm.close()


def _scan(mm: mmap.mmap, size: int, finder: Finder) -> Tuple[List[bytes], int]:
    """Return every record the finder finds in the data area, and the bytes between them."""
    records: List[bytes] = []
    at = last_end = min(HEADER, size)
    skipped = 0
    while at + FRAME <= size:
        found = finder(mm, at, size)
        if found < 0 or found + FRAME > size:
            break
        (length,) = _LEN.unpack_from(mm, found)
        end = found + FRAME + length
        if end <= size:
            skipped += found - last_end
            records.append(mm[found + FRAME:end])
            at = last_end = end
        else:
            at = found + 1
    return records, skipped
