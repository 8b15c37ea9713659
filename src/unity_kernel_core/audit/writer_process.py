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
The audit writer in a process of its own, fed by the kernel through a shared-memory ring.

Why: the mirror's per-event Python work (building entries, packing the pipeline, parsing
replies) in the kernel's process competes with the intake and the bus for the one CPython
interpreter lock (docs/performance.md). Here the kernel's bus tap only copies each event (its
CDR bytes and a few fields, with the stream entry ID already issued) into a ring in a
memory-mapped file in ``/dev/shm`` (:func:`ring_path`) (:mod:`unity_kernel_core.audit.ring`); the
writer process takes batches from it and runs the same :class:`MirrorWriter` code as the
in-thread writer (the same records, journal and Redis connection code).

Where the durable hand-off happens: an event is in the ring once the tap returned, and the
ring's pages outlive either process. The writer releases a batch from the ring only after
:meth:`MirrorWriter.write` returned, i.e. once the batch is in Redis or in the journal. So:

- writer killed (even ``kill -9``): the kernel keeps filling the ring, its supervisor starts a
  new writer, which resumes at the ring's tail; a batch that was already in Redis is refused
  there as a duplicate (its IDs were issued by the kernel, so they are the same), one that
  was journaled is journaled twice and the second copy is refused at the drain;
- kernel killed: the writer sees its parent go (its stdin closes), writes out what is in the
  ring, drains the journal while its shutdown time allows, and exits; the next kernel's
  writer waits for it (a lock file) and then also writes out anything left in the ring file.

The kernel issues the stream entry IDs (:class:`IdClock`), seeded from what the writer found
in the journal and Redis when it started.

