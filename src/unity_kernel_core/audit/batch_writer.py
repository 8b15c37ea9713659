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
The batch writer: stream entries into Redis, or the journal while Redis is away.

Shared by both writers (the thread in the kernel, :mod:`.thread_writer`, and the writer
process, :mod:`.writer_process`): one :class:`BatchWriter` holds the parts of the write path
and the order between them:

- :class:`~.encoder.EntryEncoder`: entry IDs, which topics are mirrored, the entries;
- :class:`~.redis_sink.RedisSink`: the connection and the batch pipeline;
- :class:`~.spool.JournalSpool`: the journal, the entries held in memory, the drain;
- :class:`~.counters.WriterCounts`: what all of them count.

:meth:`BatchWriter.write` keeps the order: while the journal holds anything (or Redis is
away) a batch goes behind it, and the journal is drained first, one batch at a time. Because
IDs are explicit, an entry Redis already has is refused there ("equal or smaller" ID) and
counted as a duplicate: a batch re-sent after a failure, or a journal left by a crashed
kernel, never doubles an entry. A batch whose sending fails in an unexpected way (a bug, a
value Redis cannot take) is journaled, never dropped (``writer_errors``).
"""

import logging
import pathlib
from typing import Any, Callable, Dict, List

from unity_kernel_core.audit.counters import WriterCounts
from unity_kernel_core.audit.encoder import EntryEncoder, Id
from unity_kernel_core.audit.journal import Journal
from unity_kernel_core.audit.record import AuditError, parse_id, StreamEntry, StreamKeys
from unity_kernel_core.audit.redis_connection import Client, connect
from unity_kernel_core.audit.redis_sink import RedisSink
from unity_kernel_core.audit.spool import JournalSpool
from unity_kernel_core.config.kernel_config import KernelConfig, RedisSettings, TopicRoutes

_LOG = logging.getLogger('unity_kernel.mirror')

JOURNAL_DIR = 'mirror-journal'
"""The journal's directory under the state directory."""


