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
The audit trail's data model: stream keys, entry fields, entry IDs, retention, journal records.

Pure Python (no ROS, no Redis), shared by the mirror, the journal, replay, export, the dead
letter tools and the consumer API. The layout under ``redis.stream_prefix`` (``P``):

- ``P:topic:<topic>`` one stream per topic (``P:topic:/safety/estop``), entries with the
  fields ``topic``, ``type``, ``tier``, ``seq``, ``stamp_ns`` and ``cdr`` (the exact bytes);
- ``P:streams`` a set of the topic stream keys;
- ``P:deadletters`` the dead-letter stream (the event's fields plus ``handler``, ``error``,
  ``traceback``, ``attempts``, ``dead_ns``); other writers (the LLM bridge) keep their own
  dead-letter streams ``P:<name>:deadletters`` in the same format (``unity-kernel dlq`` reads
  them all);
- ``P:meta`` a hash with the last entry ID and kernel sequence number written.

With a robot id ``R`` (``kernel.robot_id``) every one of these keys is under ``P:{R}``
instead of ``P`` (``P:{R}:topic:/safety/estop``, ``P:{R}:deadletters``, ...): the braces are
a Redis Cluster hash tag, so all keys of one robot live in one slot and each write batch
goes to one node in one round trip. The fleet registry ``P:fleet`` (a hash: robot id ->
heartbeat) is shared by the robots. Without a robot id the layout is the single-robot one.

Global order: entry IDs are ``<receive ms>-<kernel seq>``, made strictly increasing over all
topic streams by one clock; so every stream is in the kernel's order and merging streams by
ID gives the global order across topics, and XRANGE by time works on the ID's ms part.
"""

import dataclasses
import json
import struct
from typing import Dict, List, Mapping, Optional, Tuple, Union

from unity_kernel_core.config.kernel_config import KernelConfig, TopicRoute
from unity_kernel_core.errors import AuditError

FieldValue = Union[str, bytes]

EVENT_FIELDS = ('topic', 'type', 'tier', 'seq', 'stamp_ns', 'cdr')
KERNEL_DEAD_LETTERS = 'kernel'
"""The name ``unity-kernel dlq`` gives the kernel's own dead-letter stream ``P:deadletters``."""


class AuditEntryError(AuditError):
    """A stream entry or journal record is malformed: it names the entry and the field."""


@dataclasses.dataclass(frozen=True)
class StreamKeys:
    """
    The Redis keys of one kernel's audit trail (and of the tools writing beside it).

    ``robot_id`` None: keys under ``prefix`` (the single-robot layout); otherwise under
    ``prefix:{robot_id}`` (a hash tag: one cluster slot per robot).
    """

    prefix: str
    robot_id: Optional[str] = None

    @property
    def base(self) -> str:
        """Return what every key of this trail starts with (``P`` or ``P:{R}``)."""
        if self.robot_id is None:
            return self.prefix
        return f'{self.prefix}:{{{self.robot_id}}}'

    def key(self, *parts: str) -> str:
        """Return the key made of the base and ``parts``, joined by colons."""
        return ':'.join((self.base,) + parts)

    @property
    def streams(self) -> str:
        """Return the key of the set of topic streams."""
        return self.key('streams')

    @property
    def meta(self) -> str:
        """Return the key of the hash holding the last ID and seq written."""
        return self.key('meta')

    @property
    def dead_letters(self) -> str:
        """Return the key of the kernel's dead-letter stream."""
        return self.key('deadletters')

    @property
    def fleet(self) -> str:
        """Return the key of the fleet registry (shared by every robot under the prefix)."""
        return f'{self.prefix}:fleet'

    def dead_letter_stream(self, name: str) -> str:
        """Return the key of a named dead-letter stream: ``kernel`` is the kernel's own."""
        if name == KERNEL_DEAD_LETTERS:
            return self.dead_letters
        return self.key(name, 'deadletters')

    def dead_letter_name(self, key: str) -> str:
        """Return the name of a dead-letter stream key (``P:N:deadletters`` -> ``N``)."""
        if key == self.dead_letters:
            return KERNEL_DEAD_LETTERS
        head, tail = f'{self.base}:', ':deadletters'
        if not (key.startswith(head) and key.endswith(tail)) or len(key) <= len(head + tail):
            raise AuditError(f'{key!r} is not a dead-letter stream under {self.base!r}')
        name = key[len(head):-len(tail)]
        if '{' in name:  # another robot's stream, seen from the single-robot layout
            raise AuditError(f'{key!r} belongs to a robot, not to {self.base!r}')
        return name

    def topic(self, topic: str) -> str:
        """Return the stream key of ``topic``."""
        return f'{self.base}:topic:{topic}'

    def topic_of(self, key: str) -> str:
        """Return the topic of a topic stream key; raise AuditError for another key."""
        head = f'{self.base}:topic:'
        if not key.startswith(head):
            raise AuditError(f'{key!r} is not a topic stream under {self.base!r}')
        return key[len(head):]

    @classmethod
    def of(cls, config: KernelConfig, robot_id: Optional[str] = None) -> 'StreamKeys':
        """Return the keys of a kernel config (``robot_id`` overrides ``kernel.robot_id``)."""
        return cls(config.redis.stream_prefix, robot_id or config.kernel.robot_id)


