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
The mirror on a full disk, with the real parts: a 1 MiB tmpfs, a redis-server that comes back.

The journal fills the disk while Redis is away; nothing is dropped (what the journal cannot
take is held in memory and reported), and once Redis answers every event arrives, in order,
while the disk is still full.
"""

import contextlib
import os
import subprocess
import time

import pytest
from rclpy.serialization import serialize_message
import redis
from std_msgs.msg import String
import support

from unity_kernel_core.audit.batch_writer import BatchWriter
from unity_kernel_core.audit.journal import Journal, JournalWriteError
from unity_kernel_core.audit.mirror import MirrorWriter
from unity_kernel_core.audit.record import AuditRecord, parse_id, StreamKeys
from unity_kernel_core.audit.redis_connection import connect
from unity_kernel_core.bus.event_bus import EventBus
from unity_kernel_core.config.kernel_config import parse_config
from unity_kernel_core.ros import message_types

pytestmark = pytest.mark.redis


@contextlib.contextmanager
def small_disk(path, size='1m'):
    """Mount a tmpfs of ``size`` on ``path`` (root only), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip('mounting a small tmpfs needs root (CI runs as root)')
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size},mode=0700', 'tmpfs',
                           str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f'cannot mount a tmpfs here: {done.stderr.strip()}')
    try:
        yield path
    finally:
        subprocess.run(['umount', '-l', str(path)], check=False)


def payload(i):
    return serialize_message(String(data=f'{i:06d}' + 'x' * 1000))


def test_journal_on_a_full_disk_stores_whole_records_and_keeps_counting_right(tmp_path):
    with small_disk(tmp_path / 'disk', '64k') as disk:
        journal = Journal(disk / 'j', max_bytes=64 * 1024 * 1024, segment_bytes=16 * 1024)
        stored = 0
        with pytest.raises(JournalWriteError) as info:
            for _ in range(200):
                stored += journal.append([payload(i) for i in range(stored, stored + 7)])
        stored += info.value.stored
        assert info.value.errno == 28
        assert journal.pending == stored > 0
        # another try fails the same way and changes nothing
        with pytest.raises(JournalWriteError):
            journal.append([payload(999)])
        assert journal.pending == stored
        records, cursor = journal.read(10_000)  # no 'changed on disk' after a refused write
        assert records == [payload(i) for i in range(stored)]
        journal.commit(cursor)  # the cursor file cannot be written: kept in memory, no raise
        assert journal.pending == 0
        reopened = Journal(disk / 'j', max_bytes=64 * 1024 * 1024)
        assert reopened.pending == 0


def make_writer(journal_dir, url):
    config = parse_config(f'redis: {{url: "{url}", flush_interval_ms: 2, batch_size: 100,'
                          ' reconnect_interval_ms: 100, queue_size: 20000}\n')
    journal = Journal(journal_dir, 256 * 1024 * 1024, segment_bytes=64 * 1024)
    return MirrorWriter(BatchWriter(config.redis, config.routes, StreamKeys('unity'), journal,
                        lambda: connect(config.redis)))


