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
The audit trail on a real Redis Cluster (3 masters, 3 replicas on loopback).

A kernel streams a talker's numbered messages into the cluster while the master serving the
robot's slot is killed with SIGKILL: after its replica took over, every number is there
exactly once and in order. The tools (export, dlq, fleet, consumers, LLM memory) read and
write the robot's keys on the cluster; an ACL user over TLS works as with one server.
"""

import json
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from mcap_ros2.reader import read_ros2_messages
import pytest
from rclpy.serialization import deserialize_message, serialize_message
import redis
from std_msgs.msg import String
import support

from unity_kernel_core.audit.batch_writer import BatchWriter
from unity_kernel_core.audit.consumer import AuditConsumer
from unity_kernel_core.audit.journal import Journal
from unity_kernel_core.audit.mirror import MirrorWriter
from unity_kernel_core.audit.record import AuditRecord, StreamKeys
from unity_kernel_core.audit.redis_connection import connect
from unity_kernel_core.bus.event_bus import DeadLetter, EventBus
from unity_kernel_core.bus.events import Event, Tier
from unity_kernel_core.config.kernel_config import parse_config
from unity_llm_bridge.memory import RedisStore

pytestmark = [pytest.mark.redis]

TALKER = str(support.ROOT / 'test' / 'nodes' / 'talker.py')


def cluster_yaml(tmp_path, cluster, robot='r1', url=None, extra=''):
    nodes = ', '.join(f'"{cluster.bind}:{p}"' for p in cluster.ports)
    return (f'kernel: {{robot_id: {robot}, discovery_period_s: 0.2, diagnostics_period_s: 0.2,'
            f' state_dir: {tmp_path / "state"}}}\n'
            f'redis: {{url: "{url or cluster.url}", cluster: true, cluster_nodes: [{nodes}], '
            f'flush_interval_ms: 5, reconnect_interval_ms: 200{extra}}}\n'
            'fleet: {heartbeat_period_s: 0.5, stale_after_s: 5}\n')


def values(client, key):
    return [int(deserialize_message(AuditRecord.from_entry(i, f).cdr, String).data)
            for i, f in client.xrange(key)]


def mirror_values(array):
    for status in array.status:
        if status.name.endswith(': mirror'):
            return {kv.key: kv.value for kv in status.values}
    return None


@pytest.mark.ros
def test_a_master_killed_mid_stream_loses_nothing_once_its_replica_took_over(
        probe, ros_env, tmp_path, processes, redis_cluster):
    keys = StreamKeys('unity', 'r1')
    master = redis_cluster.master_of(keys.meta)
    # the kernel's start-up node is the very master that dies (the others are cluster_nodes)
    config = tmp_path / 'kernel.yaml'
    # DDS keeps every message for the kernel (a loaded machine must not drop any before it)
    config.write_text(cluster_yaml(tmp_path, redis_cluster, url=redis_cluster.url_of(master))
                      + 'tiers: {NORMAL: {qos: {history: keep_all}}}\n')
    kernel = processes.start([sys.executable, '-m', 'unity_kernel_core.kernel.node',
                              '--ros-args', '-p', f'config_file:={config}', '-p',
                              'autostart:=true'], ros_env, tmp_path / 'kernel.log')
    kernel.wait_output('active: mapping topics', 30)
    diagnostics = probe.collect('/diagnostics', DiagnosticArray)
    talker = processes.start([sys.executable, TALKER, '--topic', '/chatter', '--count', '3000',
                              '--rate', '500'], ros_env, tmp_path / 'talker.log')
    talker.wait_output('talker: ready', 30)
    time.sleep(1.5)
    redis_cluster.kill(master)
    killed_at = time.monotonic()
    talker.wait_output('talker: done', 30)
    client = redis.RedisCluster(host='127.0.0.1', port=redis_cluster.alive()[0])
    key = keys.topic('/chatter')
    try:
        support.wait_for(lambda: client.xlen(key) >= 3000, 60,
                         message='all 3000 events in the cluster after the failover')
    except AssertionError as exc:
        got = values(client, key)
        missing = sorted(set(range(3000)) - set(got))
        last = [v for v in map(mirror_values, list(diagnostics)) if v][-1:]
        raise AssertionError(f'{exc}: {len(got)} in the stream, missing {missing[:5]}..'
                             f'{missing[-5:]} ({len(missing)}); mirror {last}; cluster nodes:\n'
                             f'{redis_cluster.nodes_text()}\nkernel log:\n'
                             f'{kernel.output()[-6000:]}') from None
    print(f'failover: every event in the cluster {time.monotonic() - killed_at:.1f}s after '
          'the kill')
    assert values(client, key) == list(range(3000))  # each exactly once, in order
    new_master = redis_cluster.master_of(keys.meta)
    assert new_master != master and redis_cluster.role(new_master) == 'master'
    statuses = [v for v in map(mirror_values, list(diagnostics)) if v]
    assert max(int(v['journaled']) for v in statuses) > 0  # the failover hit the stream
    assert statuses[-1]['dropped_queue'] == '0' and statuses[-1]['dropped_journal_full'] == '0'
    support.wait_for(lambda: json.loads(client.hget(keys.fleet, 'r1') or b'{}').get(
        'state') == 'active', 10, message='the heartbeat on the new master')
    assert not list(client.scan_iter(match='unity:topic:*'))  # only the robot's keys
    kernel.stop()


def make_writer(tmp_path, text):
    config = parse_config(text)
    journal = Journal(tmp_path / 'journal', config.redis.journal_max_bytes)
    return MirrorWriter(BatchWriter(config.redis, config.routes, StreamKeys.of(config), journal,
                        lambda: connect(config.redis))), config


def cdr(i):
    return serialize_message(String(data=str(i)))


def test_the_tools_read_and_write_a_robots_keys_on_the_cluster(tmp_path, redis_cluster,
                                                               ros_env):
    text = cluster_yaml(tmp_path, redis_cluster, robot='scout')
    writer, config = make_writer(tmp_path, text)
    bus = EventBus()
    bus.start()
    writer.prime()
    writer.start()
    bus.add_tap(writer.offer)
    for i in range(200):
        bus.publish(f'/t{i % 4}', 'std_msgs/msg/String', cdr=cdr(i))
    support.wait_for(lambda: writer.snapshot()['written'] == 200, 20, message='200 written')
    writer.offer_dead_letter(DeadLetter(
        event=Event('/t0', 'std_msgs/msg/String', Tier.NORMAL, 7, cdr=cdr(7)), handler='h',
        error='boom', traceback='tb', attempts=3, time_ns=time.time_ns()))
    writer.stop(10)
    bus.stop()
    client = connect(config.redis)
    keys = StreamKeys('unity', 'scout')
    assert sum(client.xlen(keys.topic(f'/t{t}')) for t in range(4)) == 200
    assert client.xlen(keys.dead_letters) == 1

    path = tmp_path / 'kernel.yaml'
    path.write_text(text)
    out = tmp_path / 'trail.mcap'
    result = support.cli(ros_env, 'export', '--config', str(path), '--robot', 'scout', '-o',
                         str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(int(m.ros_msg.data) for m in read_ros2_messages(str(out))) == list(range(200))
    listed = support.cli(ros_env, 'dlq', '--config', str(path), 'list', '--json')
    assert listed.returncode == 0, listed.stderr
    assert [(r['stream'], r['error']) for r in json.loads(listed.stdout)] == [('kernel', 'boom')]
    other = support.cli(ros_env, 'dlq', '--config', str(path), '--robot', 'nobody', 'list',
                        '--json')
    assert other.returncode == 0 and json.loads(other.stdout) == []
    bad = support.cli(ros_env, 'export', '--config', str(path), '--robot', 'no-way', '-o',
                      str(out))
    assert bad.returncode == 2 and 'robot id' in bad.stderr

    consumer = AuditConsumer(client, keys, 'planner', 'p1', '/t*', block_ms=100)
    got = []
    while consumer.poll(lambda r: got.append(int(deserialize_message(r.cdr, String).data))):
        pass
    assert sorted(got) == list(range(200))

    memory = RedisStore(client, 'unity', 'scout')
    memory.append('chat', [{'role': 'user', 'content': 'hi'}], 2)
    assert memory.recent('chat', 2) == [[{'role': 'user', 'content': 'hi'}]]
    assert client.exists('unity:{scout}:llm:memory:chat')


@pytest.fixture
def tls_acl_cluster(tmp_path):
    """Run a cluster serving TLS only, with an ACL user ``mirror`` held to ``unity:*``."""
    import cluster_support
    cluster = cluster_support.RedisClusterProcesses(
        tmp_path / 'cluster', extra_args=['--user', 'mirror', 'on', '>s3cret-pw', '~unity:*',
                                          '+@all'])
    cluster.use_tls(cluster_support.make_certs(tmp_path / 'certs'))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def test_an_acl_user_over_tls_mirrors_into_the_cluster_as_into_one_server(
        tmp_path, tls_acl_cluster, monkeypatch):
    certs = tls_acl_cluster.tls
    monkeypatch.setenv('UNITY_REDIS_PASSWORD', 's3cret-pw')
    text = cluster_yaml(tmp_path, tls_acl_cluster, robot='r9',
                        extra=f', username: mirror, tls_ca_file: "{certs["ca"]}"')
    writer, config = make_writer(tmp_path, text)
    bus = EventBus()
    bus.start()
    writer.prime()
    writer.start()
    bus.add_tap(writer.offer)
    for i in range(100):
        bus.publish('/chatter', 'std_msgs/msg/String', cdr=cdr(i))
    support.wait_for(lambda: writer.snapshot()['written'] == 100, 20, message='100 written')
    snap = writer.snapshot()
    writer.stop(10)
    bus.stop()
    assert snap['journaled'] == 0 and 's3cret' not in json.dumps(snap)
    client = connect(config.redis)
    assert values(client, StreamKeys('unity', 'r9').topic('/chatter')) == list(range(100))
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.set('elsewhere', '1')  # the ACL user is held to unity:*
    monkeypatch.setenv('UNITY_REDIS_PASSWORD', 'wrong')
    with pytest.raises(Exception, match='(?i)auth|password'):
        connect(config.redis).ping()
