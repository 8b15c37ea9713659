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
The writer process: ring -> :class:`~unity_kernel_core.audit.batch_writer.BatchWriter` -> release.

It takes batches of ring records (up to ``redis.batch_size``, or what is there once it waited
``redis.flush_interval_ms``), turns them into stream entries
(:class:`~unity_kernel_core.audit.encoder.RingDecoder`), writes them (Redis, or the journal)
and only then releases them from the ring: the ring is the durable hand-off, so a writer
killed at any point loses nothing (its successor resumes at the ring's tail; Redis refuses
what it already has). While the journal refuses entries (disk full) it takes nothing more
from the ring. When the kernel closes the ring (or its end of stdin closes: the kernel is
gone) it writes out what is left, drains the journal while the shutdown time allows, and
exits.

With ``redis.writer: process`` and the native extension built, the hot path is native: the
packer (``unity_kernel_core.native``) turns the ring's event records straight into the
batch's one RESP write (the bytes the Python path sends for them), and entries are made only
when the batch takes the journal's path (Redis away, or the journal not empty). Dead-letter
records, and anything the packer refuses, take the Python path (``redis.writer:
process-python`` takes it always: the reference).
"""

import fcntl
import logging
import os
import pathlib
import signal
import sys
import threading
import time
from typing import Any, Dict, IO, List, Optional

from unity_kernel_core import native
from unity_kernel_core.audit.batch_writer import BatchWriter
from unity_kernel_core.audit.encoder import RingDecoder
from unity_kernel_core.audit.record import EVENT_FIELDS
from unity_kernel_core.audit.ring import Ring, RingError, try_open
from unity_kernel_core.audit.writer_process.protocol import (LOCK_FILE, message_line, MODES,
                                                             MODULE, read_config, READY,
                                                             Ready, ring_path, STATUS,
                                                             STATUS_PERIOD_S)
from unity_kernel_core.common.shutdown import stop_budget
from unity_kernel_core.config.kernel_config import KernelConfig

_LOG = logging.getLogger('unity_kernel.mirror')

NATIVE_BATCH_BYTES = 64 * 1024 * 1024
"""Most record bytes one native batch packs (at least one record)."""


class WriterProcess:
    """The writer process's work: ring -> batch writer -> release, and its status lines."""

    def __init__(self, config: KernelConfig, state_dir: pathlib.Path) -> None:
        settings = config.redis
        self.config = config
        self.state_dir = state_dir
        self.writer = BatchWriter.for_config(config, state_dir)
        self.journal = self.writer.journal
        self.decoder = RingDecoder(self.writer.keys)
        self.batch = settings.batch_size
        self.flush_s = settings.flush_interval_ms / 1000.0
        self.parent_gone = threading.Event()
        self._last_status = 0.0
        self.settings_retry_s = settings.reconnect_interval_ms / 1000.0
        self._closing_at: Optional[float] = None
        self._packer = self._native_packer(config)

    @staticmethod
    def _native_packer(config: KernelConfig) -> Optional[Any]:
        if config.redis.writer != 'process':
            return None
        core = native.core()
        if core is None:
            _LOG.warning('the writer packs batches in Python: %s', native.why_not('_core'))
            return None
        from unity_kernel_core.bus.events import Tier
        return core.Packer(fields=[f.encode() for f in EVENT_FIELDS],
                           tiers=[t.name.encode() for t in Tier])

    def _closing_deadline(self) -> float:
        if self._closing_at is None:
            self._closing_at = time.monotonic()
        return self._closing_at + stop_budget(self.config.kernel.shutdown_timeout_s)

    def ready(self) -> Ready:
        """Return where the kernel continues: after what Redis, the journal and the ring hold."""
        return Ready(max(self.writer.encoder.events_clock.last, self.decoder.last_id),
                     self.writer.encoder.dead_clock.last,
                     max(self.writer.encoder.last_seq, self.decoder.last_seq))

    def write_out(self, ring: Ring, until_empty: bool) -> bool:
        """Write one batch from the ring; return False when the ring was empty."""
        if self._packer is not None:
            done = self._write_out_native(ring, until_empty)
            if done is not None:
                return done
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
        self.writer.encoder.last_seq = self.decoder.last_seq
        return True

    def _write_out_native(self, ring: Ring, until_empty: bool) -> Optional[bool]:
        """
        Write one batch of event records packed natively; None: take the Python path.

        The Python path takes a dead letter next in the ring, and a ring the packer refuses
        (it says what is wrong, as it always did).
        """
        packer = self._packer
        assert packer is not None
        buffer, tail = ring.buffer, ring.tail
        try:
            count, _end, stop = packer.scan(buffer, tail, self.batch, NATIVE_BATCH_BYTES)
            if not count:
                return None if stop else False
            if count < self.batch and not until_empty and not stop:
                first = time.monotonic()  # wait for a full batch, at most the flush interval
                while time.monotonic() - first < self.flush_s and \
                        not self.parent_gone.is_set():
                    time.sleep(min(0.001, self.flush_s))
                    count, _end, stop = packer.scan(buffer, tail, self.batch,
                                                    NATIVE_BATCH_BYTES)
                    if count >= self.batch or stop:
                        break
            sink = self.writer.sink
            now_ms = time.time_ns() // 1_000_000
            keys: List[str] = []

            def head_of(raw: bytes) -> Any:
                topic = raw.decode()
                keys.append(sink.keys.topic(topic))
                return sink.head_of(topic, now_ms)
            xadds, commands, count, end, last_id, last_seq = packer.pack(
                buffer, tail, count, NATIVE_BATCH_BYTES, head_of)
        except ValueError:  # UnicodeDecodeError too: the Python path reports it
            return None
        decoder = self.decoder

        def entries() -> List[Any]:
            return decoder.decode(ring.peek(count)[0])
        self.writer.write_packed(xadds, commands, keys, f'{last_id[0]}-{last_id[1]}', last_seq,
                                 entries)
        ring.release(end)
        decoder.last_id, decoder.last_seq = tuple(last_id), last_seq
        self.writer.encoder.last_seq = last_seq
        return True

    def status(self, kind: str = STATUS, extra: Optional[Dict[str, Any]] = None) -> None:
        """Write a status line (the counters) to the kernel, unless it is gone."""
        self._last_status = time.monotonic()
        if self.parent_gone.is_set():
            return  # nobody reads our reports any more
        snap = self.writer.snapshot()
        if extra:
            snap.update(extra)
        try:
            sys.stdout.write(message_line(kind, snap))
            sys.stdout.flush()
        except OSError:  # the kernel is gone (its end of the pipe closed)
            self.parent_gone.set()

    def run(self, ring: Ring) -> None:
        """Write batches from the ring until the kernel closes it (or is gone), then finish."""
        writer = self.writer
        while True:
            closing = ring.closing or self.parent_gone.is_set()
            if writer.held:
                # the journal refused entries (disk full): take nothing more from the ring
                # (it is the durable queue) until they are in Redis or the journal
                writer.write([])
                if writer.held:
                    time.sleep(min(0.5, self.settings_retry_s))
                if time.monotonic() - self._last_status >= STATUS_PERIOD_S:
                    self.status()
                if closing and writer.held and time.monotonic() > self._closing_deadline():
                    break
                continue
            if not self.write_out(ring, until_empty=closing):
                if closing:
                    break
                if self.journal.pending:
                    writer.write([])  # drain the journal (or wait for Redis)
                    if not writer.connected:
                        time.sleep(0.01)
                else:
                    time.sleep(0.001)
            if time.monotonic() - self._last_status >= STATUS_PERIOD_S:
                self.status()
        self.finish()

    def finish(self) -> None:
        """Drain the journal while the shutdown time allows, report, close."""
        deadline = time.monotonic() + stop_budget(self.config.kernel.shutdown_timeout_s)
        writer = self.writer
        while (self.journal.pending or writer.held) and writer.connected and \
                time.monotonic() < deadline:
            writer.write([])
        writer.lose([])
        self.status()
        self.journal.close()


