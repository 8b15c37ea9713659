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

It takes batches of ring records (up to ``redis.batch_size`` and ``BATCH_BYTES``, or what is
there once it waited ``redis.flush_interval_ms``), turns them into stream entries
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
records, and anything the packer refuses (a damaged record among them), take the Python path
(``redis.writer: process-python`` takes it always: the reference).
"""

import fcntl
import logging
import os
import pathlib
import signal
import sys
import threading
import time
from typing import Any, Dict, IO, List, Optional, Tuple

from unity_kernel_core import native
from unity_kernel_core.audit.batch_writer import BatchWriter
from unity_kernel_core.audit.encoder import find_record, RingDecoder
from unity_kernel_core.audit.record import EVENT_FIELDS, parse_id, StreamEntry
from unity_kernel_core.audit.ring import HEADER, recover, Ring, RingError
from unity_kernel_core.audit.writer_process import ring_file
from unity_kernel_core.audit.writer_process.protocol import (LOCK_FILE, message_line, MODES,
                                                             MODULE, read_config, READY,
                                                             Ready, STATUS, STATUS_PERIOD_S)
from unity_kernel_core.common.files import open_or_create_private, quarantine
from unity_kernel_core.common.shutdown import stop_budget
from unity_kernel_core.config.kernel_config import KernelConfig, RING_BYTES_MAX
from unity_kernel_core.errors import StateFileError

_LOG = logging.getLogger('unity_kernel.mirror')

BATCH_BYTES = 8 * 1024 * 1024
"""
Most record bytes one batch takes from the ring (at least one record); at most an eighth of it.

