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
The kernel's side of the writer process: the bus tap into the ring, and its supervisor.

The tap (:meth:`ProcessWriter.offer`, on the publishing thread under the bus's sequence lock)
issues the event's entry ID and copies a ring record (:mod:`unity_kernel_core.audit.encoder`)
into the shared-memory ring; it never waits, except for a CRITICAL event when the ring is
full (it waits for the writer, as the CRITICAL tier's BLOCK policy does). Where the native
extension is built the record is written by a native producer (``unity_kernel_core.native``:
the same record, its entry ID from the producer's clock); with the native intake that
producer is the bus's sequencer, whose threads write DDS messages into the ring too. The supervisor
starts the writer process, waits until it is ready, and restarts it whenever it exits
(backing off while it keeps failing); its status lines are the counters it reports.
"""

import functools
import logging
import os
import pathlib
import subprocess
import threading
import time
from typing import Any, Callable, Dict, Optional

from unity_kernel_core import native
from unity_kernel_core.audit.batch_writer import JOURNAL_DIR
from unity_kernel_core.audit.counters import COUNTERS, WriterCounts
from unity_kernel_core.audit.encoder import EntryEncoder
from unity_kernel_core.audit.record import AuditError, StreamKeys
from unity_kernel_core.audit.ring import Ring, RingError
from unity_kernel_core.audit.writer_process import ring_file
from unity_kernel_core.audit.writer_process.protocol import (command, config_line,
                                                             LineReader, parse_line, READY,
                                                             Ready, STATUS)
from unity_kernel_core.bus.event_bus import DeadLetter
from unity_kernel_core.bus.events import Event, Tier
from unity_kernel_core.common.backoff import BackoffCounter, StepBackoff
from unity_kernel_core.common.credentials import redact_url
from unity_kernel_core.config.kernel_config import KernelConfig, TopicRoutes
from unity_kernel_core.errors import StateFileError

_LOG = logging.getLogger('unity_kernel.mirror')

READY_TIMEOUT_S = 30.0
RESTART_BACKOFF = StepBackoff((0.2, 0.5, 1.0, 2.0, 5.0))
"""How long the supervisor waits before restarting a writer process that keeps failing."""
STEADY_S = 30.0
"""A writer process that ran this long before it ended starts the back-off again."""

PARENT_COUNTERS = ('skipped', 'unencodable', 'dropped_queue', 'critical_waits')
"""Counted by the kernel's tap; every other counter is the writer process's."""


def default_producer(config: KernelConfig) -> Optional[Any]:
    """
    Return a native producer of its own for a :class:`ProcessWriter` of ``config``, or None.

    With ``redis.writer: process`` and the extension built, the tap's records are written in
    C; otherwise (``process-python``, or not built) by :meth:`Ring.put`.
    """
    if config.redis.writer != 'process':
        return None
    core = native.core()
    if core is None:
        _LOG.warning('the audit ring is written by the Python tap: %s', native.why_not('_core'))
        return None
    return core.Producer()


class ProcessWriter:
    """
    The kernel's side: the bus tap into the ring, and the supervisor of the writer process.

    Offers the interface the :class:`~unity_kernel_core.audit.mirror.Mirror` uses of a
    writer (prime, start, offer, offer_dead_letter, stop, snapshot).

    ``producer``: the native producer (``unity_kernel_core.native``) that writes the ring's
    records instead of :class:`Ring`'s Python code, issuing the entry IDs in its own clock:
    the bus's sequencer with the native intake (whose threads write through it too); None:
    :func:`default_producer`'s choice.
    """

    def __init__(self, config: KernelConfig, state_dir: pathlib.Path,
                 producer: Optional[Any] = None) -> None:
        self.config = config
        self.settings = config.redis
        self.keys = StreamKeys.of(config)
        self.state_dir = pathlib.Path(state_dir)
        self.journal_dir = self.state_dir / JOURNAL_DIR
        self.url = redact_url(config.redis.url)
        self._producer = producer if producer is not None else default_producer(config)
        self._held_ring: Optional[Ring] = None
        self._lock = threading.Lock()
        self._counts = WriterCounts()
        self._encoder = EntryEncoder(self.keys, config.routes, self._counts)
        self._child: Dict[str, Any] = {}
        self._ended: Dict[str, int] = dict.fromkeys(COUNTERS + ('durable',), 0)
        """The counters of writer processes that ended (each process counts from 0)."""
        self._proc: Optional[subprocess.Popen] = None
        self._lines: Optional[LineReader] = None
        self._stopping = False
        self._watcher: Optional[threading.Thread] = None
        self.restarts = 0
        self.last_exit = ''
        self.last_seq = 0

    @property
    def _ring(self) -> Optional[Ring]:
        """Return the ring the tap writes into (None before prime and after stop)."""
        return self._held_ring

    @_ring.setter
    def _ring(self, ring: Optional[Ring]) -> None:
        """Hold ``ring``: a native producer writes into it from now on (and no other)."""
        producer = self._producer
        if producer is not None and producer.attached:
            producer.detach()
        self._held_ring = ring
        if producer is not None and ring is not None:
            producer.attach(ring.buffer, self._encoder.events_clock.last)

    @property
    def routes(self) -> TopicRoutes:
        """Return the topic rules (which topics are mirrored)."""
        return self._encoder.routes

    @property
    def counters(self) -> Dict[str, int]:
        """Return the counters of the tap, by name (it counts ``PARENT_COUNTERS``)."""
        return self._counts.counters

    @property
    def dropped_by_tier(self) -> Dict[str, int]:
        """
        Return the events the tap could not put in the ring, by tier.

        CRITICAL only when one is larger than the whole ring (``redis.ring_bytes``), or is
        offered while the kernel stops: otherwise it waits for room.
        """
        return self._counts.dropped_by_tier

    # -- lifecycle ---------------------------------------------------------------------------

    def prime(self) -> int:
        """Start the writer process, wait until it is ready; return the last seq it knows."""
        ready = self._spawn('start')
        self._encoder.resume_after(ready.last_id, ready.dead_last_id, ready.last_seq)
        path = pathlib.Path(ready.ring)
        try:
            if path != ring_file.recorded(self.state_dir):
                raise RingError(f'{path} is not the ring recorded in {self.state_dir}')
            self._ring = Ring.open(path)
        except (RingError, StateFileError) as exc:
            raise AuditError(f'the audit writer ring: {exc}') from None
        self.last_seq = ready.last_seq
        return self.last_seq

    def start(self) -> None:
        """Start supervising the writer process (restart it whenever it exits)."""
        self._watcher = threading.Thread(target=self._watch, name='mirror-writer-supervisor',
                                         daemon=True)
        self._watcher.start()

    def stop(self, timeout: float) -> None:
        """Tell the writer nothing more comes, wait for it to write everything out and exit."""
        self._stopping = True
        ring = self._ring
        if self._producer is not None:  # nothing more goes in, natively either
            self._producer.set_stopping(True)
            self._producer.detach()
        if ring is not None:
            ring.set_closing()
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _LOG.error('audit writer process %d did not finish within %.1fs: killing it; '
                           '%d byte(s) of events stay in %s for the next start', proc.pid,
                           timeout, ring.used if ring else 0,
                           ring.path if ring else 'the ring')
                proc.kill()
                proc.wait()
        if self._watcher is not None:
            self._watcher.join(timeout)
        if ring is not None:
            self._ring = None
            ring.close()

    def reconfigure(self, config: KernelConfig) -> None:
        """Apply new topic rules here and in the writer process."""
        self.config = config
        self._encoder.routes = config.routes
        self._send_config(self._proc)

    # -- the bus tap (publisher threads; must not block) -------------------------------------

    def offer(self, event: Event) -> None:
        """Copy one bus event into the ring (the bus tap; runs under the bus's sequence lock)."""
        encoder = self._encoder
        spec = encoder.cached_spec(event.topic)
        if spec is None or spec.type_name != event.type_name or spec.tier is not event.tier:
            spec = encoder.topic_spec(event)
        record_head = spec.record_head
        if record_head is None:
            self._counts.counters['skipped'] += 1
            return
        try:
            cdr = event.cdr
        except Exception as exc:  # a payload that will not serialize must not stop intake
            encoder.unencodable(event, exc)
            return
        if cdr is None:
            encoder.unencodable(event, None)
            return
        producer = self._producer
        if producer is not None:  # the native producer issues the ID and writes the record
            put = functools.partial(producer.put_event, int(event.tier), event.topic.encode(),
                                    event.type_name.encode(), event.seq, event.stamp_ns, cdr)
            done = put()
            if done != 1:
                self._not_put(event.tier, put, done)
            return
        with self._lock:
            head = record_head(event, len(cdr))
            ring = self._ring
            if ring is None or not ring.put2(head, cdr):
                if ring is not None and not ring.fits(len(head) + len(cdr)):
                    self._too_large(event.tier)  # it would wait forever
                elif event.tier is Tier.CRITICAL and ring is not None:
                    self._put_critical(functools.partial(ring.put, (head, cdr)))
                else:
                    self._counts.drop(event.tier.name)  # full, or offered after stop()

    def offer_dead_letter(self, letter: DeadLetter) -> None:
        """Copy one dead letter into the ring (the bus's dead-letter sink)."""
        event = letter.event
        with self._lock:
            parts = self._encoder.ring_dead_letter(letter)
            producer = self._producer
            if producer is not None:
                put = functools.partial(producer.put_record, b''.join(parts))
                done = put()
                if done != 1:
                    self._not_put(event.tier, put, done)
                return
            ring = self._ring
            if ring is None or not ring.put(parts):
                if ring is not None and not ring.fits(sum(map(len, parts))):
                    self._too_large(event.tier)  # it would wait forever
                    return
                if event.tier is Tier.CRITICAL and ring is not None:
                    self._put_critical(functools.partial(ring.put, parts))
                    return
                self._counts.drop(event.tier.name)
                _LOG.error('mirror ring full: dead letter of %r not recorded', event)

    def _not_put(self, tier: Tier, put: Callable[[], int], done: int) -> None:
        """
        Handle a record the native producer did not take (``done`` 0: no room, -1: never).

        CRITICAL waits for room; everything else, and a record larger than the ring (or one
        offered after stop()), is not mirrored and counted.
        """
        if done == 0 and tier is Tier.CRITICAL and self._ring is not None:
            self._put_critical(put)
            return
        if done == -1 and not self._stopping:
            self._too_large(tier)
            return
        self._counts.drop(tier.name)

    def _too_large(self, tier: Tier) -> None:
        """Count a record larger than the ring (any tier: no wait can make room for it)."""
        self._counts.log_limited('too-large', f'a {tier.name} event larger than the mirror '
                                 f'ring (redis.ring_bytes {self.settings.ring_bytes}) is '
                                 'not recorded')
        self._counts.drop(tier.name)

    def _put_critical(self, put: Callable[[], Any]) -> None:
        """
        Wait until a CRITICAL record fits in the ring: it is never dropped by the tap.

        The publishing thread waits (the CRITICAL tier's BLOCK policy) while the writer
        process empties the ring; only a kernel that is stopping gives up, and says so.
        ``put`` writes the record: True or 1 when it did (-1: the native producer was
        detached, as at stop).
        """
        self._counts.counters['critical_waits'] += 1
        _LOG.error('mirror ring full: a CRITICAL event waits for the audit writer')
        ring = self._ring
        while ring is not None:
            done = put()
            if done is True or done == 1:
                return
            if self._stopping or done == -1:
                self._counts.drop(Tier.CRITICAL.name)
                _LOG.error('mirror ring full while stopping: a CRITICAL event not recorded')
                return
            time.sleep(0.001)

    # -- the writer process ------------------------------------------------------------------

    def _spawn(self, mode: str) -> Ready:
        """
        Start a writer process and wait until it says it is ready; AuditError when it does not.

        The wait is bounded: ``READY_TIMEOUT_S`` plus the connect timeout, however little the
        process says (a silent process is killed when the time is up).
        """
        import unity_kernel_core
        src = str(pathlib.Path(unity_kernel_core.__file__).resolve().parent.parent)
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            p for p in (src, env.get('PYTHONPATH', '')) if p)
        proc = subprocess.Popen(command(mode, self.state_dir), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=env, close_fds=True)
        self._send_config(proc)
        assert proc.stdout is not None
        lines = LineReader(proc.stdout.fileno())
        timeout = READY_TIMEOUT_S + self.settings.connect_timeout_s
        deadline = time.monotonic() + timeout
        why = f'it said nothing within {timeout:g}s'
        try:
            while True:
                line = lines.readline(deadline - time.monotonic())
                if line is None:
                    break
                if not line:
                    why = 'it exited'
                    break
                kind, fields = parse_line(line)
                if kind == READY:
                    ready = Ready.of(fields)
                    _LOG.info('audit writer process %d ready (%s)', proc.pid, mode)
                    self._proc, self._lines = proc, lines
                    return ready
                if kind == STATUS:
                    self._child = fields
        except (AuditError, ValueError) as exc:
            why = f'it is out of step ({exc})'
        proc.kill()
        proc.wait()
        raise AuditError(f'the audit writer process did not start: {why} (exit code '
                         f'{proc.returncode}); see its log lines above')

    def _send_config(self, proc: Optional[subprocess.Popen]) -> None:
        if proc is None or proc.stdin is None:
            return
        try:
            proc.stdin.write(config_line(self.config))
            proc.stdin.flush()
        except OSError:  # the process is gone: the supervisor restarts it with the config
            pass

    def _watch(self) -> None:
        backoff = BackoffCounter(RESTART_BACKOFF)
        while True:
            proc, lines = self._proc, self._lines
            assert proc is not None and lines is not None
            started = time.monotonic()
            while True:
                try:
                    line = lines.readline()
                except AuditError as exc:  # out of step: stop it, it is restarted below
                    _LOG.error('%s: stopping it', exc)
                    proc.kill()
                    break
                if not line:
                    break
                try:
                    kind, fields = parse_line(line)
                except ValueError:
                    _LOG.error('audit writer process: unreadable status line %r', line[:200])
                    continue
                if kind == STATUS:
                    self._child = fields
            code = proc.wait()
            if self._stopping:
                return
            for key in self._ended:
                self._ended[key] += int(self._child.get(key, 0))
            self._child = {}
            how = f'signal {-code}' if code < 0 else f'exit code {code}'
            self.last_exit = how
            self.restarts += 1
            if time.monotonic() - started > STEADY_S:
                backoff.reset()
            delay = backoff.next_delay()
            _LOG.error('audit writer process %d ended (%s): restarting it in %.1fs; events '
                       'wait in the ring meanwhile', proc.pid, how, delay)
            time.sleep(delay)
            while not self._stopping:
                try:
                    self._spawn('resume')
                    break
                except AuditError as exc:
                    self.restarts += 1
                    delay = backoff.next_delay()
                    _LOG.error('%s: retrying in %.1fs', exc, delay)
                    time.sleep(delay)

    # -- reporting ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Return True when the writer process last said it reached Redis."""
        return bool(self._child.get('connected', False))

    def snapshot(self) -> Dict[str, Any]:
        """Return the writer process's counters and state, with the tap's and the ring's."""
        child = self._child
        ended = self._ended
        out: Dict[str, Any] = {k: ended[k] + int(child.get(k, 0)) for k in COUNTERS}
        for key in PARENT_COUNTERS:
            out[key] = out[key] + self._counts.counters[key]
        dropped_by_tier = dict(self._counts.dropped_by_tier)
        if self._producer is not None:  # what the native intake threads could not record
            threads = self._producer.stats()
            for tier, full, large in zip(Tier, threads['ring_full'], threads['too_large']):
                dropped_by_tier[tier.name] += full + large
                out['dropped_queue'] += full + large
            out['critical_waits'] += threads['critical_waits']
        proc = self._proc
        ring = self._ring
        out.update({
            'connected': bool(child.get('connected', False)), 'url': self.url,
            'queue_depth': ring.used if ring else 0,
            'queue_capacity': ring.capacity if ring else self.settings.ring_bytes,
            'journal_pending': int(child.get('journal_pending', 0)),
            'journal_bytes': int(child.get('journal_bytes', 0)),
            'journal_max_bytes': self.settings.journal_max_bytes,
            'durable': ended['durable'] + int(child.get('durable', 0)),
            'last_error': str(child.get('last_error', '')),
            'held': int(child.get('held', 0)),
            'journal_error': str(child.get('journal_error', '')),
            'dropped_by_tier': {t: n + int(dict(child.get('dropped_by_tier') or {}).get(t, 0))
                                for t, n in dropped_by_tier.items()},
            'writer_pid': proc.pid if proc is not None else 0,
            'writer_alive': proc is not None and proc.poll() is None,
            'writer_restarts': self.restarts, 'writer_last_exit': self.last_exit})
        return out