Protocol: the kernel writes the config as one JSON line to the writer's stdin (and again on
a reload); the writer answers ``ready <json>`` with the IDs and seq to continue from, then
``status <json>`` lines with its counters every 0.5 s.
"""

import fcntl
import functools
import hashlib
import json
import logging
import os
import pathlib
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, IO, List, Optional, Tuple

from unity_kernel_core import native
from unity_kernel_core.audit.mirror import COUNTERS, JOURNAL_DIR, MirrorWriter
from unity_kernel_core.audit.record import (AuditError, dead_letter_fields, event_fields,
                                            IdClock, StreamEntry, StreamKeys)
from unity_kernel_core.audit.redis_connection import redacted_url
from unity_kernel_core.audit.ring import Ring, RingError, try_open
from unity_kernel_core.bus.event_bus import DeadLetter
from unity_kernel_core.bus.events import Event, Tier
from unity_kernel_core.config.kernel_config import KernelConfig

_LOG = logging.getLogger('unity_kernel.mirror')

RING_FILE = 'mirror-ring'
SHM = pathlib.Path('/dev/shm')
LOCK_FILE = 'mirror-writer.lock'
STATUS_PERIOD_S = 0.5
READY_TIMEOUT_S = 30.0
RESTART_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)

# ring record: kind, tier, topic length, type length, cdr length, seq, stamp_ns, ID ms, ID seq
_EVENT = struct.Struct('<BBHHIQQQQ')
KIND_EVENT = 0
KIND_ENTRY = 1
"""A complete :class:`StreamEntry` journal record (dead letters: rare, so the simple codec)."""
_TIER_NAMES = tuple(t.name for t in Tier)
_SPECS_MAX = 65536

PARENT_COUNTERS = ('skipped', 'unencodable', 'dropped_queue', 'critical_waits')
"""Counted by the kernel's tap; every other counter is the writer process's."""


def ring_path(state_dir: pathlib.Path) -> pathlib.Path:
    """
    Return where the ring of the kernel with ``state_dir`` lives.

    In shared memory (``/dev/shm``, named after the state directory) when there is one: its
    pages are never written back to a disk, so the tap never waits for I/O, and they outlive
    both processes (not a reboot). Otherwise ``<state_dir>/mirror-ring``.
    """
    if SHM.is_dir() and os.access(SHM, os.W_OK):
        digest = hashlib.sha256(str(pathlib.Path(state_dir).resolve()).encode()).hexdigest()
        return SHM / f'unity-kernel-{os.getuid()}-{digest[:16]}-{RING_FILE}'
    return pathlib.Path(state_dir) / RING_FILE


# -- kernel side --------------------------------------------------------------------------


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
    :class:`MirrorWriter` (prime, start, offer, offer_dead_letter, stop, snapshot).

    ``producer``: the native producer (``unity_kernel_core.native``) that writes the ring's
    records instead of :class:`Ring`'s Python code, issuing the entry IDs in its own clock:
    the bus's sequencer with the native intake (whose threads write through it too); None:
    :func:`default_producer`'s choice.
    """

    def __init__(self, config: KernelConfig, state_dir: pathlib.Path,
                 producer: Optional[Any] = None) -> None:
        self.config = config
        self.settings = config.redis
        self.routes = config.routes
        self.keys = StreamKeys.of(config)
        self.state_dir = pathlib.Path(state_dir)
        self.journal_dir = self.state_dir / JOURNAL_DIR
        self.url = redacted_url(config.redis.url)
        self._producer = producer if producer is not None else default_producer(config)
        self._held_ring: Optional[Ring] = None
        self._lock = threading.Lock()
        self._events_clock = IdClock()
        self._dead_clock = IdClock()
        self._specs: Dict[str, Tuple[Any, ...]] = {}
        """Per topic: what the tap packs each event of it with (see :meth:`_spec_of`)."""
        self.counters: Dict[str, int] = dict.fromkeys(PARENT_COUNTERS, 0)
        self.dropped_by_tier: Dict[str, int] = dict.fromkeys((t.name for t in Tier), 0)
        """Events the tap could not put in the ring, by tier (CRITICAL never: it waits)."""
        self._child: Dict[str, Any] = {}
        self._ended: Dict[str, int] = dict.fromkeys(COUNTERS + ('durable',), 0)
        """The counters of writer processes that ended (each process counts from 0)."""
        self._proc: Optional[subprocess.Popen] = None
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
            producer.attach(ring.buffer, self._events_clock.last)

    # -- lifecycle -------------------------------------------------------------------------

    def prime(self) -> int:
        """Start the writer process, wait until it is ready; return the last seq it knows."""
        ready = self._spawn('start')
        self._events_clock.advance_to(tuple(ready['last_id']))
        self._dead_clock.advance_to(tuple(ready['dead_last_id']))
        self._ring = Ring.open(ring_path(self.state_dir))
        self.last_seq = int(ready['last_seq'])
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
                           timeout, ring.used if ring else 0, ring_path(self.state_dir))
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
        self.routes = config.routes
        self._specs = {}  # the mirror flag of a topic may have changed
        self._send_config(self._proc)

    # -- the bus tap (publisher threads; must not block) -----------------------------------

    def offer(self, event: Event) -> None:
        """Copy one bus event into the ring (the bus tap; runs under the bus's sequence lock)."""
        spec = self._specs.get(event.topic)
        if spec is None or spec[0] != event.type_name or spec[1] is not event.tier:
            spec = self._spec_of(event)
        packer = spec[2]
        if packer is None:
            self.counters['skipped'] += 1
            return
        try:
            cdr = event.cdr
        except Exception as exc:  # a payload that will not serialize must not stop intake
            self.counters['unencodable'] += 1
            _LOG.error('cannot serialize %r for the mirror: %s', event, exc)
            return
        if cdr is None:
            self.counters['unencodable'] += 1
            return
        seq = event.seq
        stamp_ns = event.stamp_ns
        producer = self._producer
        if producer is not None:  # the native producer issues the ID and writes the record
            put = functools.partial(producer.put_event, spec[4], spec[7], spec[8], seq,
                                    stamp_ns, cdr)
            done = put()
            if done != 1:
                self._not_put(event.tier, put, done)
            return
        with self._lock:
            ms, id_seq = self._events_clock.issue_pair(stamp_ns, seq)
            head = packer(spec[3], spec[4], spec[5], spec[6], len(cdr), seq, stamp_ns, ms,
                          id_seq, spec[7], spec[8])
            ring = self._ring
            if ring is None or not ring.put2(head, cdr):
                if event.tier is Tier.CRITICAL and ring is not None:
                    self._put_critical(functools.partial(ring.put, (head, cdr)))
                else:
                    self.counters['dropped_queue'] += 1  # full, or offered after stop()
                    self.dropped_by_tier[event.tier.name] += 1

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
            _LOG.error('a %s event larger than the mirror ring (redis.ring_bytes %d) is not '
                       'recorded', tier.name, self.settings.ring_bytes)
        self.counters['dropped_queue'] += 1
        self.dropped_by_tier[tier.name] += 1

    def _spec_of(self, event: Event) -> Tuple[Any, ...]:
        """
        Return (and cache) what the tap needs per topic: type, tier, packer and constants.

        The packer writes the record head of :data:`_EVENT` followed by the topic and type
        names in one ``struct`` call (the same bytes as ``_EVENT.pack`` plus the names); it
        is None when the topic is not mirrored.
        """
        topic, type_name = event.topic.encode(), event.type_name.encode()
        packer = None
        if self.routes(event.topic).mirror:
            packer = struct.Struct(f'{_EVENT.format}{len(topic)}s{len(type_name)}s').pack
        spec = (event.type_name, event.tier, packer, KIND_EVENT, int(event.tier), len(topic),
                len(type_name), topic, type_name)
        if len(self._specs) < _SPECS_MAX:
            self._specs[event.topic] = spec
        return spec

    def offer_dead_letter(self, letter: DeadLetter) -> None:
        """Copy one dead letter into the ring (the bus's dead-letter sink)."""
        event = letter.event
        try:
            cdr = event.cdr or b''
        except Exception:  # keep the dead letter, even without its payload
            cdr = b''
        with self._lock:
            entry = StreamEntry(self.keys.dead_letters, self._dead_clock.issue(letter.time_ns, 0),
                                dead_letter_fields(
                                    event.topic, event.type_name, event.tier.name, event.seq,
                                    event.stamp_ns, bytes(cdr), handler=letter.handler,
                                    error=letter.error, traceback=letter.traceback,
                                    attempts=letter.attempts, dead_ns=letter.time_ns))
            parts = (bytes([KIND_ENTRY]), entry.encode())
            producer = self._producer
            if producer is not None:
                put = functools.partial(producer.put_record, b''.join(parts))
                done = put()
                if done != 1:
                    self._not_put(event.tier, put, done)
                return
            ring = self._ring
            if ring is None or not ring.put(parts):
                if event.tier is Tier.CRITICAL and ring is not None:
                    self._put_critical(functools.partial(ring.put, parts))
                    return
                self.counters['dropped_queue'] += 1
                self.dropped_by_tier[event.tier.name] += 1
                _LOG.error('mirror ring full: dead letter of %r not recorded', event)

    def _put_critical(self, put: Callable[[], Any]) -> None:
        """
        Wait until a CRITICAL record fits in the ring: it is never dropped by the tap.

        The publishing thread waits (the CRITICAL tier's BLOCK policy) while the writer
        process empties the ring; only a kernel that is stopping gives up, and says so (as
        for a record larger than the ring). ``put`` writes the record: True or 1 when it did.
        """
        self.counters['critical_waits'] += 1
        _LOG.error('mirror ring full: a CRITICAL event waits for the audit writer')
        ring = self._ring
        while ring is not None:
            done = put()
            if done is True or done == 1:
                return
            if self._stopping or done == -1:  # -1: the native producer was detached
                self.counters['dropped_queue'] += 1
                self.dropped_by_tier[Tier.CRITICAL.name] += 1
                _LOG.error('mirror ring full while stopping: a CRITICAL event not recorded')
                return
            time.sleep(0.001)

    # -- the writer process ----------------------------------------------------------------

    def _spawn(self, mode: str) -> Dict[str, Any]:
        import unity_kernel_core
        src = str(pathlib.Path(unity_kernel_core.__file__).resolve().parent.parent)
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            p for p in (src, env.get('PYTHONPATH', '')) if p)
        proc = subprocess.Popen(
            [sys.executable, '-m', 'unity_kernel_core.audit.writer_process', mode,
             str(self.state_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
            close_fds=True)
        self._send_config(proc)
        assert proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_S + self.settings.connect_timeout_s
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            kind, _sep, body = line.decode().partition(' ')
            if kind == 'ready':
                _LOG.info('audit writer process %d ready (%s)', proc.pid, mode)
                self._proc = proc
                return dict(json.loads(body))
            if kind == 'status':
                self._child = json.loads(body)
        proc.kill()
        proc.wait()
        raise AuditError(f'the audit writer process did not start (exit code {proc.returncode});'
                         ' see its log lines above')

    def _send_config(self, proc: Optional[subprocess.Popen]) -> None:
        if proc is None or proc.stdin is None:
            return
        try:
            proc.stdin.write(self.config.model_dump_json().encode() + b'\n')
            proc.stdin.flush()
        except OSError:  # the process is gone: the supervisor restarts it with the config
            pass

    def _watch(self) -> None:
        failures = 0
        while True:
            proc = self._proc
            assert proc is not None and proc.stdout is not None
            started = time.monotonic()
            for line in proc.stdout:
                kind, _sep, body = line.decode().partition(' ')
                if kind == 'status':
                    try:
                        self._child = json.loads(body)
                    except ValueError:
                        _LOG.error('audit writer process: unreadable status line %r', line)
            code = proc.wait()
            if self._stopping:
                return
            for key in self._ended:
                self._ended[key] += int(self._child.get(key, 0))
            self._child = {}
            how = f'signal {-code}' if code < 0 else f'exit code {code}'
            self.last_exit = how
            self.restarts += 1
            failures = 0 if time.monotonic() - started > 30 else failures + 1
            delay = RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)]
            _LOG.error('audit writer process %d ended (%s): restarting it in %.1fs; events '
                       'wait in the ring meanwhile', proc.pid, how, delay)
            time.sleep(delay)
            while not self._stopping:
                try:
                    self._spawn('resume')
                    break
                except AuditError as exc:
                    self.restarts += 1
                    _LOG.error('%s: retrying', exc)
                    time.sleep(RESTART_BACKOFF_S[-1])

    # -- reporting -------------------------------------------------------------------------

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
            out[key] = out[key] + self.counters[key]
        dropped_by_tier = dict(self.dropped_by_tier)
        if self._producer is not None:  # what the native intake threads could not record
            native = self._producer.stats()
            for tier, full, large in zip(Tier, native['ring_full'], native['too_large']):
                dropped_by_tier[tier.name] += full + large
                out['dropped_queue'] += full + large
            out['critical_waits'] += native['critical_waits']
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


