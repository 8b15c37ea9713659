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
A bounded, append-only journal of records on disk, read back in order (the mirror's spool).

Pure Python. Records go to segment files ``seg-<n>.jrn`` in one directory; each record is
framed as ``<length u32><crc32 u32><payload>``. A ``cursor`` file (replaced atomically) says
how far the records were consumed; segments wholly before it are deleted, and once every
record is consumed the directory is emptied.

Bound: the segment files together never exceed ``max_bytes``; ``append`` refuses what does
not fit (the caller counts and reports it) and keeps everything already stored, so the
journal always holds an unbroken, in-order prefix of what was spooled.

Disk full (or any write error): an append writes its records with unbuffered writes; when the
file system refuses part of them, the segment is cut back to the last whole record and
:class:`JournalWriteError` says how many were stored, so what is on disk always matches what
the journal counts and nothing accepted is lost. Reading and delivering need no space: a
cursor file that cannot be written is kept in memory (after a crash those records are sent
again and Redis refuses the duplicates).

Crash safety: a record torn by a crash (short or failing its CRC) at the end of the last
segment is cut off when the journal is opened again; corruption inside an older segment
ends that segment there, with an error naming the file and offset.
"""

import json
import logging
import os
import pathlib
import struct
import time
from typing import BinaryIO, List, Optional, Sequence, Tuple
import zlib

from unity_kernel_core.config.documents import loads_json
from unity_kernel_core.errors import UnityKernelError
from unity_kernel_core.paths import ensure_private_dir, StateDirError

_LOG = logging.getLogger('unity_kernel.journal')

MAGIC = b'UKJ1'
_FRAME = struct.Struct('<II')

Cursor = Tuple[int, int, int]
"""(segment number, byte offset in it, records consumed by this read)."""


class JournalError(UnityKernelError):
    """The journal directory cannot be used (permissions, a file that is not a journal)."""


class JournalWriteError(JournalError):
    """An append stored only ``stored`` of its records: the file system refused the rest."""

    def __init__(self, message: str, stored: int, errno: Optional[int]) -> None:
        super().__init__(message)
        self.stored = stored
        self.errno = errno


class _Segment:
    __slots__ = ('number', 'path', 'size', 'records')

    def __init__(self, number: int, path: pathlib.Path, size: int, records: int) -> None:
        self.number = number
        self.path = path
        self.size = size
        self.records = records


class Journal:
    """Bounded on-disk FIFO of byte records (one writer thread)."""

    def __init__(self, directory: pathlib.Path, max_bytes: int,
                 segment_bytes: int = 16 * 1024 * 1024, fsync: bool = False) -> None:
        self.directory = pathlib.Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = max(1024, min(segment_bytes, max_bytes))
        self.fsync = fsync
        try:
            ensure_private_dir(self.directory, 'journal directory')
        except StateDirError as exc:
            raise JournalError(str(exc)) from exc
        except OSError as exc:
            raise JournalError(f'cannot create journal directory {self.directory}: {exc}') \
                from exc
        self._segments: List[_Segment] = []
        self._cursor: Tuple[int, int] = (0, 0)
        self._file: Optional[BinaryIO] = None
        self.pending = 0
        self._last_offset: Optional[Tuple[int, int]] = None
        self._open()

    # -- state -----------------------------------------------------------------------------

    @property
    def size_bytes(self) -> int:
        """Return the bytes the segment files take on disk."""
        return sum(s.size for s in self._segments)

    def _seg_path(self, number: int) -> pathlib.Path:
        return self.directory / f'seg-{number:012d}.jrn'

    def _open(self) -> None:
        cursor_file = self.directory / 'cursor'
        if cursor_file.exists():
            try:
                data = loads_json(cursor_file.read_bytes()[:4096])
                self._cursor = (int(data['segment']), int(data['offset']))
            except (ValueError, KeyError, TypeError, OSError) as exc:
                _LOG.error('journal cursor %s is unreadable (%s): reading from the start',
                           cursor_file, exc)
        paths = sorted(self.directory.glob('seg-*.jrn'))
        for i, path in enumerate(paths):
            try:
                number = int(path.stem.split('-', 1)[1])
            except ValueError:
                raise JournalError(f'{path}: not a journal segment name') from None
            last = i == len(paths) - 1
            self._segments.append(self._scan(number, path, last))
        if self._segments and self._cursor[0] < self._segments[0].number:
            self._cursor = (self._segments[0].number, len(MAGIC))
        if self.pending:
            _LOG.warning('journal %s holds %d record(s) not yet delivered', self.directory,
                         self.pending)

    def _scan(self, number: int, path: pathlib.Path, last: bool) -> _Segment:
        """Validate a segment, cut a torn tail, count the records after the cursor."""
        data = path.read_bytes()
        if data[:len(MAGIC)] != MAGIC:
            if len(data) < len(MAGIC) and last:
                path.write_bytes(MAGIC)
                return _Segment(number, path, len(MAGIC), 0)
            raise JournalError(f'{path}: not a journal segment (bad magic)')
        offset = len(MAGIC)
        records = 0
        while offset < len(data):
            if offset + _FRAME.size > len(data):
                break
            length, crc = _FRAME.unpack_from(data, offset)
            body = data[offset + _FRAME.size:offset + _FRAME.size + length]
            if len(body) != length or zlib.crc32(body) != crc:
                break
            self._last_offset = (number, offset)
            if (number, offset) >= self._cursor:
                records += 1
            offset += _FRAME.size + length
        if offset < len(data):
            how = 'torn record at the end' if last else 'corrupt record'
            log = _LOG.warning if last else _LOG.error
            log('journal %s: %s at offset %d: cutting %d byte(s) off', path, how, offset,
                len(data) - offset)
            with open(path, 'r+b') as f:
                f.truncate(offset)
        self.pending += records
        return _Segment(number, path, offset, records)

    # -- writing ---------------------------------------------------------------------------

    def append(self, records: Sequence[bytes]) -> int:
        """
        Append records in order; return how many were stored (the rest did not fit).

        Raise JournalWriteError (with ``stored``) when the file system refused a write: the
        records before it are stored and counted, the file holds nothing after them.
        """
        stored = 0
        total = self.size_bytes
        i = 0
        while i < len(records):
            need = _FRAME.size + len(records[i])
            if total + need > self.max_bytes:
                break
            seg = self._writable(need, stored)
            # the records that fit in this segment, written in one go
            frames: List[bytes] = []
            ends: List[int] = []
            size = seg.size
            while i < len(records):
                record = records[i]
                need = _FRAME.size + len(record)
                if total + need > self.max_bytes or (
                        frames and size + need > self.segment_bytes):
                    break
                frames.append(_FRAME.pack(len(record), zlib.crc32(record)))
                frames.append(record)
                size += need
                total += need
                ends.append(size)
                i += 1
            written = self._write(seg, b''.join(frames), ends, stored)
            stored += written
        return stored

    def _write(self, seg: _Segment, blob: bytes, ends: List[int], stored_before: int) -> int:
        """Write one segment's share of an append; on a refused write, cut back and raise."""
        assert self._file is not None
        fd = self._file.fileno()
        start = seg.size
        done = 0
        try:
            while done < len(blob):
                done += os.write(fd, blob[done:] if done else blob)
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            if self.fsync:  # nothing of this write is known to be on disk
                done = 0
            whole = [end for end in ends if end - start <= done]
            keep = whole[-1] if whole else start
            try:
                os.ftruncate(fd, keep)
            except OSError:  # shrinking needs no space; if even that fails, close and rescan
                _LOG.error('journal %s: cannot cut back to %d bytes', seg.path, keep)
            self._account(seg, start, whole)
            stored = stored_before + len(whole)
            raise JournalWriteError(f'cannot write the journal {seg.path}: {exc.strerror} '
                                    f'({stored} record(s) of this append stored)', stored,
                                    exc.errno) from exc
        self._account(seg, start, ends)
        return len(ends)

    def _account(self, seg: _Segment, start: int, ends: List[int]) -> None:
        if not ends:
            return
        previous = ([start] + ends)[:-1]
        self._last_offset = (seg.number, previous[-1])
        seg.size = ends[-1]
        seg.records += len(ends)
        self.pending += len(ends)

    def _writable(self, need: int, stored_before: int = 0) -> _Segment:
        seg = self._segments[-1] if self._segments else None
        if seg is None or (seg.size + need > self.segment_bytes and seg.size > len(MAGIC)):
            self._close_file()
            number = seg.number + 1 if seg is not None else max(1, self._cursor[0])
            path = self._seg_path(number)
            try:
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                               'wb') as f:
                    f.write(MAGIC)
            except OSError as exc:
                path.unlink(missing_ok=True)
                raise JournalWriteError(f'cannot start journal segment {path}: {exc.strerror}',
                                        stored_before, exc.errno) from exc
            seg = _Segment(number, path, len(MAGIC), 0)
            self._segments.append(seg)
            if len(self._segments) == 1:
                self._cursor = (number, len(MAGIC))
        if self._file is None:
            self._file = open(seg.path, 'ab', buffering=0)
        return seg

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- reading ---------------------------------------------------------------------------

    def read(self, max_records: int) -> Tuple[List[bytes], Cursor]:
        """Return up to ``max_records`` records from the cursor on, and the cursor after them."""
        out: List[bytes] = []
        number, offset = self._cursor
        for seg in self._segments:
            if seg.number < number or len(out) >= max_records:
                continue
            if seg.number > number:
                number, offset = seg.number, len(MAGIC)
            with open(seg.path, 'rb') as f:
                f.seek(offset)
                while len(out) < max_records and offset < seg.size:
                    frame = f.read(_FRAME.size)
                    length, crc = _FRAME.unpack(frame)
                    body = f.read(length)
                    if len(body) != length or zlib.crc32(body) != crc:
                        raise JournalError(f'{seg.path}: record at offset {offset} changed '
                                           'on disk since it was written')
                    out.append(body)
                    offset += _FRAME.size + length
        return out, (number, offset, len(out))

    def commit(self, cursor: Cursor) -> None:
        """Mark the records returned with ``cursor`` as delivered."""
        number, offset, count = cursor
        self._cursor = (number, offset)
        self.pending = max(0, self.pending - count)
        if self.pending == 0:
            self.clear()
            return
        while len(self._segments) > 1 and (
                self._segments[0].number < number
                or (self._segments[0].number == number
                    and offset >= self._segments[0].size)):
            old = self._segments.pop(0)
            old.path.unlink(missing_ok=True)
        tmp = self.directory / 'cursor.tmp'
        try:
            tmp.write_text(json.dumps({'segment': number, 'offset': offset}))
            os.replace(tmp, self.directory / 'cursor')
        except OSError as exc:
            # delivered is delivered: keep the cursor in memory; after a crash these records
            # are sent again and Redis refuses them as duplicates
            tmp.unlink(missing_ok=True)
            _LOG.warning('journal %s: cannot save the cursor (%s): kept in memory',
                         self.directory, exc.strerror)

    def last_record(self) -> Optional[bytes]:
        """Return the newest record still stored, or None when the journal is empty."""
        if self._last_offset is None or not self.pending:
            return None
        number, offset = self._last_offset
        with open(self._seg_path(number), 'rb') as f:
            f.seek(offset)
            length, _crc = _FRAME.unpack(f.read(_FRAME.size))
            return f.read(length)

    def clear(self) -> None:
        """Drop every record and file (everything was delivered)."""
        self._close_file()
        for seg in self._segments:
            seg.path.unlink(missing_ok=True)
        (self.directory / 'cursor').unlink(missing_ok=True)
        next_number = (self._segments[-1].number + 1) if self._segments else self._cursor[0]
        self._segments = []
        self._cursor = (max(1, next_number), len(MAGIC))
        self._last_offset = None
        self.pending = 0

    def quarantine(self) -> pathlib.Path:
        """Move every file aside into ``quarantine-<ns>/`` (unreadable records), start empty."""
        self._close_file()
        target = self.directory / f'quarantine-{time.time_ns()}'
        target.mkdir()
        for seg in self._segments:
            if seg.path.exists():
                os.replace(seg.path, target / seg.path.name)
        self._segments = []
        self.clear()
        return target

    def close(self) -> None:
        """Close the open segment (records stay on disk for the next open)."""
        self._close_file()
