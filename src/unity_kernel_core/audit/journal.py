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

Pure Python. Records go to segment files ``seg-<n>.jrn`` in one directory (taken in the order
of their numbers); a segment starts with :data:`MAGIC` and each record is framed as
``<RECORD_MAGIC 4 bytes><length u32><crc32 u32><payload>``. A ``cursor`` file (replaced
atomically) says how far the records were consumed; segments wholly before it are deleted,
and once every record is consumed the directory is emptied. Segments of the earlier format
(``UKJ1``, frames without the record magic) are still read; new records go to new segments.

Bound: the segment files together never exceed ``max_bytes``; ``append`` refuses what does
not fit (the caller counts and reports it) and keeps everything already stored, so the
journal always holds an unbroken, in-order prefix of what was spooled.

Disk full (or any write error): an append writes its records with unbuffered writes; when the
file system refuses part of them, the segment is cut back to the last whole record and
:class:`JournalWriteError` says how many were stored, so what is on disk always matches what
the journal counts and nothing accepted is lost. Reading and delivering need no space: a
cursor file that cannot be written is kept in memory (after a crash those records are sent
again and Redis refuses the duplicates).

Files: opened without following a symlink, only when they are this user's regular files and
not writable by group or others; new ones with ``O_EXCL``
(:mod:`unity_kernel_core.common.files`). Reads are bounded: a segment larger than the
journal's bound cannot be one.

Damage never stops the journal from opening and never loses an intact record: a record torn
by a crash at the end of the last segment is cut off (a WARNING). Anything else (a frame
that does not check out in the middle of a segment, a file that is no segment, a symlink, a
directory or another user's file named like one, an unreadable cursor) is moved aside to
``<name>.damaged-<time>`` with one ERROR naming the file and what was recovered: a damaged
segment's every intact record, before and after the damage (found again by the record
magic and checked by the CRC), is kept in a new segment of the same number.
"""

import dataclasses
import json
import logging
import mmap
import os
import pathlib
import re
import struct
from typing import BinaryIO, Iterator, List, Optional, Sequence, Tuple, Union
import zlib

from unity_kernel_core.common.files import (create_private, open_private, private_subdir,
                                            quarantine, read_private, write_private)
from unity_kernel_core.config.documents import loads_json
from unity_kernel_core.errors import StateFileError, UnityKernelError

_LOG = logging.getLogger('unity_kernel.journal')

MAGIC = b'UKJ2'
MAGIC_V1 = b'UKJ1'
RECORD_MAGIC = b'\xe5UKj'
_FRAME = struct.Struct('<4sII')
_FRAME_V1 = struct.Struct('<II')
_SEGMENT_NAME = re.compile(r'seg-(\d{1,19})\.jrn')
_CURSOR_MAX = 4096
WHAT = 'audit journal'

Cursor = Tuple[int, int, int]
"""(segment number, byte offset in it, records consumed by this read)."""


class JournalError(UnityKernelError):
    """The journal directory cannot be used (permissions, a record that changed on disk)."""


class JournalWriteError(JournalError):
    """An append stored only ``stored`` of its records: the file system refused the rest."""

    def __init__(self, message: str, stored: int, errno: Optional[int]) -> None:
        super().__init__(message)
        self.stored = stored
        self.errno = errno


# -- reading a segment's bytes ----------------------------------------------------------------

Data = Union[bytes, bytearray, mmap.mmap]


@dataclasses.dataclass(frozen=True)
class Frame:
    """One intact record in a segment: where its frame starts, its payload's bounds."""

    offset: int
    start: int
    end: int


@dataclasses.dataclass(frozen=True)
class Gap:
    """Bytes of a segment that are no intact record: ``start`` to ``end``."""

    start: int
    end: int