ID_PART_MAX = 2 ** 64 - 1
"""Largest milliseconds or sequence number of a Redis stream entry ID (64 bits each)."""
SEQ_MAX = 2 ** 64 - 1
"""Largest kernel sequence number an entry may carry (``seq``)."""
STAMP_NS_MAX = 2 ** 63 - 1
"""Latest receive time an entry may carry (``stamp_ns``): a signed 64-bit time, as ROS's."""


def parse_id(entry_id: 'str | bytes') -> Tuple[int, int]:
    """Return ``(ms, seq)`` of a stream entry ID; raise AuditEntryError when malformed."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    ms, sep, seq = text.partition('-')
    if not ms.isdigit() or (sep and not seq.isdigit()) or len(text) > 41:
        raise AuditEntryError(f'malformed stream entry ID {text[:60]!r}: expected "<ms>-<seq>"')
    parts = int(ms), int(seq) if sep else 0
    if max(parts) > ID_PART_MAX:
        raise AuditEntryError(f'stream entry ID {text!r} out of range: each part of '
                              f'"<ms>-<seq>" is at most {ID_PART_MAX}')
    return parts


def format_id(ms: int, seq: int) -> str:
    """Return the ``<ms>-<seq>`` text of a stream entry ID."""
    return f'{ms}-{seq}'


class IdClock:
    """
    Make strictly increasing entry IDs ``<ms>-<seq>`` from receive time and kernel seq.

    Normally the ID is ``<stamp ms>-<seq>``; if the wall clock stepped back, or the kernel's
    seq restarted, the ID is bumped just past the last one so the order never breaks.
    """

    def __init__(self, last: Tuple[int, int] = (0, 0)) -> None:
        self.last = last

    def advance_to(self, last: Tuple[int, int]) -> None:
        """Never issue an ID at or below ``last`` (used with what Redis or the journal hold)."""
        if last > self.last:
            self.last = last

    def issue(self, stamp_ns: int, seq: int) -> str:
        """Return the next ID for an event received at ``stamp_ns`` with kernel ``seq``."""
        return format_id(*self.issue_pair(stamp_ns, seq))

    def issue_pair(self, stamp_ns: int, seq: int) -> Tuple[int, int]:
        """Return the next ID as ``(ms, seq)`` (see :meth:`issue`)."""
        candidate = (stamp_ns // 1_000_000, seq)
        if candidate <= self.last:
            candidate = (self.last[0], self.last[1] + 1)
        self.last = candidate
        return candidate


def trim_args(route: TopicRoute, now_ms: int) -> List[str]:
    """Return a topic's XADD trimming arguments: ``MINID ~`` by age when set, else ``MAXLEN ~``."""
    if route.max_age_s is not None:
        return ['MINID', '~', format_id(max(0, now_ms - int(route.max_age_s * 1000)), 0)]
    if route.maxlen is not None:
        return ['MAXLEN', '~', str(route.maxlen)]
    return []


def event_fields(topic: str, type_name: str, tier: str, seq: int, stamp_ns: int,
                 cdr: bytes) -> Dict[str, FieldValue]:
    """Return the stream entry fields of one event (:data:`EVENT_FIELDS`, in that order)."""
    return {'topic': topic, 'type': type_name, 'tier': tier, 'seq': str(seq),
            'stamp_ns': str(stamp_ns), 'cdr': cdr}


def dead_letter_fields(topic: str, type_name: str, tier: str, seq: int, stamp_ns: int,
                       cdr: bytes, *, handler: str, error: str, traceback: str, attempts: int,
                       dead_ns: int) -> Dict[str, FieldValue]:
    """Return a dead letter's fields: the event's, handler, error, traceback, attempts, dead_ns."""
    fields = event_fields(topic, type_name, tier, seq, stamp_ns, cdr)
    fields.update({'handler': handler, 'error': error, 'traceback': traceback,
                   'attempts': str(attempts), 'dead_ns': str(dead_ns)})
    return fields