# -- writer process side ------------------------------------------------------------------


class _Decoder:
    """Ring records -> stream entries (the writer process)."""

    def __init__(self, keys: StreamKeys) -> None:
        self.keys = keys
        self._topics: Dict[bytes, Tuple[str, str]] = {}
        self._types: Dict[bytes, str] = {}
        self.last_id = (0, 0)
        self.last_seq = 0

    def decode(self, records: List[bytes]) -> List[StreamEntry]:
        out: List[StreamEntry] = []
        topics, types = self._topics, self._types
        size = _EVENT.size
        for rec in records:
            if rec[0] == KIND_ENTRY:
                try:
                    out.append(StreamEntry.decode(rec[1:], 'ring record'))
                except AuditError as exc:
                    _LOG.error('skipping a ring record: %s', exc)
                continue
            _kind, tier, tl, yl, cl, seq, stamp_ns, ms, id_seq = _EVENT.unpack_from(rec, 0)
            raw_topic = rec[size:size + tl]
            named = topics.get(raw_topic)
            if named is None:
                topic = raw_topic.decode()
                named = topics[raw_topic] = (topic, self.keys.topic(topic))
            o = size + tl
            raw_type = rec[o:o + yl]
            type_name = types.get(raw_type)
            if type_name is None:
                type_name = types[raw_type] = raw_type.decode()
            o += yl
            out.append(StreamEntry(named[1], f'{ms}-{id_seq}', event_fields(
                named[0], type_name, _TIER_NAMES[tier], seq, stamp_ns, rec[o:o + cl])))
            self.last_id = (ms, id_seq)
            self.last_seq = seq
        return out


