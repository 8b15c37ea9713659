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
The journal spool: batches Redis did not take, on disk in order, delivered once it answers.

:meth:`JournalSpool.spool` appends a batch to the journal (:mod:`.journal`); what the
journal cannot take (at its bound ``redis.journal_max_bytes``, or the file system refused the
write: disk full, I/O error) is **held** in memory, in order, ahead of anything newer, and
retried: the caller stops taking new batches while anything is held.
:meth:`JournalSpool.drain_some` sends one batch of journaled entries (oldest first) through
the :class:`~unity_kernel_core.audit.redis_sink.RedisSink` and releases them from the journal
once Redis took them. Damage the journal found (when it was opened, or a record that changed
on disk since it was written) is counted in ``journal_corrupt``, one per damaged place: the
journal moved it aside and kept every intact record.
"""

import logging
import pathlib
from typing import List, Optional

from unity_kernel_core.audit.counters import WriterCounts
from unity_kernel_core.audit.journal import Journal, JournalError, JournalWriteError
from unity_kernel_core.audit.record import AuditError, StreamEntry
from unity_kernel_core.audit.redis_sink import RedisSink

_LOG = logging.getLogger('unity_kernel.mirror')


class JournalSpool:
    """The journal of one writer, the entries it holds in memory, and the drain to Redis."""

    def __init__(self, journal: Journal, sink: RedisSink, batch_size: int,
                 counts: WriterCounts) -> None:
        self.journal = journal
        self._sink = sink
        self._batch = batch_size
        self._counts = counts
        self.held: List[StreamEntry] = []
        """Entries the journal could not take (disk full): sent or journaled before newer."""
        self._held_reason = 'journal_errors'
        self.journal_error = ''
        """Why the journal refused the entries held now ('' when nothing is held)."""
        self._damaged = 0
        self.count_damage()

    def count_damage(self) -> None:
        """Count the damaged places the journal found since the last call."""
        self._counts.counters['journal_corrupt'] += self.journal.damaged - self._damaged
        self._damaged = self.journal.damaged

    @property
    def directory(self) -> pathlib.Path:
        """Return the journal's directory."""
        return self.journal.directory

    def release_held(self) -> None:
        """Forget the held entries: they were sent."""
        self.held = []
        self.journal_error = ''

    def spool(self, entries: List[StreamEntry]) -> None:
        """Journal entries; what the journal cannot take is held, in order, for the next try."""
        if not entries:
            self.held = []
            return
        error: Optional[Exception] = None
        try:
            stored = self.journal.append([e.encode() for e in entries])
        except JournalWriteError as exc:  # disk full, I/O error: what was stored is counted
            stored, error = exc.stored, exc
        except OSError as exc:  # permissions on the directory, and the like
            stored, error = 0, exc
        self._counts.counters['journaled'] += stored
        rest = entries[stored:]
        self.held = rest
        if not rest:
            self.journal_error = ''
            return
        counts = self._counts
        if error is not None:
            self._held_reason = 'journal_errors'
            self.journal_error = counts.last_error = f'journal: {error}'
            counts.log_limited('journal-io', f'cannot write the mirror journal '
                               f'{self.journal.directory}: {error}; {len(rest)} event(s) held '
                               'in memory, retried')
        else:
            self._held_reason = 'dropped_journal_full'
            self.journal_error = counts.last_error = (
                f'journal full ({self.journal.size_bytes} of {self.journal.max_bytes} bytes)')
            counts.log_limited('full', f'mirror journal {self.journal.directory} is full '
                               f'({self.journal.size_bytes} of {self.journal.max_bytes} '
                               f'bytes): {len(rest)} event(s) held in memory, retried')

    def drain_some(self) -> None:
        """Send one batch from the journal (oldest first) if Redis answers."""
        journal = self.journal
        if not journal.pending or not self._sink.ok():
            return
        try:
            records, cursor = journal.read(self._batch)
        except JournalError as exc:  # changed on disk: keep every intact record
            _LOG.warning('mirror journal: %s: checking it again', exc)
            lost = journal.repair()
            self.count_damage()
            if lost:
                _LOG.warning('mirror journal %s: %d record(s) lost in the damage',
                             journal.directory, lost)
            return
        entries: List[StreamEntry] = []
        for i, record in enumerate(records):
            try:
                entries.append(StreamEntry.decode(record, f'{journal.directory} record'))
            except AuditError as exc:
                self._counts.counters['journal_corrupt'] += 1
                self._counts.log_limited('corrupt', f'skipping journal record {i}: {exc}')
        if self._sink.send(entries):
            journal.commit(cursor)
            self._counts.counters['drained'] += len(records)
            if not journal.pending:
                _LOG.info('mirror journal drained: Redis at %s is up to date', self._sink.url)

    def lose(self, entries: List[StreamEntry]) -> None:
        """At stop, count (per tier) and report what could be neither sent nor journaled."""
        lost = self.held + entries
        self.held = []
        if not lost:
            return
        for entry in lost:
            self._counts.drop(str(entry.fields.get('tier', 'NORMAL')), self._held_reason)
        _LOG.error('mirror stopped with %d event(s) neither in Redis nor in the journal (%s): '
                   'lost', len(lost), self.journal_error or self._counts.last_error)
