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
The audit trail end to end: a talker process, the kernel process, redis-server, the CLI.

Round trip into the streams with types and exact bytes, replay and MCAP export of them, a
kernel killed with SIGKILL while Redis is down, and bad entries that must not crash anything.
"""

import signal
import sys
import time

from audit_support import mirror_statuses, records, start_kernel, TALKER, write_config
from diagnostic_msgs.msg import DiagnosticArray
from mcap_ros2.reader import read_ros2_messages
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
import redis
from std_msgs.msg import Int32, String
import support


pytestmark = [pytest.mark.ros, pytest.mark.redis]


def test_round_trip_from_a_talker_into_streams_then_replay_and_mcap_export(
        probe, ros_env, tmp_path, processes, redis_server):
    config = write_config(tmp_path, redis_server.url)
    kernel = start_kernel(processes, ros_env, tmp_path, config)
    client = redis.Redis.from_url(redis_server.url)
    processes.start([sys.executable, TALKER, '--topic', '/chatter', '--count', '50', '--rate',
                     '200'], ros_env, tmp_path / 'talker.log').wait_output('talker: done', 30)
    processes.start([sys.executable, TALKER, '--topic', '/counter', '--type',
                     'std_msgs/msg/Int32', '--count', '20', '--rate', '200'], ros_env,
                    tmp_path / 'talker2.log').wait_output('talker: done', 30)
    support.wait_for(lambda: client.xlen('unity:topic:/counter') == 20, 10,
                     message='20 entries in unity:topic:/counter')
    # the bytes are those DDS delivered (with the publisher's padding): compare decoded
    chatter = records(client, '/chatter')
    assert [deserialize_message(r.cdr, String) for r in chatter] == [
        String(data=str(i)) for i in range(50)]
    assert {(r.type_name, r.tier) for r in chatter} == {('std_msgs/msg/String', 'NORMAL')}
    counter = records(client, '/counter')
    assert [deserialize_message(r.cdr, Int32) for r in counter] == [
        Int32(data=i) for i in range(20)]
    assert counter[0].seq > chatter[-1].seq  # one global order across topics
    kernel.stop()  # so that the replay is not mirrored again

    # replay: a subscriber receives identical bytes
    got = []
    probe.node.create_subscription(String, '/chatter', got.append,
                                   QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE),
                                   raw=True)
    dry = support.cli(ros_env, 'replay', '--url', redis_server.url, '--topics', '/chatter',
                      '--dry-run')
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count('std_msgs/msg/String') == 50 and got == []
    result = support.cli(ros_env, 'replay', '--url', redis_server.url, '--topics', '/chatter',
                         '--rate', '4', '--wait-subscribers', '1')
    assert result.returncode == 0, result.stderr
    assert 'replayed 50 event(s)' in result.stdout
    support.wait_for(lambda: len(got) == 50, 10, message='50 replayed messages')
    assert got == [r.cdr for r in chatter]

    # export: the mcap reader decodes every message with its schema
    out = tmp_path / 'trail.mcap'
    result = support.cli(ros_env, 'export', '--url', redis_server.url, '--format', 'mcap',
                         '-o', str(out))
    assert result.returncode == 0, result.stderr
    read = [(m.channel.topic, m.schema.name, m.ros_msg.data, m.log_time_ns)
            for m in read_ros2_messages(str(out))]
    assert [(t, d) for t, _s, d, _l in read if t == '/chatter'] == [
        ('/chatter', str(i)) for i in range(50)]
    assert [d for t, _s, d, _l in read if t == '/counter'] == list(range(20))
    assert {s for _t, s, _d, _l in read} == {'std_msgs/msg/String', 'std_msgs/msg/Int32'}
    assert [lt for *_x, lt in read] == sorted(lt for *_x, lt in read)


@pytest.fixture
def durable_redis(tmp_path):
    server = support.RedisServer(tmp_path / 'redis', appendonly=True)
    server.start()
    yield server
    server.stop()


def stop_redis_mid_stream(server, count, probe, ros_env, tmp_path, processes):
    """
    Start the kernel and a talker of ``count`` messages at 500/s; stop Redis 1.5 s in.

    The kernel takes /chatter keep-all: these tests count what the mirror keeps of what the
    bus took. With the NORMAL tier's keep-last 100, a stall of the kernel's interpreter of
    0.2 s (a full garbage collection while the machine is busy) loses a block of messages in
    DDS, before the bus, which the mirror never sees (the kernel's seq has no gap there).

    Return the kernel and talker processes, the diagnostics list and the config path.
    """
    config = write_config(tmp_path, server.url,
                          'tiers: {NORMAL: {qos: {history: keep_all}}}\n')
    kernel = start_kernel(processes, ros_env, tmp_path, config)
    diagnostics = probe.collect('/diagnostics', DiagnosticArray)
    talker = processes.start([sys.executable, TALKER, '--topic', '/chatter', '--count',
                              str(count), '--rate', '500'], ros_env, tmp_path / 'talker.log')
    talker.wait_output('talker: ready', 30)
    time.sleep(1.5)
    server.stop()
    return kernel, talker, diagnostics, config


def test_kernel_killed_while_redis_is_down_loses_nothing_it_had_made_durable(
        probe, ros_env, tmp_path, processes, durable_redis):
    kernel, talker, diagnostics, config = stop_redis_mid_stream(
        durable_redis, 3000, probe, ros_env, tmp_path, processes)  # the kernel journals

    def journaling():
        return any(int(v['journal_pending']) > 200 for v in mirror_statuses(diagnostics))
    support.wait_for(journaling, 20, message='the mirror reporting a journal')
    kernel.signal(signal.SIGKILL)
    kernel.wait(10)
    durable = max(int(v['durable']) for v in mirror_statuses(diagnostics))
    status = mirror_statuses(diagnostics)[-1]
    assert status['connected'] == 'False' and durable > 200
    talker.wait_output('talker: done', 30)

    durable_redis.start()
    start_kernel(processes, ros_env, tmp_path, config, log='kernel2.log')
    journal = tmp_path / 'state' / 'mirror-journal'
    support.wait_for(lambda: not list(journal.glob('seg-*')), 30,
                     message='the restarted kernel drained the journal')
    client = redis.Redis.from_url(durable_redis.url)
    values = [int(deserialize_message(r.cdr, String).data)
              for r in records(client, '/chatter')]
    print(f'durable before the kill {durable}, in Redis after the drain {len(values)}')
    assert len(values) >= durable
    assert values == list(range(len(values)))  # a gapless prefix, in order, no doubles


def test_redis_outage_under_load_loses_nothing_and_keeps_order(probe, ros_env, tmp_path,
                                                               processes, durable_redis):
    kernel, talker, diagnostics, _config = stop_redis_mid_stream(
        durable_redis, 4000, probe, ros_env, tmp_path, processes)
    time.sleep(4)  # several seconds without Redis, under load
    warned = mirror_statuses(diagnostics)
    assert any(v['connected'] == 'False' and int(v['journal_pending']) > 0 for v in warned)
    durable_redis.start()
    talker.wait_output('talker: done', 30)
    client = redis.Redis.from_url(durable_redis.url)
    support.wait_for(lambda: client.xlen('unity:topic:/chatter') >= 4000, 30,
                     message='every event in Redis after the outage')
    values = [int(deserialize_message(r.cdr, String).data)
              for r in records(client, '/chatter')]
    seqs = [r.seq for r in records(client, '/chatter')]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # all the bus took, in order
    assert values == list(range(4000))
    last = mirror_statuses(diagnostics)[-1]
    assert last['dropped_queue'] == '0' and last['dropped_journal_full'] == '0'
    kernel.stop()


def test_mirror_on_off_per_topic_follows_a_live_config_edit(
        ros_env, tmp_path, processes, redis_server):
    rule = '  - {pattern: /chatter, tier: NORMAL, mirror: MIRROR}\n'
    config = write_config(tmp_path, redis_server.url, 'topics:\n' + rule)
    config.write_text(config.read_text().replace('MIRROR', 'true'))
    kernel = start_kernel(processes, ros_env, tmp_path, config)
    client = redis.Redis.from_url(redis_server.url)
    processes.start([sys.executable, TALKER, '--topic', '/chatter', '--count', '600', '--rate',
                     '50'], ros_env, tmp_path / 'talker.log').wait_output('talker: ready', 30)
    support.wait_for(lambda: client.xlen('unity:topic:/chatter') > 20, 20,
                     message='chatter mirrored')
    config.write_text(config.read_text().replace('mirror: true', 'mirror: false'))
    support.wait_for(lambda: client.xlen('unity:topic:/unity_kernel/config_changed') == 1, 20,
                     message='the reload (its config_changed event is audited too)')
    time.sleep(0.5)
    off = client.xlen('unity:topic:/chatter')
    time.sleep(2.0)
    assert client.xlen('unity:topic:/chatter') == off  # 100 messages went by, none mirrored
    config.write_text(config.read_text().replace('mirror: false', 'mirror: true'))
    support.wait_for(lambda: client.xlen('unity:topic:/chatter') > off, 20,
                     message='chatter mirrored again')
    values = [int(deserialize_message(r.cdr, String).data) for r in records(client, '/chatter')]
    assert values == sorted(values) and values[-1] - values[0] + 1 > len(values)  # a gap
    kernel.stop()
