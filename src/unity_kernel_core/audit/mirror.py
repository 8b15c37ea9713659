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
The audit mirror: a kernel component copying every bus event to Redis Streams.

Off the ROS callback path: the bus tap only appends the event to a bounded in-memory queue
(``redis.queue_size``; when full the event is not mirrored and ``dropped_queue`` counts it,
per tier in ``dropped_by_tier``). CRITICAL events are never dropped by the tap: they may use
a reserve of another ``queue_size`` beyond the bound, and when even that is full the
publishing thread waits for the writer to make room (the CRITICAL tier's BLOCK policy).
One writer thread takes batches of up to ``redis.batch_size`` events, or what is there once
the oldest waited ``redis.flush_interval_ms``, encodes them (CDR made here if the event came
without it) and sends them as one pipeline of ``XADD`` with explicit IDs (see
:mod:`unity_kernel_core.audit.record` for the key layout and the order).

When Redis is unreachable (or answers with a transient error) the batch goes to the journal
under ``<state_dir>/mirror-journal`` instead (bounded by ``redis.journal_max_bytes``). While
the journal holds records, new events go behind them, so the order is kept; once Redis
answers again the journal is drained first. Because IDs are explicit, an entry that Redis
already has is refused by Redis ("equal or smaller" ID) and counted as a duplicate, so a
batch that is re-sent after a failure, or a journal left by a crashed kernel, never doubles
an entry. Clean shutdown sends what is queued, or journals it.

Disk full: what the journal cannot take stays in memory, in order, ahead of anything newer
(at most ``queue_size`` entries; beyond that the writer stops taking from the queue, so the
tap's bound applies), is retried every ``reconnect_interval_ms``, and goes straight to Redis
when it answers. The diagnostics are ERROR while anything is held. A batch whose sending
fails in an unexpected way is journaled, never dropped.

Dead letters from the bus go the same way to the ``P:deadletters`` stream.

In a Redis Cluster (``redis.cluster``) every key of the robot shares one hash tag, so a batch
is one pipeline to the master serving that slot. There a batch counts as written only once
``redis.wait_replicas`` replicas (default 1, or as many as are connected) have it (``WAIT``
at the end of the pipeline); otherwise it is journaled like a failed one. So when the master
fails and its replica takes over, whatever the replica missed is still in the journal and is
drained to the new master (entries it has are refused as duplicates).
"""

import collections
import itertools
import logging
import pathlib
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple, Union

import redis

from unity_kernel_core import native
from unity_kernel_core.audit.journal import Journal, JournalError, JournalWriteError
from unity_kernel_core.audit.record import (AuditError, dead_letter_fields, event_fields,
                                            IdClock, parse_id, StreamEntry, StreamKeys,
                                            trim_args)
from unity_kernel_core.audit.redis_connection import (Client, ClusterUnreachable, connect,
                                                      connected_replicas,
                                                      is_cluster_reply, node_for,
                                                      redacted_url, refresh_slots,
                                                      TRANSIENT_ERRORS)
from unity_kernel_core.audit.resp import execute_packed, pack_command
from unity_kernel_core.bus.event_bus import DeadLetter
from unity_kernel_core.bus.events import Event, Tier
from unity_kernel_core.component import KernelContext
from unity_kernel_core.config.kernel_config import KernelConfig, RedisSettings, TopicRoutes

_LOG = logging.getLogger('unity_kernel.mirror')

JOURNAL_DIR = 'mirror-journal'
_DUPLICATE = 'equal or smaller'
_CONNECTION_ERRORS = TRANSIENT_ERRORS
_REPLICA_CHECK_S = 5.0

Item = Union[Event, DeadLetter]

COUNTERS = ('written', 'journaled', 'drained', 'duplicates', 'rejected', 'dropped_queue',
            'dropped_journal_full', 'journal_errors', 'journal_corrupt', 'skipped',
            'unencodable', 'outages', 'writer_errors', 'critical_waits')


class MirrorWriter:
    """The queue, the writer thread, the Redis pipeline and the journal (no ROS)."""

    @classmethod
    def for_config(cls, config: KernelConfig, state_dir: pathlib.Path) -> 'MirrorWriter':
        """Return the writer of ``config``: its journal under ``state_dir``, its connection."""
        settings = config.redis
        journal = Journal(pathlib.Path(state_dir) / JOURNAL_DIR, settings.journal_max_bytes,
                          settings.journal_segment_bytes, settings.journal_fsync)
        return cls(settings, config.routes, StreamKeys.of(config), journal,
                   lambda: connect(settings))

    def __init__(self, settings: RedisSettings, routes: TopicRoutes, keys: StreamKeys,
                 journal: Journal, client_factory: Callable[[], Client]) -> None:
        self.settings = settings
        self.routes = routes
        self.keys = keys
        self.journal = journal
        self.url = redacted_url(settings.url)
        self._client_factory = client_factory
        self._client: Optional[Client] = None
        self._replicas: Optional[int] = None
        self._replicas_checked = 0.0
        self._queue: Deque[Item] = collections.deque()
        self._capacity = settings.queue_size
        self._room = threading.Condition()
        self._waiters = 0
        self._held: List[StreamEntry] = []
        """Entries the journal could not take (disk full): sent or journaled before newer."""
        self._held_reason = 'journal_errors'
        self.journal_error = ''
        """Why the journal refused the entries held now ('' when nothing is held)."""
        self._batch = settings.batch_size
        self._flush_ns = int(settings.flush_interval_ms * 1e6)
        self._retry_s = settings.reconnect_interval_ms / 1000.0
        self._wake = threading.Event()
        self._stopping = False
        self._stop_deadline = 0.0
        self._thread: Optional[threading.Thread] = None
        self._events_clock = IdClock()
        self._dead_clock = IdClock()
        self._known_keys: set = set()
        self.connected = False
        self._next_attempt = 0.0
        self._down_logged = False
        self.last_error = ''
        self._last_log: Dict[str, float] = {}
        # every key exists from the start: snapshot() copies the dict from another thread
        self.counters: Dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.dropped_by_tier: Dict[str, int] = dict.fromkeys((t.name for t in Tier), 0)
        """Events not recorded, by tier (queue full, or lost at stop with nowhere to go)."""
        self.last_seq = 0

    @property
    def journal_dir(self) -> pathlib.Path:
        """Return the journal's directory."""
        return self.journal.directory

    def reconfigure(self, config: KernelConfig) -> None:
        """Apply new topic rules (mirror on/off, retention)."""
        self.routes = config.routes

    # -- intake (any thread; must not block) -----------------------------------------------

    def offer(self, event: Event) -> None:
        """Queue one bus event (the bus tap; runs under the bus's sequence lock)."""
        queue = self._queue
        if len(queue) >= self._capacity:
            if event.tier is Tier.CRITICAL:
                self._offer_critical(event)
                return
            self.counters['dropped_queue'] += 1
            self.dropped_by_tier[event.tier.name] += 1
            return
        queue.append(event)
        if len(queue) >= self._batch:
            self._wake.set()

    def offer_dead_letter(self, letter: DeadLetter) -> None:
        """Queue one dead letter (the bus's dead-letter sink)."""
        if len(self._queue) >= self._capacity:
            if letter.event.tier is Tier.CRITICAL:
                self._offer_critical(letter)
                return
            self.counters['dropped_queue'] += 1
            self.dropped_by_tier[letter.event.tier.name] += 1
            _LOG.error('mirror queue full: dead letter of %r not recorded', letter.event)
            return
        self._queue.append(letter)
        self._wake.set()

    def _offer_critical(self, item: Item) -> None:
        """Queue a CRITICAL item past the bound: a reserve, then wait for room; never drop."""
        if len(self._queue) >= 2 * self._capacity and not self._stopping:
            self.counters['critical_waits'] += 1
            self._log_limited('critical-wait', 'mirror queue and its CRITICAL reserve are full '
                              f'({len(self._queue)} entries): a CRITICAL publisher waits for '
                              'the writer')
            with self._room:
                self._waiters += 1
                try:
                    while len(self._queue) >= 2 * self._capacity and not self._stopping:
                        self._wake.set()
                        self._room.wait(0.1)
                finally:
                    self._waiters -= 1
        self._queue.append(item)
        self._wake.set()

    # -- lifecycle -------------------------------------------------------------------------

    def prime(self) -> int:
        """
        Seed the ID clocks from the journal and Redis; return the last kernel seq known.

        Called once before start; Redis being down here is not an error (the journal and
        the clock still give strictly increasing IDs).
        """
        last_seq = 0
        tail = self.journal.last_record()
        if tail is not None:
            entry = StreamEntry.decode(tail, f'{self.journal.directory} last record')
            self._events_clock.advance_to(parse_id(entry.entry_id))
            last_seq = int(str(entry.fields.get('seq', '0')) or 0)
        self._try_connect()
        self.last_seq = max(last_seq, self.last_seq)
        return self.last_seq

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name='mirror-writer', daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Send or journal everything queued, drain the journal while time allows, stop."""
        self._stop_deadline = time.monotonic() + max(0.1, timeout * 0.8)
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                _LOG.error('mirror writer did not stop within %.1fs: %d queued event(s) '
                           'may be lost', timeout, len(self._queue))
        self.journal.close()
        if self._client is not None:
            self._client.close()

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                self._step()
            except Exception as exc:  # the writer must outlive any one bad batch; say so
                self.counters['writer_errors'] += 1
                self.last_error = f'{type(exc).__name__}: {exc}'
                _LOG.exception('mirror writer: unexpected error (continuing)')
                time.sleep(self._retry_s)
            if self._stopping:
                late = time.monotonic() > self._stop_deadline
                if not self._queue and not self._held and (
                        not self.journal.pending or not self.connected or late):
                    break
                if late and self._held:  # neither Redis nor the journal takes them
                    break
        self.lose_held()

    def lose_held(self) -> None:
        """At stop, count (per tier) and report what could be neither sent nor journaled."""
        lost = self._held + self._encode(list(self._queue))
        self._held = []
        self._queue.clear()
        if not lost:
            return
        for entry in lost:
            tier = str(entry.fields.get('tier', 'NORMAL'))
            self.dropped_by_tier[tier] = self.dropped_by_tier.get(tier, 0) + 1
        self.counters[self._held_reason] += len(lost)
        _LOG.error('mirror stopped with %d event(s) neither in Redis nor in the journal (%s): '
                   'lost', len(lost), self.journal_error or self.last_error)

    def _step(self) -> None:
        self.write(self._encode(self._collect()))

    @property
    def held(self) -> int:
        """Return how many entries wait in memory because the journal refused them."""
        return len(self._held)

    def write(self, entries: List[StreamEntry]) -> None:
        """
        Send a batch to Redis, or journal it (behind what the journal holds); drain some.

        When this returns, each entry is in Redis or in the journal, or held in memory (in
        order, ahead of anything newer) because the journal refused it (full or failing):
        ``held`` says how many, and a caller feeding batches should stop taking new ones
        until it is 0 again (call ``write([])`` to retry). The writer thread calls it, and
        so does the writer process (:mod:`unity_kernel_core.audit.writer_process`).
        """
        entries = self._held + entries  # _spool / _send_or_spool set what stays held
        if self.journal.pending or not self._redis_ok():
            self._spool(entries)
            self._drain_some()
        elif entries:
            self._send_or_spool(entries)

    def _send_or_spool(self, entries: List[StreamEntry]) -> None:
        """Send a batch; journal it when Redis did not take it or sending failed at all."""
        try:
            sent = self._send(entries)
        except Exception as exc:  # a bug or a value Redis cannot take: keep the batch
            self.counters['writer_errors'] += 1
            self.last_error = f'{type(exc).__name__}: {exc}'
            self._log_limited('send', f'mirror writer: sending a batch failed ({self.last_error})'
                              f'; {len(entries)} event(s) journaled instead')
            sent = False
        if sent:
            self._held = []
            self.journal_error = ''
        else:
            self._spool(entries)

    def _collect(self) -> List[Item]:
        queue = self._queue
        room = self._capacity - len(self._held)
        if room <= 0:  # the journal refuses and Redis is away: let the tap's bound apply
            self._wake.wait(min(self._retry_s, 0.05) if self._stopping else self._retry_s)
            self._wake.clear()
            return []
        while not self._stopping:
            n = len(queue)
            if n >= self._batch:
                break
            if self.journal.pending and self.connected:
                break  # draining: take what is there without waiting
            if n:
                wait_ns = self._flush_ns - (time.monotonic_ns() - _mono_ns(queue[0]))
                if wait_ns <= 0:
                    break
                self._wake.wait(wait_ns / 1e9)
            elif self.journal.pending or self._held:
                # nothing new, but a journal or held entries wait: come back to retry Redis
                # (or the disk) even when no event arrives
                self._wake.wait(self._retry_s)
                self._wake.clear()
                break
            else:
                self._wake.wait(0.1)
            self._wake.clear()
        out: List[Item] = []
        for _ in range(min(self._batch, room, len(queue))):
            out.append(queue.popleft())
        if self._waiters:
            with self._room:
                self._room.notify_all()
        return out

    def _encode(self, items: List[Item]) -> List[StreamEntry]:
        out: List[StreamEntry] = []
        for item in items:
            try:
                if isinstance(item, DeadLetter):
                    entry = self._encode_dead_letter(item)
                else:
                    entry = self._encode_event(item)
            except Exception as exc:  # one bad item must not take its batch with it
                self.counters['unencodable'] += 1
                self._log_limited('encode-item', f'cannot encode {item!r} for the mirror: '
                                  f'{type(exc).__name__}: {exc}')
                continue
            if entry is not None:
                out.append(entry)
        return out

    def _encode_event(self, event: Event) -> Optional[StreamEntry]:
        if not self.routes(event.topic).mirror:
            self.counters['skipped'] += 1
            return None
        try:
            cdr = event.cdr
        except Exception as exc:  # a payload that will not serialize must not stop the mirror
            self.counters['unencodable'] += 1
            self._log_limited('encode', f'cannot serialize {event!r} for the mirror: {exc}')
            return None
        if cdr is None:
            self.counters['unencodable'] += 1
            self._log_limited('noncdr', f'{event!r} is no ROS message: not mirrored')
            return None
        entry_id = self._events_clock.issue(event.stamp_ns, event.seq)
        self.last_seq = event.seq
        return StreamEntry(self.keys.topic(event.topic), entry_id, event_fields(
            event.topic, event.type_name, event.tier.name, event.seq, event.stamp_ns,
            bytes(cdr)))

    def _encode_dead_letter(self, letter: DeadLetter) -> Optional[StreamEntry]:
        event = letter.event
        try:
            cdr = event.cdr or b''
        except Exception:  # keep the dead letter, even without its payload
            cdr = b''
        entry_id = self._dead_clock.issue(letter.time_ns, 0)
        return StreamEntry(self.keys.dead_letters, entry_id, dead_letter_fields(
            event.topic, event.type_name, event.tier.name, event.seq, event.stamp_ns,
            bytes(cdr), handler=letter.handler, error=letter.error,
            traceback=letter.traceback, attempts=letter.attempts, dead_ns=letter.time_ns))

    # -- Redis -----------------------------------------------------------------------------

    def _try_connect(self) -> bool:
        try:
            if self._client is None:
                self._client = self._client_factory()
            elif self.settings.cluster:
                refresh_slots(self._client)  # a replica may have taken over
            self._replicas = None
            meta: Any = node_for(self._client, self.keys.meta).hgetall(self.keys.meta)
        except _CONNECTION_ERRORS + (redis.ResponseError, ClusterUnreachable) as exc:
            self._set_down(exc)
            return False
        last_id = meta.get(b'last_id')
        if last_id:
            self._events_clock.advance_to(parse_id(last_id))
        last_seq = meta.get(b'last_seq')
        if last_seq and last_seq.isdigit():
            self.last_seq = max(self.last_seq, int(last_seq))
        dead: Any = node_for(self._client, self.keys.meta).xrevrange(self.keys.dead_letters,
                                                                     count=1)
        if dead:
            self._dead_clock.advance_to(parse_id(dead[0][0]))
        if not self.connected:
            _LOG.info('mirror connected to Redis at %s%s', self.url,
                      f'; draining {self.journal.pending} journaled entries'
                      if self.journal.pending else '')
        self.connected = True
        return True

    def _redis_ok(self) -> bool:
        if self.connected:
            return True
        now = time.monotonic()
        if now < self._next_attempt:
            return False
        return self._try_connect()

    def _set_down(self, exc: BaseException) -> None:
        self.last_error = f'{type(exc).__name__}: {exc}'
        if self.connected or not self._down_logged:
            self._down_logged = True
            _LOG.warning('Redis at %s unreachable (%s): spooling to the journal %s', self.url,
                         self.last_error, self.journal.directory)
        if self.connected:
            self.counters['outages'] += 1
        self.connected = False
        self._known_keys.clear()
        self._next_attempt = time.monotonic() + self._retry_s

    def _send(self, entries: List[StreamEntry]) -> bool:
        """
        Write entries in one round trip; return False when Redis failed (nothing is lost).

        The batch is the pipeline of old, packed by :mod:`unity_kernel_core.audit.resp`: per
        entry an ``XADD`` with its explicit ID and the topic's trimming, an ``SADD`` of a
        stream key not seen yet, then ``HSET`` of the meta hash and, in a cluster, ``WAIT``.
        """
        if not entries:
            return True
        assert self._client is not None
        now_ms = time.time_ns() // 1_000_000
        try:  # every key of the trail is in one slot: one node, one pipeline
            node = node_for(self._client, self.keys.meta)
            wait = self._replicas_to_wait(node)
        except _CONNECTION_ERRORS as exc:
            self._set_down(exc)
            return False
        packed: List[bytes] = []  # one RESP write for the whole batch (audit/resp.py)
        add = packed.append
        last_event: Optional[StreamEntry] = None
        dead_letters = self.keys.dead_letters
        heads: Dict[str, Tuple[str, ...]] = {dead_letters: (
            'XADD', dead_letters, 'MAXLEN', '~', str(self.settings.dead_letter_maxlen))}
        chain = itertools.chain.from_iterable
        for entry in entries:
            key = entry.key
            head = heads.get(key)
            if head is None:
                head = ('XADD', key, *trim_args(self.routes(str(entry.fields['topic'])), now_ms))
                heads[key] = head
                if key not in self._known_keys:
                    add(pack_command(('SADD', self.keys.streams, key)))
            if key != dead_letters:
                last_event = entry
            add(pack_command((*head, entry.entry_id, *chain(entry.fields.items()))))
        if last_event is not None:
            add(pack_command(('HSET', self.keys.meta, 'last_id', last_event.entry_id,
                              'last_seq', str(last_event.fields['seq']))))
        if wait:
            add(pack_command(('WAIT', wait, self.settings.wait_timeout_ms)))
        try:
            results = execute_packed(node, packed)
        except _CONNECTION_ERRORS as exc:
            self._set_down(exc)
            return False
        if wait:
            acked = results.pop()
            if isinstance(acked, int) and acked < wait:
                self._replicas = None
                results.append(AuditError(
                    f'batch reached {acked} of {wait} replica(s) within '
                    f'{self.settings.wait_timeout_ms} ms: kept in the journal'))
            elif not isinstance(acked, int):
                results.append(acked)
        transient: Optional[Exception] = None
        written = duplicates = rejected = 0
        for result in results:
            if isinstance(result, redis.ResponseError):
                text = str(result)
                if _DUPLICATE in text:
                    duplicates += 1
                elif is_cluster_reply(result):  # a failover or a slot migration: retry
                    transient = result
                elif text.startswith('WRONGTYPE'):
                    rejected += 1
                    self._log_limited('wrongtype', f'Redis refused an entry: {text}')
                else:
                    transient = result
            elif isinstance(result, Exception):
                transient = result
            elif isinstance(result, bytes) and b'-' in result:
                written += 1
        if transient is not None:
            self._set_down(transient)
            return False
        self._known_keys.update(e.key for e in entries)
        self.counters['written'] += written
        self.counters['duplicates'] += duplicates
        self.counters['rejected'] += rejected
        return True

    def _replicas_to_wait(self, node: 'redis.Redis') -> int:
        """Return how many replicas to WAIT for: the setting, at most those connected."""
        wanted = self.settings.replicas_to_wait
        if not wanted:
            return 0
        now = time.monotonic()
        if self._replicas is None or now - self._replicas_checked > _REPLICA_CHECK_S:
            replicas = connected_replicas(node)
            if replicas < wanted and self._replicas != replicas:
                _LOG.warning('the master serving %s has %d replica(s) connected, %d wanted: '
                             'waiting for %d', self.keys.base, replicas, wanted, replicas)
            self._replicas, self._replicas_checked = replicas, now
        return min(wanted, self._replicas)

    # -- journal ---------------------------------------------------------------------------

    def _spool(self, entries: List[StreamEntry]) -> None:
        """Journal entries; what the journal cannot take is held, in order, for the next try."""
        if not entries:
            self._held = []
            return
        error: Optional[Exception] = None
        try:
            stored = self.journal.append([e.encode() for e in entries])
        except JournalWriteError as exc:  # disk full, I/O error: what was stored is counted
            stored, error = exc.stored, exc
        except OSError as exc:  # permissions on the directory, and the like
            stored, error = 0, exc
        self.counters['journaled'] += stored
        rest = entries[stored:]
        self._held = rest
        if not rest:
            self.journal_error = ''
            return
        if error is not None:
            self._held_reason = 'journal_errors'
            self.journal_error = self.last_error = f'journal: {error}'
            self._log_limited('journal-io', f'cannot write the mirror journal '
                              f'{self.journal.directory}: {error}; {len(rest)} event(s) held '
                              'in memory, retried')
        else:
            self._held_reason = 'dropped_journal_full'
            self.journal_error = self.last_error = (f'journal full ({self.journal.size_bytes} '
                                                    f'of {self.journal.max_bytes} bytes)')
            self._log_limited('full', f'mirror journal {self.journal.directory} is full '
                              f'({self.journal.size_bytes} of {self.journal.max_bytes} bytes): '
                              f'{len(rest)} event(s) held in memory, retried')

    def _drain_some(self) -> None:
        """Send one batch from the journal (oldest first) if Redis answers."""
        if not self.journal.pending or not self._redis_ok():
            return
        try:
            records, cursor = self.journal.read(self._batch)
        except JournalError as exc:
            lost = self.journal.pending
            self.counters['journal_corrupt'] += lost
            where = self.journal.quarantine()
            _LOG.error('mirror journal unreadable (%s): %d record(s) moved aside to %s',
                       exc, lost, where)
            return
        entries: List[StreamEntry] = []
        for i, record in enumerate(records):
            try:
                entries.append(StreamEntry.decode(record, f'{self.journal.directory} record'))
            except AuditError as exc:
                self.counters['journal_corrupt'] += 1
                self._log_limited('corrupt', f'skipping journal record {i}: {exc}')
        if self._send(entries):
            self.journal.commit(cursor)
            self.counters['drained'] += len(records)
            if not self.journal.pending:
                _LOG.info('mirror journal drained: Redis at %s is up to date', self.url)

    # -- reporting -------------------------------------------------------------------------

    def _log_limited(self, key: str, message: str, period_s: float = 10.0) -> None:
        now = time.monotonic()
        if now - self._last_log.get(key, -period_s) >= period_s:
            self._last_log[key] = now
            _LOG.error(message)

    def snapshot(self) -> Dict[str, Any]:
        """Return the counters and state (for diagnostics and tests)."""
        out: Dict[str, Any] = dict(self.counters)
        out.update({'connected': self.connected, 'url': self.url,
                    'queue_depth': len(self._queue), 'queue_capacity': self._capacity,
                    'held': len(self._held), 'dropped_by_tier': dict(self.dropped_by_tier),
                    'journal_error': self.journal_error,
                    'journal_pending': self.journal.pending,
                    'journal_bytes': self.journal.size_bytes,
                    'journal_max_bytes': self.journal.max_bytes,
                    'durable': out['written'] - out['drained'] + out['journaled'],
                    'last_error': self.last_error})
        return out


def _mono_ns(item: Item) -> int:
    return item.mono_ns if isinstance(item, Event) else item.event.mono_ns


class Mirror:
    """The kernel component: wires a MirrorWriter to the bus and reports on /diagnostics."""

    name = 'mirror'

    def __init__(self, context: KernelContext, writer: 'MirrorWriter | Any') -> None:
        self.context = context
        self.writer = writer
        self._bus = context.bus
        self._prev: Dict[str, Any] = {}
        last_seq = writer.prime()
        if last_seq > self._bus.last_seq:
            self._bus.set_next_seq(last_seq + 1)
        writer.start()
        self._bus.add_tap(writer.offer)
        self._bus.add_dead_letter_sink(writer.offer_dead_letter)

    def snapshot(self) -> Dict[str, Any]:
        """Return the writer's counters and connection state."""
        return self.writer.snapshot()

    def activate(self) -> None:
        """Nothing to do: the mirror runs from configure to cleanup."""

    def deactivate(self) -> None:
        """Nothing to do: queued events are still written."""

    def cleanup(self) -> None:
        """Detach from the bus, then send or journal everything queued."""
        self._bus.remove_tap(self.writer.offer)
        self._bus.remove_dead_letter_sink(self.writer.offer_dead_letter)
        self.writer.stop(self.context.config.kernel.shutdown_timeout_s)
        snap = self.writer.snapshot()
        _LOG.info('mirror stopped: %d written, %d journaled (%d pending in %s), %d dropped',
                  snap['written'], snap['journaled'], snap['journal_pending'],
                  self.writer.journal_dir,
                  snap['dropped_queue'] + snap['dropped_journal_full'] + snap['journal_errors'])

    def reconfigure(self, config: KernelConfig) -> None:
        """Apply new topic rules (mirror on/off, retention); Redis settings need configure."""
        self.writer.reconfigure(config)
        if config.redis != self.context.config.redis:
            _LOG.warning('redis settings changed: they take effect at the next configure')

    def diagnostics(self) -> List[Any]:
        """Return the mirror's status: connection, journal, counters."""
        from unity_kernel_core.ros.diagnostics import ERROR, OK, status, WARN
        snap = self.writer.snapshot()
        problems = []
        level = OK
        for key in ('dropped_queue', 'dropped_journal_full', 'journal_errors', 'rejected',
                    'journal_corrupt', 'writer_errors', 'writer_restarts'):
            new = snap.get(key, 0) - self._prev.get(key, 0)
            if new > 0:
                problems.append(f'{key} {new}')
                level = ERROR
        before = self._prev.get('dropped_by_tier', {})
        by_tier = {tier: n - before.get(tier, 0) for tier, n in snap['dropped_by_tier'].items()
                   if n - before.get(tier, 0) > 0}
        if by_tier:
            problems.append('not recorded by tier: ' + ', '.join(
                f'{tier} {n}' for tier, n in by_tier.items()))
        if snap['held']:
            problems.insert(0, f'{snap["held"]} event(s) held in memory: the journal does not '
                            f'take them ({snap["journal_error"]})')
            level = ERROR
        if snap.get('writer_alive') is False:
            problems.insert(0, f'audit writer process down ({snap["writer_last_exit"]}), '
                            'restarting; events wait in the ring')
            level = max(level, WARN)
        elif not snap['connected']:
            problems.insert(0, f'Redis unreachable ({snap["last_error"]}), journaling')
            level = max(level, WARN)
        elif snap['journal_pending']:
            problems.insert(0, f'draining journal ({snap["journal_pending"]} pending)')
            level = max(level, WARN)
        self._prev = snap
        message = '; '.join(problems) if problems else f'mirroring to {snap["url"]}'
        node_name = self.context.node.get_name()
        return [status(f'{node_name}: mirror', level, message, snap, hardware_id=node_name)]


def create(context: KernelContext) -> Optional[Mirror]:
    """Build the mirror, or return None when ``redis.enabled`` is false or no URL is set."""
    settings = context.config.redis
    if not settings.enabled:
        _LOG.info('audit mirror off (redis.enabled: false)')
        return None
    if not settings.url:
        _LOG.warning('audit mirror off: no redis.url (set it or UNITY_REDIS_URL; '
                     '`unity-kernel up` starts a private redis-server)')
        return None
    if settings.writer in ('process', 'process-python'):
        from unity_kernel_core.audit.writer_process import ProcessWriter
        # with the native intake the bus's sequencer is the native producer: its threads
        # write the ring through it, so the tap must too
        sequencer = context.bus.sequencer
        return Mirror(context, ProcessWriter(
            context.config, pathlib.Path(context.state_dir),
            producer=sequencer if native.is_producer(sequencer) else None))
    return Mirror(context, MirrorWriter.for_config(context.config,
                                                   pathlib.Path(context.state_dir)))
