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

"""The mirror writer against a real redis-server: bytes, order, retention, outage, dead letters."""

import time

import pytest
from rclpy.serialization import serialize_message
import redis
from std_msgs.msg import String
import support

from unity_kernel_core.audit.batch_writer import BatchWriter
from unity_kernel_core.audit.journal import Journal
from unity_kernel_core.audit.mirror import MirrorWriter
from unity_kernel_core.audit.record import (AuditRecord, parse_id, StreamEntry,
                                            StreamKeys)
from unity_kernel_core.audit.redis_connection import connect
from unity_kernel_core.bus.event_bus import EventBus
from unity_kernel_core.config.kernel_config import parse_config
from unity_kernel_core.ros import message_types

pytestmark = pytest.mark.redis


def make_writer(tmp_path, url, extra=''):
    config = parse_config(f'redis: {{url: "{url}", flush_interval_ms: 2, batch_size: 50,'
                          f' reconnect_interval_ms: 100}}\n{extra}')
    journal = Journal(tmp_path / 'journal', config.redis.journal_max_bytes)
    writer = MirrorWriter(BatchWriter(config.redis, config.routes, StreamKeys('unity'), journal,
                          lambda: connect(config.redis)))
    return writer


def cdr(i):
    return serialize_message(String(data=f'm{i}'))


def read_all(client, key):
    return [AuditRecord.from_entry(i, f) for i, f in client.xrange(key)]


@pytest.fixture
def bus():
    b = EventBus(codec=message_types.CDR)
    b.start()
    yield b
    b.stop()


def test_events_land_in_topic_streams_with_exact_bytes_in_global_order(tmp_path, redis_server,
                                                                       bus):
    writer = make_writer(tmp_path, redis_server.url)
    writer.prime()
    writer.start()
    bus.add_tap(writer.offer)
    for i in range(300):
        bus.publish(f'/t{i % 3}', 'std_msgs/msg/String', cdr=cdr(i))
    writer.stop(10)
    client = redis.Redis.from_url(redis_server.url)
    assert {k.decode() for k in client.smembers('unity:streams')} == {
        'unity:topic:/t0', 'unity:topic:/t1', 'unity:topic:/t2'}
    records = [r for t in range(3) for r in read_all(client, f'unity:topic:/t{t}')]
    assert len(records) == 300
    records.sort(key=lambda r: parse_id(r.entry_id))
    assert [r.seq for r in records] == list(range(1, 301))
    assert [r.cdr for r in records] == [cdr(i) for i in range(300)]
    assert {(r.type_name, r.tier) for r in records} == {('std_msgs/msg/String', 'NORMAL')}
    assert client.hget('unity:meta', 'last_seq') == b'300'
    assert writer.snapshot()['written'] == 300


def test_per_pattern_mirror_off_and_maxlen_retention(tmp_path, redis_server, bus):
    rules = ('topics:\n'
             '  - {pattern: /noisy/**, tier: LOW, mirror: false}\n'
             '  - {pattern: /short, tier: NORMAL, retention_maxlen: 10}\n'
             '  - {pattern: /**, tier: NORMAL}\n')
    writer = make_writer(tmp_path, redis_server.url, rules)
    writer.start()
    bus.add_tap(writer.offer)
    for i in range(2000):
        bus.publish('/short', 'std_msgs/msg/String', cdr=cdr(i))
        bus.publish('/noisy/x', 'std_msgs/msg/String', cdr=cdr(i))
    writer.stop(10)
    client = redis.Redis.from_url(redis_server.url)
    assert client.exists('unity:topic:/noisy/x') == 0
    length = client.xlen('unity:topic:/short')
    assert 10 <= length < 2000  # MAXLEN ~ trims in whole nodes
    last = AuditRecord.from_entry(*client.xrevrange('unity:topic:/short', count=1)[0])
    assert last.cdr == cdr(1999)
    assert writer.snapshot()['skipped'] == 2000


