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
The entry encoder: bus events and dead letters into stream entries, for both writers.

One :class:`EntryEncoder` per writer issues the entry IDs (one :class:`IdClock` for the topic
streams, one for the dead letters), decides per topic whether it is mirrored (the topic
rules), takes the event's CDR and makes the entry with :func:`record.event_fields` (or
:func:`record.dead_letter_fields`).

The thread writer encodes a batch of queued items at once (:meth:`EntryEncoder.encode`).
The writer process is fed through the shared-memory ring: the kernel's tap issues the ID and
packs a ring record (per topic a :class:`TopicSpec`: :meth:`EntryEncoder.topic_spec`), and the
writer process turns the records back into entries (:class:`RingDecoder`).

A ring record is either an event, ``<EVENT_HEAD><topic><type><cdr>`` with the head
``kind, tier, topic length, type length, cdr length, seq, stamp_ns, ID ms, ID seq``
(:data:`EVENT_HEAD`, kind :data:`KIND_EVENT`), or a complete entry, ``<KIND_ENTRY><the
journal record of a StreamEntry>`` (dead letters: rare, so the simple codec). Where a ring
is damaged, :func:`find_record` finds where the next record starts by these heads.
"""

import logging
import mmap
import re
import struct
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple, Union

from unity_kernel_core.audit.counters import WriterCounts
from unity_kernel_core.audit.record import (AuditError, dead_letter_fields, event_fields,
                                            IdClock, StreamEntry, StreamKeys)
from unity_kernel_core.audit.tap_queue import Item
from unity_kernel_core.bus.event_bus import DeadLetter
from unity_kernel_core.bus.events import Event, Tier
from unity_kernel_core.config.kernel_config import TopicRoutes

_LOG = logging.getLogger('unity_kernel.mirror')

EVENT_HEAD = struct.Struct('<BBHHIQQQQ')
"""The head of an event's ring record (see the module docstring)."""
KIND_EVENT = 0
KIND_ENTRY = 1
_TIER_NAMES = tuple(t.name for t in Tier)
_SPECS_MAX = 65536
_MALFORMED_LOGGED = 3

RecordHead = Callable[[Event, int], bytes]
"""``(event, cdr length)`` -> the event's ring record up to its CDR, with its entry ID issued."""

Id = Tuple[int, int]


_RECORD_START = re.compile(rb'(?s)(?=.{4}(?:\x00[\x00-\x04].{40}/|\x01.{4}\{"k":))')
"""A ring record's length word followed by an event head (kind 0, a tier, 40 bytes of
lengths, seq, stamp and ID, a topic's ``/``) or a dead letter's (kind 1, the JSON head)."""
_LENGTHS = struct.Struct('<IBBHHI')


def find_record(data: Union[bytes, mmap.mmap], start: int, end: int) -> int:
    """
    Return where in ``data[start:end]`` the next ring record starts (its length word), or -1.

    A place counts when an event's head follows its length word and the head's lengths add
    up to it exactly, or a dead letter's head does and fits in it (the ring's ``Finder``).
    """
    for match in _RECORD_START.finditer(data, start, end):
        at = match.start()
        length, kind, _tier, topic_length, type_length, cdr_length = \
            _LENGTHS.unpack_from(data, at)
        if at + 4 + length > end:
            continue
        if kind == KIND_EVENT:
            if EVENT_HEAD.size + topic_length + type_length + cdr_length == length:
                return at
        elif 5 + int.from_bytes(data[at + 5:at + 9], 'little') <= length:
            return at
    return -1


class TopicSpec(NamedTuple):
    """What the ring tap packs each event of one topic with (cached per topic)."""

    type_name: str
    tier: Tier
    record_head: Optional[RecordHead]
    """Issue the ID and pack the record head; None when the topic is not mirrored."""


def _record_head(clock: IdClock, tier: Tier, topic: bytes, type_name: bytes) -> RecordHead:
    """Return what packs :data:`EVENT_HEAD` plus the names (one ``struct`` call)."""
    pack = struct.Struct(f'{EVENT_HEAD.format}{len(topic)}s{len(type_name)}s').pack
    issue_pair = clock.issue_pair
    kind, tier_number, topic_length, type_length = KIND_EVENT, int(tier), len(topic), \
        len(type_name)

    def record_head(event: Event, cdr_length: int) -> bytes:
        seq = event.seq
        stamp_ns = event.stamp_ns
        ms, id_seq = issue_pair(stamp_ns, seq)
        return pack(kind, tier_number, topic_length, type_length, cdr_length, seq, stamp_ns,
                    ms, id_seq, topic, type_name)
    return record_head


