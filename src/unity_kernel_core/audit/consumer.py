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
Consume the audit trail through a Redis consumer group, at least once.

``AuditConsumer`` reads the topic streams matching a pattern as one member (``consumer``) of
a group (``group``). A record is acknowledged (XACK) only after the handler returned, so:

- a consumer that crashes mid-batch finds the unacknowledged entries again when it starts
  with the same name (it first re-reads its own pending entries), in stream order;
- a consumer that never comes back loses its pending entries to another member of the group:
  entries idle for ``claim_idle_ms`` are taken over with XAUTOCLAIM;
- hence at-least-once: every entry is handled, and one that was being handled when its
  consumer died may be handled twice (make handlers idempotent, e.g. by ``record.seq`` or
  ``record.entry_id``).

A handler that raises is retried at the next poll, up to ``max_attempts``; then the entry is
acknowledged and passed to ``on_failed`` (so one poison entry cannot stall the group). A
malformed entry is acknowledged and passed to ``on_bad``.
"""

import collections
import logging
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import redis

from unity_kernel_core.audit.record import (AuditEntryError, AuditError, AuditRecord,
                                            parse_id, StreamKeys, text_of)
from unity_kernel_core.bus.patterns import compile_pattern

_LOG = logging.getLogger('unity_kernel.consumer')

Handler = Callable[[AuditRecord], Any]
Entry = Tuple[str, str, Any]  # stream key, entry ID, fields


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class AuditConsumer:
    """One member of a consumer group over the audit trail's topic streams."""

    def __init__(self, client: 'redis.Redis', keys: StreamKeys, group: str, consumer: str,
                 pattern: str = '/**', *, claim_idle_ms: int = 30000, batch: int = 100,
                 block_ms: int = 500, start_id: str = '0', max_attempts: int = 5,
                 on_bad: Optional[Callable[[str, str, str], None]] = None,
                 on_failed: Optional[Callable[[AuditRecord, str], None]] = None) -> None:
        self.client = client
        self.keys = keys
        self.group = group
        self.consumer = consumer
        self._regex = compile_pattern(pattern)
        self.claim_idle_ms = claim_idle_ms
        self.batch = batch
        self.block_ms = block_ms
        self.start_id = start_id
        self.max_attempts = max_attempts
        self.on_bad = on_bad
        self.on_failed = on_failed
        self._streams: List[str] = []
        self._bad_keys: Set[str] = set()
        self._resume = True
        self._attempts: Dict[str, int] = collections.Counter()
        self.handled = 0
        self.claimed = 0

    def refresh(self) -> List[str]:
        """Find topic streams matching the pattern and create the group on new ones."""
        for raw in sorted(self.client.smembers(self.keys.streams)):
            try:
                key = raw.decode('utf-8') if isinstance(raw, bytes) else str(raw)
            except UnicodeDecodeError:  # anyone who can write to Redis can add one
                shown = text_of(raw)
                if shown not in self._bad_keys:
                    self._bad_keys.add(shown)
                    _LOG.error('consumer %s: stream name %s in %s is not UTF-8: skipped',
                               self.group, shown, self.keys.streams)
                    if self.on_bad is not None:
                        self.on_bad(shown, '', 'its name is not UTF-8')
                continue
            if key in self._streams or key in self._bad_keys:
                continue
            try:
                topic = self.keys.topic_of(key)
            except AuditError:
                continue
            if not self._regex.match(topic):
                continue
            try:
                self.client.xgroup_create(key, self.group, id=self.start_id, mkstream=True)
            except redis.ResponseError as exc:
                if 'BUSYGROUP' not in str(exc):  # e.g. WRONGTYPE: the key is no stream
                    self._bad_keys.add(key)
                    _LOG.error('consumer %s: cannot read %s as a stream (%s): skipped',
                               self.group, key, exc)
                    if self.on_bad is not None:
                        self.on_bad(key, '', f'cannot read it as a stream ({exc})')
                    continue
            self._streams.append(key)
        return list(self._streams)

    def _read(self, ids: str, block: Optional[int]) -> List[Entry]:
        if not self._streams:
            return []
        reply: Any = self.client.xreadgroup(self.group, self.consumer,
                                            {k: ids for k in self._streams},
                                            count=self.batch, block=block)
        out: List[Entry] = []
        for key, entries in reply or []:
            for entry_id, fields in entries:
                if fields:  # a pending entry deleted by trimming comes back empty
                    out.append((_text(key), _text(entry_id), fields))
                else:
                    self.client.xack(_text(key), self.group, entry_id)
        return out

    def _claim(self) -> List[Entry]:
        out: List[Entry] = []
        for key in self._streams:
            reply: Any = self.client.xautoclaim(key, self.group, self.consumer,
                                                self.claim_idle_ms, start_id='0-0',
                                                count=self.batch)
            for entry_id, fields in reply[1]:
                if fields:
                    out.append((key, _text(entry_id), fields))
            self.claimed += len(reply[1])
        return out

    def poll(self, handler: Handler) -> int:
        """Handle one batch (own pending after a restart, claimed, then new); return count."""
        self.refresh()
        entries: List[Entry] = []
        if self._resume:
            entries = self._read('0', None)
            if len(entries) < self.batch:
                self._resume = False
        if not entries:
            entries = self._claim() or self._read('>', self.block_ms)
        entries.sort(key=lambda e: parse_id(e[1]))
        done = 0
        for key, entry_id, fields in entries:
            try:
                record = AuditRecord.from_entry(entry_id, fields, where=key)
            except AuditEntryError as exc:
                _LOG.error('consumer %s/%s: %s (acknowledged, skipped)', self.group,
                           self.consumer, exc)
                if self.on_bad is not None:
                    self.on_bad(key, entry_id, str(exc))
                self.client.xack(key, self.group, entry_id)
                continue
            try:
                handler(record)
            except Exception as exc:  # handlers are user code: retry, then give up loudly
                self._attempts[entry_id] += 1
                self._resume = True
                if self._attempts[entry_id] < self.max_attempts:
                    _LOG.warning('consumer handler failed on %s %s (attempt %d): %s', key,
                                 entry_id, self._attempts[entry_id], exc)
                    break  # keep stream order: retry this one first at the next poll
                _LOG.error('consumer handler failed %d times on %s %s: %s; acknowledged',
                           self.max_attempts, key, entry_id, exc)
                if self.on_failed is not None:
                    self.on_failed(record, f'{type(exc).__name__}: {exc}')
            self._attempts.pop(entry_id, None)
            self.client.xack(key, self.group, entry_id)
            done += 1
        self.handled += done
        return done

    def run(self, handler: Handler, should_stop: Callable[[], bool],
            idle_sleep: float = 0.2) -> None:
        """Poll until ``should_stop()`` is true."""
        while not should_stop():
            if not self.poll(handler) and not self._streams:
                time.sleep(idle_sleep)