@dataclasses.dataclass(frozen=True)
class AuditRecord:
    """One mirrored event as stored in its topic stream."""

    topic: str
    type_name: str
    tier: str
    seq: int
    stamp_ns: int
    cdr: bytes
    entry_id: str = ''

    def fields(self) -> Dict[str, FieldValue]:
        """Return the stream entry fields."""
        return event_fields(self.topic, self.type_name, self.tier, self.seq, self.stamp_ns,
                            self.cdr)

    @classmethod
    def from_entry(cls, entry_id: 'str | bytes', fields: Mapping[object, object],
                   where: str = '') -> 'AuditRecord':
        """Decode a stream entry; raise AuditEntryError naming the entry and the bad field."""
        eid = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        parse_id(eid)
        text = _decode_fields(eid, fields, where)
        label = f'{where} entry {eid}' if where else f'entry {eid}'
        cdr = fields.get(b'cdr', fields.get('cdr'))
        missing = [f for f in EVENT_FIELDS if f not in text and f != 'cdr']
        if cdr is None:
            missing.append('cdr')
        if missing:
            raise AuditEntryError(f'{label}: missing field(s) {", ".join(missing)}')
        if not isinstance(cdr, (bytes, bytearray)):
            raise AuditEntryError(f'{label}: field cdr is not bytes')
        try:
            seq = int(text['seq'])
            stamp_ns = int(text['stamp_ns'])
        except ValueError as exc:
            raise AuditEntryError(f'{label}: seq/stamp_ns must be integers ({exc})') from None
        if not 0 <= seq <= SEQ_MAX:
            raise AuditEntryError(f'{label}: seq {seq} is out of range (0..{SEQ_MAX})')
        if not 0 <= stamp_ns <= STAMP_NS_MAX:
            raise AuditEntryError(f'{label}: stamp_ns {stamp_ns} is out of range '
                                  f'(0..{STAMP_NS_MAX}, nanoseconds since the epoch)')
        if not text['topic'].startswith('/'):
            raise AuditEntryError(f'{label}: topic {text["topic"]!r} is not a ROS topic name')
        return cls(topic=text['topic'], type_name=text['type'], tier=text['tier'], seq=seq,
                   stamp_ns=stamp_ns, cdr=bytes(cdr), entry_id=eid)


def _decode_fields(eid: str, fields: Mapping[object, object], where: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for key, value in fields.items():
        name = key.decode('utf-8', 'replace') if isinstance(key, bytes) else str(key)
        if name == 'cdr':
            continue
        if isinstance(value, (bytes, bytearray)):
            try:
                out[name] = bytes(value).decode('utf-8')
            except UnicodeDecodeError:
                label = f'{where} entry {eid}' if where else f'entry {eid}'
                raise AuditEntryError(f'{label}: field {name} is not UTF-8 text') from None
        else:
            out[name] = str(value)
    return out


def text_fields(fields: Mapping[object, object]) -> Dict[str, str]:
    """
    Return an entry's fields as text (binary ``cdr`` left out), for listings.

    Bytes that are not UTF-8 are shown as backslash escapes: a listing shows every entry.
    """
    out: Dict[str, str] = {}
    for key, value in fields.items():
        name = text_of(key)
        if name != 'cdr':
            out[name] = text_of(value)
    return out


def text_of(value: object) -> str:
    """Return a Redis reply as text: bytes that are not UTF-8 as backslash escapes."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode('utf-8', 'backslashreplace')
    return str(value)


# -- journal records ------------------------------------------------------------------------

_HEAD = struct.Struct('<I')


@dataclasses.dataclass(frozen=True)
class StreamEntry:
    """One XADD to do: the stream key, the explicit entry ID, and the fields."""

    key: str
    entry_id: str
    fields: Dict[str, FieldValue]

    def encode(self) -> bytes:
        """Return the journal record of this entry (a JSON head, then the binary fields)."""
        text = {k: v for k, v in self.fields.items() if isinstance(v, str)}
        blobs = [(k, v) for k, v in self.fields.items() if isinstance(v, bytes)]
        head = json.dumps({'k': self.key, 'id': self.entry_id, 'f': text,
                           'b': [[k, len(v)] for k, v in blobs]},
                          separators=(',', ':')).encode()
        return b''.join([_HEAD.pack(len(head)), head] + [v for _k, v in blobs])

    @classmethod
    def decode(cls, data: bytes, where: str = 'journal record') -> 'StreamEntry':
        """Decode a journal record; raise AuditEntryError saying what is wrong."""
        try:
            (size,) = _HEAD.unpack_from(data, 0)
            head = json.loads(data[_HEAD.size:_HEAD.size + size].decode('utf-8'))
            fields: Dict[str, FieldValue] = {str(k): str(v) for k, v in head['f'].items()}
            offset = _HEAD.size + size
            for name, length in head['b']:
                blob = data[offset:offset + int(length)]
                if len(blob) != int(length):
                    raise ValueError(f'field {name} truncated ({len(blob)} of {length} bytes)')
                fields[str(name)] = blob
                offset += int(length)
            return cls(key=str(head['k']), entry_id=str(head['id']), fields=fields)
        except (struct.error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise AuditEntryError(f'{where}: malformed ({exc})') from None