class _Child:
    """The writer process: ring -> MirrorWriter.write -> release."""

    def __init__(self, config: KernelConfig, state_dir: pathlib.Path) -> None:
        settings = config.redis
        self.config = config
        self.state_dir = state_dir
        self.writer = MirrorWriter.for_config(config, state_dir)
        self.journal = self.writer.journal
        self.decoder = _Decoder(self.writer.keys)
        self.batch = settings.batch_size
        self.flush_s = settings.flush_interval_ms / 1000.0
        self.parent_gone = threading.Event()
        self._last_status = 0.0
        self.settings_retry_s = settings.reconnect_interval_ms / 1000.0
        self._closing_at: Optional[float] = None

    def _closing_deadline(self) -> float:
        if self._closing_at is None:
            self._closing_at = time.monotonic()
        return self._closing_at + max(0.1, self.config.kernel.shutdown_timeout_s * 0.8)

    def write_out(self, ring: Ring, until_empty: bool) -> bool:
        """Write one batch from the ring; return False when the ring was empty."""
        records, position = ring.peek(self.batch)
        if not records:
            return False
        if len(records) < self.batch and not until_empty:
            first = time.monotonic()  # wait for a full batch, at most the flush interval
            while time.monotonic() - first < self.flush_s and not self.parent_gone.is_set():
                time.sleep(min(0.001, self.flush_s))
                more, position = ring.peek(self.batch - len(records), start=position)
                records += more  # only the new ones: the CPU of a wait stays small
                if len(records) >= self.batch:
                    break
        self.writer.write(self.decoder.decode(records))
        ring.release(position)
        self.writer.last_seq = self.decoder.last_seq
        return True

    def status(self, kind: str = 'status', extra: Optional[Dict[str, Any]] = None) -> None:
        self._last_status = time.monotonic()
        if self.parent_gone.is_set():
            return  # nobody reads our reports any more
        snap = self.writer.snapshot()
        if extra:
            snap.update(extra)
        try:
            sys.stdout.write(f'{kind} {json.dumps(snap)}\n')
            sys.stdout.flush()
        except OSError:  # the kernel is gone (its end of the pipe closed)
            self.parent_gone.set()

    def run(self, ring: Ring) -> None:
        while True:
            closing = ring.closing or self.parent_gone.is_set()
            if self.writer.held:
                # the journal refused entries (disk full): take nothing more from the ring
                # (it is the durable queue) until they are in Redis or the journal
                self.writer.write([])
                if self.writer.held:
                    time.sleep(min(0.5, self.settings_retry_s))
                if time.monotonic() - self._last_status >= STATUS_PERIOD_S:
                    self.status()
                if closing and self.writer.held and time.monotonic() > self._closing_deadline():
                    break
                continue
            if not self.write_out(ring, until_empty=closing):
                if closing:
                    break
                if self.journal.pending:
                    self.writer.write([])  # drain the journal (or wait for Redis)
                    if not self.writer.connected:
                        time.sleep(0.01)
                else:
                    time.sleep(0.001)
            if time.monotonic() - self._last_status >= STATUS_PERIOD_S:
                self.status()
        self.finish()

    def finish(self) -> None:
        """Drain the journal while the shutdown time allows, report, close."""
        deadline = time.monotonic() + max(0.1, self.config.kernel.shutdown_timeout_s * 0.8)
        while (self.journal.pending or self.writer.held) and self.writer.connected and \
                time.monotonic() < deadline:
            self.writer.write([])
        self.writer.lose_held()
        self.status()
        self.journal.close()