class EntryEncoder:
    """Bus events and dead letters -> stream entries with strictly increasing IDs."""

    def __init__(self, keys: StreamKeys, routes: TopicRoutes, counts: WriterCounts) -> None:
        self.keys = keys
        self._routes = routes
        self._counts = counts
        self.events_clock = IdClock()
        """Issues the IDs of the topic streams' entries."""
        self.dead_clock = IdClock()
        """Issues the IDs of the dead-letter stream's entries."""
        self.last_seq = 0
        """The kernel seq of the last event encoded (or known to be in Redis or the journal)."""
        self._specs: Dict[str, TopicSpec] = {}
        self.cached_spec: Callable[[str], Optional[TopicSpec]] = self._specs.get
        """The spec cached for a topic, if any (the tap's fast path; check it fits)."""

    @property
    def routes(self) -> TopicRoutes:
        """Return the topic rules (mirrored or not)."""
        return self._routes

    @routes.setter
    def routes(self, routes: TopicRoutes) -> None:
        self._routes = routes
        self._specs.clear()  # the mirror flag of a topic may have changed

    def resume_after(self, last_id: Id, dead_last_id: Id, last_seq: int) -> None:
        """Issue IDs after these, and report at least ``last_seq`` (what a trail holds)."""
        self.events_clock.advance_to(last_id)
        self.dead_clock.advance_to(dead_last_id)
        self.last_seq = max(self.last_seq, last_seq)

    # -- what both writers share -------------------------------------------------------------

    def payload(self, event: Event) -> Optional[bytes]:
        """Return the event's CDR, or None (counted ``unencodable``) when it has none."""
        try:
            cdr = event.cdr
        except Exception as exc:  # a payload that will not serialize must not stop intake
            self.unencodable(event, exc)
            return None
        if cdr is None:
            self.unencodable(event, None)
        return cdr

    def unencodable(self, event: Event, error: Optional[Exception]) -> None:
        """Count and report an event that has no CDR (``error``: why it did not serialize)."""
        self._counts.counters['unencodable'] += 1
        if error is not None:
            self._counts.log_limited('encode', f'cannot serialize {event!r} for the mirror: '
                                     f'{error}')
        else:
            self._counts.log_limited('noncdr', f'{event!r} is no ROS message: not mirrored')

    def dead_letter(self, letter: DeadLetter) -> StreamEntry:
        """Return the dead-letter stream's entry of ``letter`` (with its payload if it has one)."""
        event = letter.event
        try:
            cdr = event.cdr or b''
        except Exception:  # keep the dead letter, even without its payload
            cdr = b''
        return StreamEntry(self.keys.dead_letters, self.dead_clock.issue(letter.time_ns, 0),
                           dead_letter_fields(
                               event.topic, event.type_name, event.tier.name, event.seq,
                               event.stamp_ns, bytes(cdr), handler=letter.handler,
                               error=letter.error, traceback=letter.traceback,
                               attempts=letter.attempts, dead_ns=letter.time_ns))

    # -- the thread writer -------------------------------------------------------------------

    def encode(self, items: List[Item]) -> List[StreamEntry]:
        """Return the entries of queued items; one that cannot be encoded is counted, skipped."""
        out: List[StreamEntry] = []
        for item in items:
            try:
                if isinstance(item, DeadLetter):
                    entry: Optional[StreamEntry] = self.dead_letter(item)
                else:
                    entry = self._event(item)
            except Exception as exc:  # one bad item must not take its batch with it
                self._counts.counters['unencodable'] += 1
                self._counts.log_limited('encode-item', f'cannot encode {item!r} for the '
                                         f'mirror: {type(exc).__name__}: {exc}')
                continue
            if entry is not None:
                out.append(entry)
        return out

    def _event(self, event: Event) -> Optional[StreamEntry]:
        if not self._routes(event.topic).mirror:
            self._counts.counters['skipped'] += 1
            return None
        cdr = self.payload(event)
        if cdr is None:
            return None
        entry_id = self.events_clock.issue(event.stamp_ns, event.seq)
        self.last_seq = event.seq
        return StreamEntry(self.keys.topic(event.topic), entry_id, event_fields(
            event.topic, event.type_name, event.tier.name, event.seq, event.stamp_ns,
            bytes(cdr)))

    # -- the ring tap (kernel side of the writer process) ------------------------------------

    def topic_spec(self, event: Event) -> TopicSpec:
        """
        Return (and cache) the :class:`TopicSpec` of the event's topic, type and tier.

        The tap first tries :attr:`cached_spec` (one dict lookup): a spec fits an event when
        its ``type_name`` and ``tier`` are the event's.
        """
        spec = self._specs.get(event.topic)
        if spec is not None and spec.type_name == event.type_name and spec.tier is event.tier:
            return spec
        head = None
        if self._routes(event.topic).mirror:
            head = _record_head(self.events_clock, event.tier, event.topic.encode(),
                                event.type_name.encode())
        spec = TopicSpec(event.type_name, event.tier, head)
        if len(self._specs) < _SPECS_MAX:
            self._specs[event.topic] = spec
        return spec

    def ring_dead_letter(self, letter: DeadLetter) -> Tuple[bytes, bytes]:
        """Return the ring record of a dead letter, in two parts (caller locks)."""
        return bytes([KIND_ENTRY]), self.dead_letter(letter).encode()