def scan(data: Data) -> Iterator[Union[Frame, Gap]]:
    """
    Yield the intact records and the damaged stretches of a segment's bytes, in order.

    A segment of this format resyncs after damage at the next record magic whose frame
    checks out (length inside the data, CRC of the payload); one of the earlier format
    (``UKJ1``) cannot, and everything after its first damaged frame is one :class:`Gap`.
    Bytes that are no segment at all (no magic) are scanned as this format from the start.
    """
    size = len(data)
    version1 = data[:len(MAGIC_V1)] == MAGIC_V1
    at = len(MAGIC) if data[:len(MAGIC)] in (MAGIC, MAGIC_V1) else 0
    if at == 0 and size:
        found = _next_frame(data, 0)
        yield Gap(0, found)
        at = found
    while at < size:
        frame = (_frame_v1 if version1 else _frame_v2)(data, at)
        if frame is not None:
            yield frame
            at = frame.end
            continue
        found = size if version1 else _next_frame(data, at + 1)
        yield Gap(at, found)
        at = found


def _frame_v2(data: Data, at: int) -> Optional[Frame]:
    if at + _FRAME.size > len(data):
        return None
    magic, length, crc = _FRAME.unpack_from(data, at)
    start = at + _FRAME.size
    end = start + length
    if magic != RECORD_MAGIC or end > len(data) or zlib.crc32(data[start:end]) != crc:
        return None
    return Frame(at, start, end)


def _frame_v1(data: Data, at: int) -> Optional[Frame]:
    if at + _FRAME_V1.size > len(data):
        return None
    length, crc = _FRAME_V1.unpack_from(data, at)
    start = at + _FRAME_V1.size
    end = start + length
    if end > len(data) or zlib.crc32(data[start:end]) != crc:
        return None
    return Frame(at, start, end)


def _next_frame(data: Data, at: int) -> int:
    """Return where the next intact frame of this format starts after ``at`` (or the end)."""
    size = len(data)
    while at < size:
        found = data.find(RECORD_MAGIC, at)
        if found < 0:
            return size
        if _frame_v2(data, found) is not None:
            return found
        at = found + 1
    return size


def frame(record: bytes) -> bytes:
    """Return a record framed for a segment of this format."""
    return _FRAME.pack(RECORD_MAGIC, len(record), zlib.crc32(record)) + record


# -- the journal ------------------------------------------------------------------------------


class _Segment:
    __slots__ = ('number', 'path', 'size', 'records', 'version1')

    def __init__(self, number: int, path: pathlib.Path, size: int, records: int,
                 version1: bool = False) -> None:
        self.number = number
        self.path = path
        self.size = size
        self.records = records
        self.version1 = version1