def test_outage_spools_to_the_journal_and_drains_in_order_with_nothing_lost(tmp_path, bus):
    server = support.RedisServer(tmp_path / 'redis', appendonly=True)
    server.start()
    try:
        writer = make_writer(tmp_path, server.url)
        writer.prime()
        writer.start()
        bus.add_tap(writer.offer)
        n = 0
        for phase_end, action in ((1000, server.stop), (3000, None), (5000, None)):
            while n < phase_end:
                bus.publish('/load', 'std_msgs/msg/String', cdr=cdr(n))
                n += 1
                if n % 100 == 0:
                    time.sleep(0.01)
            if action is not None:
                time.sleep(0.2)
                action()
            elif phase_end == 3000:
                support.wait_for(lambda: writer.snapshot()['journal_pending'] > 0, 10,
                                 message='events spooled to the journal')
                assert not writer.connected
                server.start()
        support.wait_for(lambda: writer.connected and not writer.journal.pending, 30,
                         message='journal drained after Redis came back')
        writer.stop(10)
        snap = writer.snapshot()
        assert snap['journaled'] > 0 and snap['outages'] >= 1
        client = redis.Redis.from_url(server.url)
        records = read_all(client, 'unity:topic:/load')
        assert [r.cdr for r in records] == [cdr(i) for i in range(5000)]
        assert snap['dropped_queue'] == 0 and snap['dropped_journal_full'] == 0
    finally:
        server.stop()


def test_journal_left_behind_is_drained_once_without_duplicates(tmp_path, redis_server, bus):
    dead_port = support.free_port()
    writer = make_writer(tmp_path, f'redis://127.0.0.1:{dead_port}/0')
    writer.prime()
    writer.start()
    bus.add_tap(writer.offer)
    for i in range(500):
        bus.publish('/j', 'std_msgs/msg/String', cdr=cdr(i))
    writer.stop(2)  # Redis never answered: all of it is journaled
    assert writer.snapshot()['journaled'] == 500
    # a second writer on the same journal (the kernel restarted) with Redis up
    second = make_writer(tmp_path, redis_server.url)
    assert second.journal.pending == 500
    assert second.prime() == 500  # the restarted kernel continues the sequence
    records, _cursor = second.journal.read(1000)
    second.start()
    support.wait_for(lambda: not second.journal.pending, 20, message='journal drained')
    # the same records again (a crash between XADD and journal commit) are refused as duplicates
    assert second._send([StreamEntry.decode(r) for r in records])
    second.stop(5)
    assert second.snapshot()['duplicates'] == 500
    client = redis.Redis.from_url(redis_server.url)
    assert [r.cdr for r in read_all(client, 'unity:topic:/j')] == [cdr(i) for i in range(500)]


def test_dead_letters_go_to_the_dead_letter_stream(tmp_path, redis_server):
    from unity_kernel_core.bus.event_bus import TierPolicy
    from unity_kernel_core.bus.events import Tier
    bus = EventBus({Tier.NORMAL: TierPolicy(max_retries=2, retry_backoff_s=0.001)},
                   codec=message_types.CDR)
    bus.start()
    writer = make_writer(tmp_path, redis_server.url)
    writer.start()
    bus.add_tap(writer.offer)
    bus.add_dead_letter_sink(writer.offer_dead_letter)

    def broken(event):
        raise ValueError('cannot handle ' + event.message.data)

    bus.subscribe('/work', broken, name='broken_handler')
    bus.publish('/work', 'std_msgs/msg/String', cdr=cdr(7))
    bus.wait_idle(5)
    bus.stop()
    writer.stop(5)
    client = redis.Redis.from_url(redis_server.url)
    [(entry_id, fields)] = client.xrange('unity:deadletters')
    assert fields[b'handler'] == b'broken_handler'
    assert fields[b'attempts'] == b'3'
    assert b'ValueError: cannot handle m7' in fields[b'error']
    assert AuditRecord.from_entry(entry_id, fields).cdr == cdr(7)


def test_a_full_journal_refuses_new_events_counts_them_and_keeps_the_oldest(tmp_path, bus):
    dead_port = support.free_port()
    writer = make_writer(tmp_path, f'redis://127.0.0.1:{dead_port}/0')
    writer.journal.max_bytes = 4096  # the smallest bound the config allows is 1 KiB
    writer.start()
    bus.add_tap(writer.offer)
    for i in range(200):
        bus.publish('/full', 'std_msgs/msg/String', cdr=cdr(i))
    writer.stop(2)
    snap = writer.snapshot()
    assert snap['journaled'] > 0 and snap['dropped_journal_full'] == 200 - snap['journaled']
    assert snap['journal_bytes'] <= 4096
    kept = [StreamEntry.decode(r) for r in Journal(tmp_path / 'journal', 4096).read(1000)[0]]
    assert [e.fields['cdr'] for e in kept] == [cdr(i) for i in range(snap['journaled'])]
