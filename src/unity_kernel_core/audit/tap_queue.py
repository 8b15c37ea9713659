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
The thread writer's tap queue: bus events and dead letters, bounded, in sequence order.

The bus tap (:meth:`TapQueue.offer`) and the dead-letter sink only append to a deque and
never block, except for CRITICAL events: when the queue holds ``redis.queue_size`` items an
event is not mirrored (``dropped_queue``, per tier in ``dropped_by_tier``), but a CRITICAL
one may use a reserve of another ``queue_size``, and when even that is full the publishing
thread waits for the writer to make room (the CRITICAL tier's BLOCK policy); only a stopping
writer gives up waiting. The writer thread takes batches with :meth:`TapQueue.collect`.
"""

import collections
import logging
import threading
import time
from typing import Deque, List, Union

from unity_kernel_core.audit.counters import WriterCounts
from unity_kernel_core.bus.event_bus import DeadLetter
from unity_kernel_core.bus.events import Event, Tier

_LOG = logging.getLogger('unity_kernel.mirror')

Item = Union[Event, DeadLetter]
"""What the tap queue holds: a bus event or a dead letter."""


def _mono_ns(item: Item) -> int:
    return item.mono_ns if isinstance(item, Event) else item.event.mono_ns


class TapQueue:
    """The bounded queue between the bus tap and the writer thread."""

    def __init__(self, capacity: int, batch_size: int, flush_interval_ms: float,
                 counts: WriterCounts) -> None:
        self.capacity = capacity
        self._batch = batch_size
        self._flush_ns = int(flush_interval_ms * 1e6)
        self._counts = counts
        self._queue: Deque[Item] = collections.deque()
        self._room = threading.Condition()
        self._waiters = 0
        self._wake = threading.Event()
        self.stopping = False
        """Set by :meth:`stop`: CRITICAL publishers stop waiting, batches are not awaited."""

    def __len__(self) -> int:
        """Return how many items are queued."""
        return len(self._queue)

    # -- the bus side (any thread; must not block) -------------------------------------------

    def offer(self, event: Event) -> None:
        """Queue one bus event (the bus tap; runs under the bus's sequence lock)."""
        queue = self._queue
        if len(queue) >= self.capacity:
            if event.tier is Tier.CRITICAL:
                self._offer_critical(event)
                return
            self._counts.drop(event.tier.name)
            return
        queue.append(event)
        if len(queue) >= self._batch:
            self._wake.set()

    def offer_dead_letter(self, letter: DeadLetter) -> None:
        """Queue one dead letter (the bus's dead-letter sink)."""
        if len(self._queue) >= self.capacity:
            if letter.event.tier is Tier.CRITICAL:
                self._offer_critical(letter)
                return
            self._counts.drop(letter.event.tier.name)
            _LOG.error('mirror queue full: dead letter of %r not recorded', letter.event)
            return
        self._queue.append(letter)
        self._wake.set()

    def _offer_critical(self, item: Item) -> None:
        """Queue a CRITICAL item past the bound: a reserve, then wait for room; never drop."""
        if len(self._queue) >= 2 * self.capacity and not self.stopping:
            self._counts.counters['critical_waits'] += 1
            self._counts.log_limited(
                'critical-wait', 'mirror queue and its CRITICAL reserve are full '
                f'({len(self._queue)} entries): a CRITICAL publisher waits for the writer')
            with self._room:
                self._waiters += 1
                try:
                    while len(self._queue) >= 2 * self.capacity and not self.stopping:
                        self._wake.set()
                        self._room.wait(0.1)
                finally:
                    self._waiters -= 1
        self._queue.append(item)
        self._wake.set()

    # -- the writer side ---------------------------------------------------------------------

    def stop(self) -> None:
        """Say the writer is stopping: nothing waits for a full batch or for room any more."""
        self.stopping = True
        self._wake.set()

    def collect(self, room: int, draining: bool, backlog: bool, retry_s: float) -> List[Item]:
        """
        Return the next batch: up to ``batch_size`` items, at most ``room``.

        Waits until a batch is full, or the oldest item waited ``flush_interval_ms``; not
        at all while ``draining`` (a journal is being sent: take what is there); at most
        ``retry_s`` when the queue is empty and a ``backlog`` (journal or held entries)
        waits, so that it is retried even when no event arrives. With no ``room`` (the
        journal refuses and Redis is away) it waits ``retry_s`` and returns nothing, so the
        tap's bound applies.
        """
        queue = self._queue
        if room <= 0:
            self._wake.wait(min(retry_s, 0.05) if self.stopping else retry_s)
            self._wake.clear()
            return []
        while not self.stopping:
            n = len(queue)
            if n >= self._batch or draining:
                break
            if n:
                wait_ns = self._flush_ns - (time.monotonic_ns() - _mono_ns(queue[0]))
                if wait_ns <= 0:
                    break
                self._wake.wait(wait_ns / 1e9)
            elif backlog:
                self._wake.wait(retry_s)
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

    def take_all(self) -> List[Item]:
        """Return and remove everything queued (a stopped writer counts what it lost)."""
        items = list(self._queue)
        self._queue.clear()
        return items
