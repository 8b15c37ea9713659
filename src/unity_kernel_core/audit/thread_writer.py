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
The thread writer (``redis.writer: thread``): the tap queue and a writer thread in the kernel.

Off the ROS callback path: the bus tap only appends the event to the bounded
:class:`~.tap_queue.TapQueue` (``redis.queue_size``; CRITICAL events are never dropped
there). One writer thread takes batches of up to ``redis.batch_size`` events, or what is
there once the oldest waited ``redis.flush_interval_ms``, encodes them and hands them to the
:class:`~.batch_writer.BatchWriter` (Redis, or the journal while Redis is away). Clean
shutdown sends what is queued, or journals it; events still queued when the kernel is killed
are lost (the writer process, the default, keeps them in its ring instead).

Disk full: what the journal cannot take stays in memory, in order, ahead of anything newer
(at most ``queue_size`` entries; beyond that the writer stops taking from the queue, so the
tap's bound applies), is retried every ``reconnect_interval_ms``, and goes straight to Redis
when it answers.
"""

import logging
import pathlib
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from unity_kernel_core.audit.batch_writer import BatchWriter
from unity_kernel_core.audit.record import StreamEntry
from unity_kernel_core.audit.tap_queue import TapQueue
from unity_kernel_core.bus.event_bus import DeadLetter
from unity_kernel_core.bus.events import Event
from unity_kernel_core.common.shutdown import stop_budget
from unity_kernel_core.config.kernel_config import KernelConfig, TopicRoutes

_LOG = logging.getLogger('unity_kernel.mirror')


class MirrorWriter:
    """The tap queue, the writer thread and its batch writer (no ROS)."""

    @classmethod
    def for_config(cls, config: KernelConfig, state_dir: pathlib.Path) -> 'MirrorWriter':
        """Return the thread writer of ``config``, around ``BatchWriter.for_config``'s."""
        return cls(BatchWriter.for_config(config, state_dir))

    def __init__(self, writer: BatchWriter) -> None:
        self._writer = writer
        self.settings, self.keys, self.journal = writer.settings, writer.keys, writer.journal
        self.url = writer.url
        settings = self.settings
        self._queue = TapQueue(settings.queue_size, settings.batch_size,
                               settings.flush_interval_ms, self._writer.counts)
        self.offer: Callable[[Event], None] = self._queue.offer
        """Queue one bus event (the bus tap; runs under the bus's sequence lock)."""
        self.offer_dead_letter: Callable[[DeadLetter], None] = self._queue.offer_dead_letter
        """Queue one dead letter (the bus's dead-letter sink)."""
        self._retry_s = settings.reconnect_interval_ms / 1000.0
        self._stop_deadline = 0.0
        self._thread: Optional[threading.Thread] = None

    # -- what the component and the tests read -----------------------------------------------

    @property
    def journal_dir(self) -> pathlib.Path:
        """Return the journal's directory."""
        return self.journal.directory

    @property
    def routes(self) -> TopicRoutes:
        """Return the topic rules (mirror on/off, retention)."""
        return self._writer.routes

    @routes.setter
    def routes(self, routes: TopicRoutes) -> None:
        self._writer.routes = routes

    @property
    def counters(self) -> Dict[str, int]:
        """Return the counters, by name (see ``counters.COUNTERS``)."""
        return self._writer.counts.counters

    @property
    def connected(self) -> bool:
        """Return True while Redis takes the batches."""
        return self._writer.connected

    @property
    def held(self) -> int:
        """Return how many entries wait in memory because the journal refused them."""
        return self._writer.held

    @property
    def last_seq(self) -> int:
        """Return the kernel seq of the last event encoded (or found in Redis or the journal)."""
        return self._writer.encoder.last_seq

    def reconfigure(self, config: KernelConfig) -> None:
        """Apply new topic rules (mirror on/off, retention)."""
        self.routes = config.routes

    # -- lifecycle ---------------------------------------------------------------------------

    def prime(self) -> int:
        """Seed the ID clocks from the journal and Redis; return the last kernel seq known."""
        return self._writer.prime()

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name='mirror-writer', daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Send or journal everything queued, drain the journal while time allows, stop."""
        self._stop_deadline = time.monotonic() + stop_budget(timeout)
        self._queue.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                _LOG.error('mirror writer did not stop within %.1fs: %d queued event(s) '
                           'may be lost', timeout, len(self._queue))
        self._writer.close()

    def write(self, entries: List[StreamEntry]) -> None:
        """Send a batch to Redis or journal it: :meth:`.BatchWriter.write`."""
        self._writer.write(entries)

    def _send(self, entries: List[StreamEntry]) -> bool:
        """Send one batch to Redis, nothing else (the tests of the pipeline call it)."""
        return self._writer.sink.send(entries)

    # -- the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        writer, queue, journal = self._writer, self._queue, self.journal
        while True:
            try:
                held = writer.held
                items = queue.collect(
                    self.settings.queue_size - held, bool(journal.pending) and writer.connected,
                    bool(journal.pending or held), self._retry_s)
                writer.write(writer.encoder.encode(items))
            except Exception as exc:  # the writer must outlive any one bad batch; say so
                writer.counts.counters['writer_errors'] += 1
                writer.counts.last_error = f'{type(exc).__name__}: {exc}'
                _LOG.exception('mirror writer: unexpected error (continuing)')
                time.sleep(self._retry_s)
            if queue.stopping:
                late = time.monotonic() > self._stop_deadline
                if not len(queue) and not writer.held and (
                        not journal.pending or not writer.connected or late):
                    break
                if late and writer.held:  # neither Redis nor the journal takes them
                    break
        self.lose_held()

    def lose_held(self) -> None:
        """At stop, count (per tier) and report what could be neither sent nor journaled."""
        self._writer.lose(self._writer.encoder.encode(self._queue.take_all()))

    # -- reporting ---------------------------------------------------------------------------

    def snapshot(self) -> Dict[str, Any]:
        """Return the counters and state (for diagnostics and tests)."""
        return self._writer.snapshot(len(self._queue), self._queue.capacity)