def _follow_parent(child: WriterProcess, stream: IO[bytes]) -> None:
    """Apply config lines from the kernel; stdin closing means the kernel is gone."""
    while True:
        config = read_config(stream)
        if config is None:
            child.parent_gone.set()
            return
        child.writer.routes = config.routes


def main(argv: Optional[List[str]] = None) -> int:
    """Run the writer process: ``python -m unity_kernel_core.audit.writer_process MODE DIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in MODES:
        print(f'usage: python -m {MODULE} {"|".join(MODES)} STATE_DIR', file=sys.stderr)
        return 2
    mode, state_dir = args[0], pathlib.Path(args[1])
    # the kernel decides when to stop (it closes the ring, or its end closes our stdin)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format='[%(levelname)s] [audit writer %(process)d] [%(name)s] '
                        '%(message)s')
    config = read_config(sys.stdin.buffer)
    if config is None:
        return 2
    os.nice(config.redis.writer_nice)  # read once: a reload does not renice a running writer
    lock = open(state_dir / LOCK_FILE, 'a+b')
    fcntl.flock(lock, fcntl.LOCK_EX)  # a writer left by a killed kernel finishes first
    child = WriterProcess(config, state_dir)
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
    child.status(READY, child.ready().fields())
    child.run(ring)
    if not ring.used:
        path.unlink(missing_ok=True)  # all written out: nothing for a next start to recover
    ring.close()
    return 0