@pytest.mark.timeout(180)
def test_after_a_disk_full_spell_every_event_reaches_redis_in_order(tmp_path, unity_log):
    total = 3000  # about 3 MB of payload: three times the disk
    port = support.free_port()
    server = support.RedisServer(tmp_path / 'redis', port=port)
    bus = EventBus(codec=message_types.CDR)
    bus.start()
    with small_disk(tmp_path / 'disk', '1m') as disk:
        writer = make_writer(disk / 'mirror-journal', server.url)
        writer.prime()
        writer.start()
        bus.add_tap(writer.offer)
        try:
            for i in range(total):
                bus.publish('/big', 'std_msgs/msg/String', cdr=payload(i))
            support.wait_for(lambda: writer.snapshot()['held'] > 0, 30,
                             message='the journal fills the disk')
            time.sleep(1.0)  # several retries against the full disk
            snap = writer.snapshot()
            assert snap['writer_errors'] == 0, snap['last_error']
            assert snap['dropped_queue'] == 0 and snap['journal_errors'] == 0
            support.wait_for(lambda: (lambda s: s['journaled'] + s['held'] + s['queue_depth'])(
                writer.snapshot()) == total, 10, message='every event journaled or held')
            assert 'No space left' in writer.snapshot()['journal_error']
            server.start()  # Redis is back; the disk is still full
            client = redis.Redis.from_url(server.url)
            support.wait_for(lambda: client.xlen('unity:topic:/big') == total, 90,
                             message='every event in Redis')
            support.wait_for(lambda: writer.snapshot()['journal_pending'] == 0, 30,
                             message='journal drained')
            records = [AuditRecord.from_entry(i, f) for i, f in client.xrange('unity:topic:/big')]
        finally:
            bus.remove_tap(writer.offer)
            writer.stop(10)
            bus.stop()
            server.stop()
        snap = writer.snapshot()
    assert [r.seq for r in records] == list(range(1, total + 1))
    assert [r.cdr for r in records] == [payload(i) for i in range(total)]
    assert sorted(records, key=lambda r: parse_id(r.entry_id)) == records
    assert snap['journal_corrupt'] == 0 and snap['writer_errors'] == 0
    assert snap['held'] == 0 and sum(snap['dropped_by_tier'].values()) == 0
    assert 'cannot write the mirror journal' in unity_log.text  # what is logged is seen
    assert 'changed on disk' not in unity_log.text


@pytest.mark.timeout(240)
def test_the_writer_process_on_a_full_disk_keeps_the_ring_and_delivers_everything(tmp_path):
    """The default writer: the ring (reserved up front) holds what the full journal cannot."""
    from unity_kernel_core.audit.writer_process import ProcessWriter
    total = 2400  # ~2.5 MB: the journal fills the 1 MiB disk, the ring keeps the rest
    port = support.free_port()
    server = support.RedisServer(tmp_path / 'redis', port=port)
    # the ring is in /dev/shm (2 MiB); the journal fills the 1 MiB disk
    with small_disk(tmp_path / 'disk', '1m') as disk:
        config = parse_config(
            f'kernel: {{state_dir: "{disk}", shutdown_timeout_s: 20}}\n'
            f'redis: {{url: "{server.url}", flush_interval_ms: 2, batch_size: 100,'
            f' reconnect_interval_ms: 100, ring_bytes: 2097152,'
            f' journal_segment_bytes: 65536}}\n')
        writer = ProcessWriter(config, disk)
        bus = EventBus(codec=message_types.CDR)
        bus.start()
        writer.prime()
        writer.start()
        bus.add_tap(writer.offer)
        try:
            for start in range(0, total, 50):  # paced to what the writer takes (no ring drops)
                for i in range(start, start + 50):
                    bus.publish('/big', 'std_msgs/msg/String', cdr=payload(i))
                support.wait_for(lambda: (lambda s: s['held'] or s['queue_depth'] < 256 * 1024)(
                    writer.snapshot()), 30, message='the writer taking from the ring')
            support.wait_for(lambda: writer.snapshot()['held'] > 0, 30,
                             message='the journal fills the disk')
            time.sleep(1.0)
            snap = writer.snapshot()
            assert snap['dropped_queue'] == 0 and snap['writer_alive'], snap
            assert 'No space left' in snap['journal_error']
            server.start()
            client = redis.Redis.from_url(server.url)
            support.wait_for(lambda: client.xlen('unity:topic:/big') == total, 120,
                             message='every event in Redis')
            records = [AuditRecord.from_entry(i, f)
                       for i, f in client.xrange('unity:topic:/big')]
        finally:
            bus.remove_tap(writer.offer)
            writer.stop(20)
            bus.stop()
            server.stop()
    assert [r.cdr for r in records] == [payload(i) for i in range(total)]
