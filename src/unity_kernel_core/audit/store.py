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
Read the audit trail back from Redis: ranges across topic streams in global order, dead letters.

Used by ``unity-kernel replay|export|dlq``. Ranges are given as stream IDs (``<ms>-<seq>``),
milliseconds since the epoch, ISO 8601 times (``2026-11-25T08:00:00``, local time unless an
offset is given), or ``-`` / ``+`` for the start / end of the streams.
"""

import dataclasses
import datetime
import heapq
import re
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import redis

from unity_kernel_core.audit.record import (AuditEntryError, AuditError, AuditRecord,
                                            ID_PART_MAX, KERNEL_DEAD_LETTERS, parse_id,
                                            StreamKeys, text_fields, text_of)
from unity_kernel_core.audit.redis_connection import Client, node_for
from unity_kernel_core.bus.patterns import compile_pattern

_ID = re.compile(r'^\d+(-\d+)?$')
PAGE = 1000
"""Most entries one XRANGE asks for."""
PAGE_BYTES = 16 << 20
"""About how many bytes of entries one XRANGE asks for, once the entries' size is known."""


def parse_bound(text: str, end: bool = False) -> str:
    """Return the stream ID bound for a range limit given as ID, epoch ms, ISO time, - or +."""
    value = text.strip()
    if value in ('-', '+'):
        return value
    if _ID.match(value):
        try:
            parse_id(value)
        except AuditError as exc:
            raise AuditError(f'bad range limit: {exc}') from None
        if '-' in value:
            return value
        return f'{value}-{2**64 - 1}' if end else f'{value}-0'
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise AuditError(f'bad range limit {text!r}: expected a stream ID (<ms>-<seq>), '
                         'milliseconds since the epoch, an ISO 8601 time, - or +') from None
    if when.tzinfo is None:
        when = when.astimezone()
    ms = max(0, int(when.timestamp() * 1000))  # before 1970: from the start
    return f'{ms}-{2**64 - 1}' if end else f'{ms}-0'


@dataclasses.dataclass
class BadEntry:
    """An entry that could not be read (reported, then skipped)."""

    key: str
    entry_id: str
    error: str


KeyName = Union[str, bytes]
"""A Redis key as read back: text, or the raw bytes of a key that is not UTF-8."""