class Journal:
    """Bounded on-disk FIFO of byte records (one writer thread)."""

    def __init__(self, directory: pathlib.Path, max_bytes: int,
                 segment_bytes: int = 16 * 1024 * 1024, fsync: bool = False) -> None:
        self.directory = pathlib.Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = max(1024, min(segment_bytes, max_bytes))
        self.fsync = fsync
        try:
            private_subdir(self.directory, 'audit journal directory')
        except (OSError, StateFileError) as exc:
            raise JournalError(f'cannot use the journal directory {self.directory}: {exc}') \
                from exc
        self._segments: List[_Segment] = []
        self._cursor: Tuple[int, int] = (0, 0)
        self._file: Optional[BinaryIO] = None
        self.pending = 0
        self.damaged = 0
        """Damaged places found so far (each moved aside; the records in them are lost)."""
        self._last_offset: Optional[Tuple[int, int]] = None
        self._cursor_seen = False
        self._open()

    # -- state -----------------------------------------------------------------------------

    @property
    def size_bytes(self) -> int:
        """Return the bytes the segment files take on disk."""
        return sum(s.size for s in self._segments)

    def _seg_path(self, number: int) -> pathlib.Path:
        return self.directory / f'seg-{number:012d}.jrn'

    def _open(self) -> None:
        self._cursor = self._read_cursor()
        found: List[Tuple[int, pathlib.Path]] = []
        for path in self.directory.glob('seg-*.jrn'):
            match = _SEGMENT_NAME.fullmatch(path.name)
            if match is None:
                quarantine(path, WHAT, 'not a segment name', 'nothing read from it')
                self.damaged += 1
                continue
            found.append((int(match.group(1)), path))
        found.sort()
        self._cursor_seen = False
        for i, (number, path) in enumerate(found):
            segment = self._scan(number, path, i == len(found) - 1)
            if segment is not None:
                self._segments.append(segment)
        first = self._segments[0].number if self._segments else None
        if first is not None and self._cursor[0] < first:
            self._cursor = (first, len(MAGIC))
        elif first is not None and not self._cursor_seen:  # inside no record, or past all
            quarantine(self.directory / 'cursor', WHAT, f'cursor {self._cursor} is at no '
                       'record of the journal', 'reading from the first record (those '
                       'delivered already are refused by Redis as duplicates)')
            self.damaged += 1
            self._cursor = (0, 0)
            self._segments, self.pending, self._last_offset = [], 0, None
            self._open()
            return
        if self.pending:
            _LOG.warning('journal %s holds %d record(s) not yet delivered', self.directory,
                         self.pending)

    def _read_cursor(self) -> Tuple[int, int]:
        cursor_file = self.directory / 'cursor'
        try:
            data = loads_json(read_private(cursor_file, _CURSOR_MAX))
            cursor = (int(data['segment']), int(data['offset']))
            if min(cursor) < 0:
                raise ValueError(f'a negative position {cursor}')
            return cursor
        except FileNotFoundError:
            return (0, 0)
        except (ValueError, KeyError, TypeError, StateFileError) as exc:
            quarantine(cursor_file, WHAT, f'cursor unreadable ({exc})',
                       'reading from the first record (those delivered already are refused '
                       'by Redis as duplicates)')
            self.damaged += 1
            return (0, 0)

    def _scan(self, number: int, path: pathlib.Path, last: bool) -> Optional[_Segment]:
        """Check a segment: count its records after the cursor; cut a torn tail; repair."""
        try:
            fd = open_private(path)
        except (OSError, StateFileError) as exc:
            quarantine(path, WHAT, str(exc).split(': ', 1)[-1], 'nothing read from it')
            self.damaged += 1
            return None
        try:
            size = os.fstat(fd).st_size
            if size > self.max_bytes + len(MAGIC):
                os.close(fd)
                quarantine(path, WHAT, f'{size} bytes: larger than the journal can be '
                           f'({self.max_bytes})', 'nothing read from it')
                self.damaged += 1
                return None
            if size < len(MAGIC):
                head = os.read(fd, size)
                os.close(fd)
                return self._short(number, path, head, last)
            data = mmap.mmap(fd, size, prot=mmap.PROT_READ)
        except OSError as exc:
            os.close(fd)
            quarantine(path, WHAT, f'unreadable ({exc.strerror})', 'nothing read from it')
            self.damaged += 1
            return None
        os.close(fd)
        try:
            return self._check(number, path, data, last)
        finally:
            data.close()

    def _short(self, number: int, path: pathlib.Path, head: bytes,
               last: bool) -> Optional[_Segment]:
        """Handle a file too short for a segment's magic: torn when the last, else damaged."""
        if last and MAGIC.startswith(head):  # a crash right after the file was made
            _LOG.warning('journal %s: torn at its start (a crash while making it): removed',
                         path)
            path.unlink()
            return None
        quarantine(path, WHAT, f'{len(head)} byte(s): too short for a segment',
                   'no record in it')
        self.damaged += 1
        return None

    def _check(self, number: int, path: pathlib.Path, data: mmap.mmap,
               last: bool) -> Optional[_Segment]:
        version1 = data[:len(MAGIC)] == MAGIC_V1
        records = 0
        gaps: List[Gap] = []
        end = len(MAGIC)
        last_offset = None
        for item in scan(data):
            if isinstance(item, Gap):
                gaps.append(item)
                continue
            if (number, item.offset) >= self._cursor:
                records += 1
            self._cursor_seen = self._cursor_seen or (number, item.offset) == self._cursor
            last_offset = item.offset
            end = item.end
        self._cursor_seen = self._cursor_seen or (number, end) == self._cursor
        torn = last and len(gaps) == 1 and gaps[0].end == len(data) and gaps[0].start > 0 \
            and data[:len(MAGIC)] in (MAGIC, MAGIC_V1)
        if torn or (not gaps and len(data) >= len(MAGIC)):
            if torn:
                _LOG.warning('journal %s: torn record at the end (a crash while writing): '
                             'cutting %d byte(s) off at offset %d', path, len(data) - end, end)
                with open(path, 'r+b') as f:
                    f.truncate(end)
            if last_offset is not None:
                self._last_offset = (number, last_offset)
            self.pending += records
            return _Segment(number, path, end, records, version1)
        return self._repair(number, path, data, gaps)

    def _repair(self, number: int, path: pathlib.Path, data: Data,
                gaps: List[Gap]) -> Optional[_Segment]:
        """Write the intact records of a damaged segment to a new one; move it aside."""
        fresh = path.with_name(f'.{path.name}.repair')
        fresh.unlink(missing_ok=True)
        kept = after = 0
        records = 0
        last_offset = None
        cursor_segment, cursor_offset = self._cursor
        new_cursor: Optional[int] = None
        try:
            with os.fdopen(create_private(fresh, os.O_WRONLY), 'wb') as out:
                out.write(MAGIC)
                written = len(MAGIC)
                for item in scan(data):
                    if isinstance(item, Gap):
                        continue
                    if number == cursor_segment and new_cursor is None and \
                            item.offset >= cursor_offset:
                        new_cursor = written
                        self._cursor_seen = True
                    if (number, item.offset) >= self._cursor:
                        records += 1
                    last_offset = written
                    out.write(frame(bytes(data[item.start:item.end])))
                    written += _FRAME.size + item.end - item.start
                    kept += 1
                    after += item.offset > gaps[0].start
                if self.fsync:
                    out.flush()
                    os.fsync(out.fileno())
        except OSError as exc:  # no room to repair: leave the segment, its records unread
            fresh.unlink(missing_ok=True)
            quarantine(path, WHAT, f'damaged, and no room to repair it ({exc.strerror})',
                       'nothing recovered yet: its intact records stay in the moved file')
            self.damaged += 1
            return None
        where = ', '.join(f'{g.start}-{g.end}' for g in gaps[:5]) + \
            (f' and {len(gaps) - 5} more' if len(gaps) > 5 else '')
        self.damaged += len(gaps)
        if not kept:
            fresh.unlink()
            quarantine(path, WHAT, f'damaged at bytes {where}', 'no intact record in it')
            return None
        quarantine(path, WHAT, f'damaged at bytes {where}',
                   f'{kept} intact record(s) recovered ({after} after the damage) into a new '
                   f'{path.name}')
        os.rename(fresh, path)
        if number == cursor_segment:
            self._cursor = (number, new_cursor if new_cursor is not None else written)
            self._cursor_seen = True
        if last_offset is not None:
            self._last_offset = (number, last_offset)
        self.pending += records
        return _Segment(number, path, written, records)

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
                frames.append(_FRAME.pack(RECORD_MAGIC, len(record), zlib.crc32(record)))
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
        if seg is None or seg.version1 or (
                seg.size + need > self.segment_bytes and seg.size > len(MAGIC)):
            self._close_file()
            number = seg.number + 1 if seg is not None else max(1, self._cursor[0])
            path = self._seg_path(number)
            try:
                fd = create_private(path, os.O_WRONLY)
            except FileExistsError:  # a stray file where the next segment goes
                quarantine(path, WHAT, 'in the way of the next segment', 'nothing read from '
                           'it')
                self.damaged += 1
                return self._writable(need, stored_before)
            except OSError as exc:
                raise JournalWriteError(f'cannot start journal segment {path}: {exc.strerror}',
                                        stored_before, exc.errno) from exc
            try:
                with os.fdopen(fd, 'wb') as f:
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
            try:
                self._file = os.fdopen(open_private(seg.path, os.O_WRONLY | os.O_APPEND), 'ab',
                                       buffering=0)
            except (OSError, StateFileError) as exc:
                raise JournalWriteError(f'cannot open journal segment {seg.path}: {exc}',
                                        stored_before, getattr(exc, 'errno', None)) from exc
        return seg

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- reading ---------------------------------------------------------------------------

    def read(self, max_records: int) -> Tuple[List[bytes], Cursor]:
        """
        Return up to ``max_records`` records from the cursor on, and the cursor after them.

        JournalError when a record changed on disk since it was written (:meth:`repair`
        then keeps every intact record and moves the damaged segment aside).
        """
        out: List[bytes] = []
        number, offset = self._cursor
        for seg in self._segments:
            if seg.number < number or len(out) >= max_records:
                continue
            if seg.number > number:
                number, offset = seg.number, len(MAGIC)
            parse = _frame_v1 if seg.version1 else _frame_v2
            head_struct = _FRAME_V1 if seg.version1 else _FRAME
            try:
                fd = open_private(seg.path)
            except (OSError, StateFileError) as exc:
                raise JournalError(f'{seg.path}: cannot read it ({exc})') from None
            with os.fdopen(fd, 'rb') as f:
                f.seek(offset)
                while len(out) < max_records and offset < seg.size:
                    head = f.read(head_struct.size)
                    length = head_struct.unpack(head)[-2] \
                        if len(head) == head_struct.size else 0
                    body = f.read(length) \
                        if offset + head_struct.size + length <= seg.size else b''
                    if parse(head + body, 0) is None:
                        raise JournalError(f'{seg.path}: record at offset {offset} changed '
                                           'on disk since it was written')
                    out.append(body)
                    offset += head_struct.size + length
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
        try:
            write_private(self.directory / 'cursor',
                          json.dumps({'segment': number, 'offset': offset}).encode())
        except OSError as exc:
            # delivered is delivered: keep the cursor in memory; after a crash these records
            # are sent again and Redis refuses them as duplicates
            _LOG.warning('journal %s: cannot save the cursor (%s): kept in memory',
                         self.directory, exc.strerror)

    def repair(self) -> int:
        """
        Check every segment again after a read found a record changed on disk.

        Damaged segments are moved aside and their intact records kept (see the module
        docstring). Return how many pending records were lost.
        """
        self._close_file()
        before = self.pending
        self._segments = []
        self.pending = 0
        self._last_offset = None
        self._open()
        return max(0, before - self.pending)

    def last_record(self) -> Optional[bytes]:
        """Return the newest record still stored, or None when the journal is empty."""
        if self._last_offset is None or not self.pending:
            return None
        number, offset = self._last_offset
        version1 = any(s.version1 for s in self._segments if s.number == number)
        frame_struct = _FRAME_V1 if version1 else _FRAME
        try:
            fd = open_private(self._seg_path(number))
        except (OSError, StateFileError):
            return None
        with os.fdopen(fd, 'rb') as f:
            f.seek(offset)
            head = f.read(frame_struct.size)
            if len(head) < frame_struct.size:
                return None
            length = frame_struct.unpack(head)[-2]
            body = f.read(min(length, self.max_bytes))
            return body if len(body) == length else None

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
        """Move every segment aside into ``quarantine-<ns>/`` and start empty."""
        import time
        self._close_file()
        target = self.directory / f'quarantine-{time.time_ns()}'
        target.mkdir(mode=0o700)
        for seg in self._segments:
            if os.path.lexists(seg.path):
                os.replace(seg.path, target / seg.path.name)
        self._segments = []
        self.clear()
        return target

    def close(self) -> None:
        """Close the open segment (records stay on disk for the next open)."""
        self._close_file()