class RingDecoder:
    """Ring records -> stream entries (the writer process); malformed records are counted."""

    def __init__(self, keys: StreamKeys) -> None:
        self.keys = keys
        self._topics: Dict[bytes, Tuple[str, str]] = {}
        self._types: Dict[bytes, str] = {}
        self.last_id: Id = (0, 0)
        """The highest entry ID of an event decoded."""
        self.last_seq = 0
        """The highest kernel seq of an event decoded."""
        self.malformed = 0
        """Records that were no event and no entry (skipped, logged)."""

    def decode(self, records: List[bytes]) -> List[StreamEntry]:
        """Return the entries of ring records; a malformed record is counted, logged, skipped."""
        out: List[StreamEntry] = []
        topics, types = self._topics, self._types
        size = EVENT_HEAD.size
        for rec in records:
            try:
                if rec[0] == KIND_ENTRY:  # a dead letter: its own stream, nothing else
                    dead = StreamEntry.decode(rec[1:], 'ring record')
                    if dead.key != self.keys.dead_letters:
                        raise ValueError(f'an entry for {dead.key[:100]!r}, not for '
                                         f'{self.keys.dead_letters!r}')
                    out.append(dead)
                    continue
                kind, tier, tl, yl, cl, seq, stamp_ns, ms, id_seq = EVENT_HEAD.unpack_from(rec)
                if kind != KIND_EVENT or size + tl + yl + cl != len(rec):
                    raise ValueError(f'kind {kind}, lengths {tl}+{yl}+{cl} in a record of '
                                     f'{len(rec)} bytes')
                raw_topic = rec[size:size + tl]
                named = topics.get(raw_topic)
                if named is None:
                    topic = raw_topic.decode()
                    if not topic.startswith('/'):
                        raise ValueError(f'topic {topic[:100]!r} is no ROS topic name')
                    named = topics[raw_topic] = (topic, self.keys.topic(topic))
                o = size + tl
                raw_type = rec[o:o + yl]
                type_name = types.get(raw_type)
                if type_name is None:
                    type_name = types[raw_type] = raw_type.decode()
                o += yl
                entry = StreamEntry(named[1], f'{ms}-{id_seq}', event_fields(
                    named[0], type_name, _TIER_NAMES[tier], seq, stamp_ns, rec[o:o + cl]))
            except (AuditError, IndexError, ValueError, struct.error) as exc:
                self.malformed += 1  # UnicodeDecodeError is a ValueError
                if self.malformed <= _MALFORMED_LOGGED:  # the caller reports the count
                    _LOG.error('skipping a malformed ring record (%d bytes): %s', len(rec), exc)
                continue
            out.append(entry)
            if (ms, id_seq) > self.last_id:
                self.last_id = (ms, id_seq)
            if seq > self.last_seq:
                self.last_seq = seq
        return out