class BatchWriter:
    """Encoder, Redis sink, journal spool and counters of one writer (no ROS, no thread)."""

    @classmethod
    def for_config(cls, config: KernelConfig, state_dir: pathlib.Path) -> 'BatchWriter':
        """Return the writer of ``config``: its journal under ``state_dir``, its connection."""
        settings = config.redis
        return cls(settings, config.routes, StreamKeys.of(config),
                   journal_for(settings, state_dir), lambda: connect(settings))

    def __init__(self, settings: RedisSettings, routes: TopicRoutes, keys: StreamKeys,
                 journal: Journal, client_factory: Callable[[], Client]) -> None:
        self.settings = settings
        self.keys = keys
        self.journal = journal
        self.counts = WriterCounts()
        self.encoder = EntryEncoder(keys, routes, self.counts)
        self.sink = RedisSink(settings, keys, routes, client_factory, self.counts, journal,
                              self._resume_after)
        self.spool = JournalSpool(journal, self.sink, settings.batch_size, self.counts)
        self.url = self.sink.url

    @property
    def routes(self) -> TopicRoutes:
        """Return the topic rules (mirror on/off, retention)."""
        return self.encoder.routes

    @routes.setter
    def routes(self, routes: TopicRoutes) -> None:
        self.encoder.routes = routes
        self.sink.routes = routes

    @property
    def connected(self) -> bool:
        """Return True while Redis takes the batches."""
        return self.sink.connected

    @property
    def held(self) -> int:
        """Return how many entries wait in memory because the journal refused them."""
        return len(self.spool.held)

    def _resume_after(self, last_id: Id, dead_last_id: Id, last_seq: int) -> None:
        self.encoder.resume_after(last_id, dead_last_id, last_seq)

    def prime(self) -> int:
        """
        Seed the ID clocks from the journal and Redis; return the last kernel seq known.

        Called once before the first write; Redis being down here is not an error (the
        journal and the clock still give strictly increasing IDs).
        """
        last_seq = 0
        tail = self.journal.last_record()
        if tail is not None:
            try:
                entry = StreamEntry.decode(tail, f'{self.journal.directory} last record')
                self.encoder.events_clock.advance_to(parse_id(entry.entry_id))
                last_seq = int(str(entry.fields.get('seq', '0')) or 0)
            except (AuditError, ValueError) as exc:  # counted and skipped when drained
                _LOG.error('mirror journal: its last record is malformed (%s): IDs continue '
                           'from Redis and the clock', exc)
        self.sink.try_connect()
        self.encoder.last_seq = max(last_seq, self.encoder.last_seq)
        return self.encoder.last_seq

    def write(self, entries: List[StreamEntry]) -> None:
        """
        Send a batch to Redis, or journal it (behind what the journal holds); drain some.

        When this returns, each entry is in Redis or in the journal, or held in memory (in
        order, ahead of anything newer) because the journal refused it (full or failing):
        ``held`` says how many, and a caller feeding batches should stop taking new ones
        until it is 0 again (call ``write([])`` to retry).
        """
        entries = self.spool.held + entries  # spool() / release_held() set what stays held
        if self.journal.pending or not self.sink.ok():
            self.spool.spool(entries)
            self.spool.drain_some()
        elif entries:
            self._send_or_spool(entries)

    def _send_or_spool(self, entries: List[StreamEntry]) -> None:
        """Send a batch; journal it when Redis did not take it or sending failed at all."""
        try:
            sent = self.sink.send(entries)
        except Exception as exc:  # a bug or a value Redis cannot take: keep the batch
            self.counts.counters['writer_errors'] += 1
            self.counts.last_error = f'{type(exc).__name__}: {exc}'
            self.counts.log_limited('send', f'mirror writer: sending a batch failed '
                                    f'({self.counts.last_error}); {len(entries)} event(s) '
                                    'journaled instead')
            sent = False
        if sent:
            self.spool.release_held()
        else:
            self.spool.spool(entries)

    def write_packed(self, xadds: bytes, commands: int, keys: List[str], last_id: str,
                     last_seq: int, entries: Callable[[], List[StreamEntry]]) -> None:
        """
        Write a batch packed by the native packer as :meth:`write` writes ``entries()``.

        The packed batch goes to Redis when nothing waits before it (no held entries, an
        empty journal, Redis up); otherwise, and when sending fails, the batch's entries
        (made only then) take :meth:`write`'s path: the same order, journal and counters.
        """
        if self.spool.held or self.journal.pending or not self.sink.ok():
            self.write(entries())
            return
        try:
            sent = self.sink.send_packed(xadds, commands, keys, last_id, last_seq)
        except Exception as exc:  # a bug or a value Redis cannot take: keep the batch
            self.counts.counters['writer_errors'] += 1
            self.counts.last_error = f'{type(exc).__name__}: {exc}'
            self.counts.log_limited('send', f'mirror writer: sending a batch failed '
                                    f'({self.counts.last_error}); {commands} command(s) '
                                    'journaled instead')
            sent = False
        if not sent:
            self.spool.spool(entries())

    def lose(self, entries: List[StreamEntry]) -> None:
        """At stop: count and report the held entries and ``entries``, which are lost."""
        self.spool.lose(entries)

    def close(self) -> None:
        """Close the journal's open segment and the connection."""
        self.journal.close()
        self.sink.close()

    def snapshot(self, queue_depth: int = 0, queue_capacity: int = 0) -> Dict[str, Any]:
        """Return the counters and state (for diagnostics and tests), with the queue's."""
        counts = self.counts
        journal = self.journal
        out: Dict[str, Any] = dict(counts.counters)
        out.update({'connected': self.sink.connected, 'url': self.url,
                    'queue_depth': queue_depth, 'queue_capacity': queue_capacity,
                    'held': len(self.spool.held),
                    'dropped_by_tier': dict(counts.dropped_by_tier),
                    'journal_error': self.spool.journal_error,
                    'journal_pending': journal.pending,
                    'journal_bytes': journal.size_bytes,
                    'journal_max_bytes': journal.max_bytes,
                    'durable': out['written'] - out['drained'] + out['journaled'],
                    'last_error': counts.last_error})
        return out


def journal_for(settings: RedisSettings, state_dir: pathlib.Path) -> Journal:
    """Return the journal of ``settings`` under ``state_dir``."""
    return Journal(pathlib.Path(state_dir) / JOURNAL_DIR, settings.journal_max_bytes,
                   settings.journal_segment_bytes, settings.journal_fsync)