A batch's records stay in the ring until Redis has them, so a batch of half the ring (500
records of 64 KB in the default 64 MiB) left only half of it for what arrives meanwhile.
"""


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
        self.batch_bytes = max(1, min(BATCH_BYTES, settings.ring_bytes // 8))
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

    def ready(self, ring: Ring) -> Ready:
        """Return where the kernel continues: after what Redis, the journal and the ring hold."""
        return Ready(max(self.writer.encoder.events_clock.last, self.decoder.last_id),
                     self.writer.encoder.dead_clock.last,
                     max(self.writer.encoder.last_seq, self.decoder.last_seq), str(ring.path))

    def _damage_seen(self, ring: Ring, malformed_before: int, places_before: int) -> None:
        """Count and report damaged frames and malformed records met since the given counts."""
        places = ring.damage.places - places_before
        malformed = self.decoder.malformed - malformed_before
        if places or malformed:
            self.writer.counts.counters['ring_corrupt'] += places + malformed
            self.writer.counts.log_limited(
                'ring-damage', f'audit writer ring {ring.path}: {places} damaged frame(s) '
                f'({ring.damage.skipped} bytes skipped in all) and {malformed} malformed '
                'record(s) skipped; every intact record after them is written')

    def write_out(self, ring: Ring, until_empty: bool) -> bool:
        """Write one batch from the ring; return False when the ring was empty."""
        if self._packer is not None:
            done = self._write_out_native(ring, until_empty)
            if done is not None:
                return done
        records, position = ring.peek(self.batch, self.batch_bytes)
        if not records:
            return False
        size = sum(map(len, records))
        if not self._full(len(records), size) and not until_empty:
            first = time.monotonic()  # wait for a full batch, at most the flush interval
            while time.monotonic() - first < self.flush_s and not self.parent_gone.is_set():
                time.sleep(min(0.001, self.flush_s))
                more, position = ring.peek(self.batch - len(records), self.batch_bytes - size,
                                           start=position)
                records += more  # only the new ones: the CPU of a wait stays small
                size += sum(map(len, more))
                if self._full(len(records), size):
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
            count, end, stop = packer.scan(buffer, tail, self.batch, self.batch_bytes)
            if not count:
                return None if stop else False
            if not self._full(count, end - tail) and not until_empty and not stop:
                first = time.monotonic()  # wait for a full batch, at most the flush interval
                while time.monotonic() - first < self.flush_s and \
                        not self.parent_gone.is_set():
                    time.sleep(min(0.001, self.flush_s))
                    count, end, stop = packer.scan(buffer, tail, self.batch, self.batch_bytes)
                    if self._full(count, end - tail) or stop:
                        break
            sink = self.writer.sink
            now_ms = time.time_ns() // 1_000_000
            keys: List[str] = []

            def head_of(raw: bytes) -> Any:
                topic = raw.decode()
                keys.append(sink.keys.topic(topic))
                return sink.head_of(topic, now_ms)
            xadds, commands, count, end, last_id, last_seq = packer.pack(
                buffer, tail, count, self.batch_bytes, head_of)
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

    def _full(self, records: int, size: int) -> bool:
        """Return whether a batch of ``records`` records in ``size`` ring bytes is full."""
        return records >= self.batch or size >= self.batch_bytes

    def write_entries(self, entries: List[StreamEntry]) -> None:
        """Write entries recovered from a damaged ring, one batch at a time."""
        for start in range(0, len(entries), self.batch):
            self.writer.write(entries[start:start + self.batch])
        self.writer.encoder.last_seq = self.decoder.last_seq

    def write_out_left(self, path: pathlib.Path) -> None:
        """
        Write out a ring left by an earlier kernel, whatever state it is in; then remove it.

        A ring that is not this user's (or writable by others) is never read. A damaged one
        is read as far as it can be (every intact record, put back in the order of their
        entry IDs) and moved aside, with one ERROR saying what was recovered.
        """
        if not os.path.lexists(path):
            return
        max_size = HEADER + RING_BYTES_MAX
        malformed = self.decoder.malformed
        try:
            ring = Ring.open(path, find_record)
        except StateFileError as exc:
            if 'owned by uid' in str(exc):  # another user's: not ours to move or read
                _LOG.error('audit writer ring %s refused, never read: %s', path,
                           str(exc).split(': ', 1)[-1])
                return
            quarantine(path, 'audit writer ring', str(exc).split(': ', 1)[-1],
                       'never read')
            return
        except RingError as exc:  # a damaged header: take every intact frame
            try:
                found = recover(path, max_size, find_record)
            except StateFileError as unusable:
                quarantine(path, 'audit writer ring', str(unusable).split(': ', 1)[-1],
                           'never read')
                return
            entries = self.decoder.decode(found.records)
            self.write_entries(sorted(entries, key=_entry_order))
            quarantine(path, 'audit writer ring', str(exc).split(': ', 1)[-1],
                       f'{len(entries)} intact record(s) recovered and written (in the order '
                       f'of their entry IDs), {self.decoder.malformed - malformed} malformed '
                       'skipped')
            return
        if ring.used:
            _LOG.warning('writing out %d byte(s) of events a previous kernel left in %s',
                         ring.used, path)
        written = 0
        while self.write_out(ring, until_empty=True):
            written += 1
        damage = ring.damage
        ring.close()
        bad = self.decoder.malformed - malformed
        if damage or bad:
            quarantine(path, 'audit writer ring', f'{damage.places} damaged frame(s) '
                       f'({damage.skipped} bytes) and {bad} malformed record(s)',
                       'every intact record before and after them was written')
        else:
            ring_file.forget(self.state_dir, path)

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
            malformed, places = self.decoder.malformed, ring.damage.places
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
            wrote = self.write_out(ring, until_empty=closing)
            self._damage_seen(ring, malformed, places)
            if not wrote:
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
    try:
        lock = open_or_create_private(state_dir / LOCK_FILE)
    except (OSError, StateFileError) as exc:
        _LOG.error('cannot lock %s: %s', state_dir / LOCK_FILE, exc)
        return 1
    fcntl.flock(lock, fcntl.LOCK_EX)  # a writer left by a killed kernel finishes first
    child = WriterProcess(config, state_dir)
    child.writer.prime()
    try:
        ring = _ring_for(mode, child, state_dir, config)
    except (RingError, StateFileError) as exc:
        _LOG.error('%s', exc)
        return 1
    threading.Thread(target=_follow_parent, args=(child, sys.stdin.buffer), daemon=True,
                     name='follow-kernel').start()
    child.status(READY, child.ready(ring).fields())
    child.run(ring)
    left = ring.used
    ring.close()
    if not left:
        ring_file.forget(state_dir, ring.path)  # all written out: nothing for a next start
    return 0


def _ring_for(mode: str, child: WriterProcess, state_dir: pathlib.Path,
              config: KernelConfig) -> Ring:
    """``start``: write out what earlier kernels left, make a new ring; ``resume``: map it."""
    if mode == 'start':
        for left in (ring_file.recorded(state_dir), ring_file.earlier_path(state_dir)):
            if left is not None:
                child.write_out_left(left)
        ring = ring_file.make(state_dir, config.redis.ring_bytes)
        ring.finder = find_record
        return ring
    path = ring_file.recorded(state_dir)
    if path is None:
        raise RingError(f'no writer ring is recorded in {state_dir}')
    return Ring.open(path, find_record)


def _entry_order(entry: StreamEntry) -> Tuple[bool, Tuple[int, int]]:
    """Order recovered entries as they were issued: events by ID, then dead letters by ID."""
    return entry.fields.get('handler') is not None, parse_id(entry.entry_id)