class AuditStore:
    """Read access to one kernel's (one robot's) audit trail, on one server or a cluster."""

    def __init__(self, client: Client, keys: StreamKeys) -> None:
        self.client = client
        self.keys = keys

    def topics(self, pattern: str = '/**',
               on_bad: Optional[Callable[[BadEntry], None]] = None) -> List[str]:
        """
        Return the mirrored topics matching ``pattern``, sorted.

        A member of the stream set that is not UTF-8 text is passed to ``on_bad`` (shown
        with backslash escapes) and skipped; one that is no topic stream key is skipped.
        """
        regex = compile_pattern(pattern)
        found = []
        for raw in self.client.smembers(self.keys.streams):
            try:
                key = raw.decode('utf-8') if isinstance(raw, bytes) else str(raw)
            except UnicodeDecodeError:
                if on_bad is not None:
                    shown = text_of(raw)
                    on_bad(BadEntry(shown, '', f'{shown}: stream key is not UTF-8 text'))
                continue
            try:
                topic = self.keys.topic_of(key)
            except AuditError:
                continue
            if regex.match(topic):
                found.append(topic)
        return sorted(found)

    def count(self, start: str = '-', end: str = '+', pattern: str = '/**') -> Optional[int]:
        """Return how many entries ``read`` would go through, when cheap to know (else None)."""
        if (start, end) != ('-', '+'):
            return None
        total = 0
        for topic in self.topics(pattern):
            try:
                total += int(self.client.xlen(self.keys.topic(topic)))
            except redis.ResponseError:  # no stream: read reports it
                continue
        return total

    def _pages(self, key: KeyName, start: str, end: str) -> Iterator[Tuple[str, Any]]:
        """
        Yield the entries of ``key`` in ``[start, end]``, one XRANGE page at a time.

        A page holds at most ``PAGE`` entries and, once entries are seen to be large, about
        ``PAGE_BYTES`` of payloads (``cdr``): the count shrinks so that a stream of camera
        frames costs the same memory as one of small events.
        """
        cursor, count = start, PAGE
        while True:
            page: Any = self.client.xrange(key, min=cursor, max=end, count=count)
            size = 0
            for entry_id, fields in page:
                cdr = fields.get(b'cdr')
                size += len(cdr) if isinstance(cdr, bytes) else 0
                yield entry_id.decode() if isinstance(entry_id, bytes) else entry_id, fields
            if len(page) < count:
                return
            ms, seq = parse_id(page[-1][0])
            if seq >= ID_PART_MAX:
                if ms >= ID_PART_MAX:
                    return
                ms, seq = ms + 1, -1
            cursor = f'{ms}-{seq + 1}'
            count = max(1, min(PAGE, count * PAGE_BYTES // max(size, 1)))

    def _records(self, topic: str, lo: str, hi: str,
                 on_bad: Optional[Callable[[BadEntry], None]]
                 ) -> Iterator[Tuple[Tuple[int, int], AuditRecord]]:
        """Yield ``(id, record)`` of one topic's stream in ``[lo, hi]``; bad entries to on_bad."""
        key = self.keys.topic(topic)
        pages = self._pages(key, lo, hi)
        while True:
            try:
                entry_id, fields = next(pages)
            except StopIteration:
                return
            except redis.ResponseError as exc:  # e.g. WRONGTYPE: the key is no stream
                if on_bad is None:
                    raise AuditError(f'{key}: {exc}') from None
                on_bad(BadEntry(key, '', f'{key}: cannot read it as a stream ({exc})'))
                return
            try:
                record = AuditRecord.from_entry(entry_id, fields, where=key)
            except AuditEntryError as exc:
                if on_bad is None:
                    raise
                on_bad(BadEntry(key, entry_id, str(exc)))
                continue
            yield parse_id(entry_id), record

    def read(self, start: str = '-', end: str = '+', pattern: str = '/**',
             on_bad: Optional[Callable[[BadEntry], None]] = None) -> Iterator[AuditRecord]:
        """
        Yield the records in ``[start, end]`` of every topic matching ``pattern``, in order.

        Topic streams are merged by entry ID (the kernel's global order), each read a page at
        a time: memory grows with the number of topics, never with the length of the range.
        A malformed entry is passed to ``on_bad`` and skipped; without ``on_bad`` it raises
        AuditEntryError.
        """
        lo, hi = parse_bound(start), parse_bound(end, end=True)
        merged = heapq.merge(*(self._records(t, lo, hi, on_bad)
                               for t in self.topics(pattern, on_bad)),
                             key=lambda pair: pair[0])
        for _key, record in merged:
            yield record

    def first_records(self, start: str = '-', end: str = '+',
                      pattern: str = '/**') -> Iterator[AuditRecord]:
        """Yield the first readable record of each topic in ``[start, end]`` (its type)."""
        lo, hi = parse_bound(start), parse_bound(end, end=True)
        for topic in self.topics(pattern):
            try:
                yield next(self._records(topic, lo, hi, lambda _bad: None))[1]
            except StopIteration:
                continue

    # -- dead letters ----------------------------------------------------------------------

    def dead_letter_streams(self, name: Optional[str] = None) -> Dict[str, KeyName]:
        """
        Return the dead-letter streams as ``{name: key}``, the kernel's (``kernel``) first.

        Every stream ``P:deadletters`` (the kernel's) and ``P:<name>:deadletters`` (e.g. the
        LLM bridge's, ``llm``) counts; ``name`` selects one of them. A key that is not UTF-8
        is kept as its bytes, its name shown with backslash escapes.
        """
        if name is not None:
            return {name: self.keys.dead_letter_stream(name)}
        found: Dict[str, KeyName] = {KERNEL_DEAD_LETTERS: self.keys.dead_letters}
        match = f'{self.keys.base}:*:deadletters'  # no glob characters in prefix or robot id
        # a robot's keys share one cluster slot: scanning the node serving it finds them all
        node = node_for(self.client, self.keys.meta)
        for raw in sorted(node.scan_iter(match=match, _type='stream')):
            try:
                name = self.keys.dead_letter_name(text_of(raw))
            except AuditError:  # P::deadletters: no name
                continue
            try:
                found[name] = raw.decode('utf-8') if isinstance(raw, bytes) else str(raw)
            except UnicodeDecodeError:
                found[name] = raw
        return found

    def dead_letters(self, count: Optional[int] = None,
                     stream: Optional[str] = None) -> Iterator[Dict[str, str]]:
        """
        Yield dead letters as text fields plus ``id`` and ``stream`` (no payload).

        Oldest first within each stream, the kernel's stream first; ``count`` limits each
        stream, ``stream`` selects one (see dead_letter_streams). Streams are read a page at
        a time; a field that is not UTF-8 is shown with backslash escapes.
        """
        for name, key in self.dead_letter_streams(stream).items():
            for n, (entry_id, fields) in enumerate(self._pages(key, '-', '+')):
                if count is not None and n >= count:
                    break
                row = text_fields(fields)
                row['id'] = entry_id
                row['stream'] = name
                yield row

    def _find(self, entry_id: str, stream: Optional[str]) -> List[Tuple[KeyName, Any]]:
        """Return ``(key, entry)`` of each dead-letter stream holding ``entry_id``."""
        parse_id(entry_id)
        found: List[Tuple[KeyName, Any]] = []
        for key in self.dead_letter_streams(stream).values():
            entries: Any = self.client.xrange(key, min=entry_id, max=entry_id)
            found += [(key, entries[0])] if entries else []
        if len(found) > 1:
            raise AuditError(f'dead letter {entry_id} is in more than one stream '
                             f'({", ".join(text_of(key) for key, _e in found)}): give --stream')
        return found

    def dead_letter(self, entry_id: str, stream: Optional[str] = None) -> AuditRecord:
        """Return the event held by one dead letter; AuditError when there is none."""
        found = self._find(entry_id, stream)
        if not found:
            keys = ', '.join(text_of(k) for k in self.dead_letter_streams(stream).values())
            raise AuditError(f'no dead letter {entry_id} in {keys}')
        key, (eid, fields) = found[0]
        return AuditRecord.from_entry(eid, fields, where=text_of(key))

    def drop_dead_letters(self, entry_ids: List[str], stream: Optional[str] = None) -> int:
        """Delete dead letters by ID; return how many existed."""
        for entry_id in entry_ids:
            parse_id(entry_id)
        return sum(int(self.client.xdel(key, entry_id))
                   for entry_id in entry_ids for key, _e in self._find(entry_id, stream))

    def drop_all_dead_letters(self, stream: Optional[str] = None) -> int:
        """Delete every dead letter (of one stream), a page at a time; return how many."""
        dropped = 0
        for key in self.dead_letter_streams(stream).values():
            ids: List[str] = []
            for entry_id, _fields in self._pages(key, '-', '+'):
                ids.append(entry_id)
                if len(ids) >= PAGE:
                    dropped += int(self.client.xdel(key, *ids))
                    ids.clear()
            if ids:
                dropped += int(self.client.xdel(key, *ids))
        return dropped