def _read_config(stream: IO[bytes]) -> Optional[KernelConfig]:
    line = stream.readline()
    if not line:
        return None
    return KernelConfig.model_validate_json(line)


def _follow_parent(child: _Child, stream: IO[bytes]) -> None:
    """Apply config lines from the kernel; stdin closing means the kernel is gone."""
    while True:
        config = _read_config(stream)
        if config is None:
            child.parent_gone.set()
            return
        child.writer.reconfigure(config)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the writer process: ``python -m unity_kernel_core.audit.writer_process MODE DIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ('start', 'resume'):
        print('usage: python -m unity_kernel_core.audit.writer_process start|resume STATE_DIR',
              file=sys.stderr)
        return 2
    mode, state_dir = args[0], pathlib.Path(args[1])
    # the kernel decides when to stop (it closes the ring, or its end closes our stdin)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format='[%(levelname)s] [audit writer %(process)d] [%(name)s] '
                        '%(message)s')
    config = _read_config(sys.stdin.buffer)
    if config is None:
        return 2
    os.nice(config.redis.writer_nice)  # read once: a reload does not renice a running writer
    lock = open(state_dir / LOCK_FILE, 'a+b')
    fcntl.flock(lock, fcntl.LOCK_EX)  # a writer left by a killed kernel finishes first
    child = _Child(config, state_dir)
    child.writer.prime()
    path = ring_path(state_dir)
    if mode == 'start':
        left = try_open(path)
        if left is not None:
            if left.used:
                _LOG.warning('writing out %d byte(s) of events a previous kernel left in %s',
                             left.used, path)
            while child.write_out(left, until_empty=True):
                pass
            left.close()
        ring = Ring.create(path, config.redis.ring_bytes)
    else:
        try:
            ring = Ring.open(path)
        except RingError as exc:
            _LOG.error('%s', exc)
            return 1
    threading.Thread(target=_follow_parent, args=(child, sys.stdin.buffer), daemon=True,
                     name='follow-kernel').start()
    last_id = max(child.writer._events_clock.last, child.decoder.last_id)
    child.status('ready', {'last_id': list(last_id),
                           'dead_last_id': list(child.writer._dead_clock.last),
                           'last_seq': max(child.writer.last_seq, child.decoder.last_seq)})
    child.run(ring)
    if not ring.used:
        path.unlink(missing_ok=True)  # all written out: nothing for a next start to recover
    ring.close()
    return 0


if __name__ == '__main__':
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the thread reading stdin may still be blocked in it
