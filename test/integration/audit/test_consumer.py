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

"""Consumer groups over the audit trail: a consumer killed mid-batch loses nothing."""

import os
import signal
import sys

import pytest
from rclpy.serialization import serialize_message
import redis
from std_msgs.msg import String
import support

from unity_kernel_core.audit.record import AuditRecord, StreamKeys

pytestmark = pytest.mark.redis

CONSUMER = str(support.ROOT / 'test' / 'nodes' / 'audit_consumer.py')
N = 300


def fill(client, n=N):
    keys = StreamKeys('unity')
    for topic in ('/a', '/b'):
        client.sadd(keys.streams, keys.topic(topic))
    for i in range(n):
        topic = '/a' if i % 2 else '/b'
        record = AuditRecord(topic, 'std_msgs/msg/String', 'NORMAL', i + 1, 10**18 + i,
                             serialize_message(String(data=str(i))))
        client.xadd(keys.topic(topic), record.fields(), id=f'{10**12 + i}-{i + 1}')


def lines(path):
    return path.read_text().splitlines() if path.exists() else []


def start(processes, tmp_path, url, name, out, log, **extra):
    args = [sys.executable, CONSUMER, '--url', url, '--group', 'g', '--name', name, '--out',
            str(out), '--delay', '0.005']
    for key, value in extra.items():
        args += [f'--{key.replace("_", "-")}', str(value)]
    proc = processes.start(args, dict(os.environ, PYTHONPATH=str(support.SRC)), tmp_path / log)
    proc.wait_output('consumer: ready', 20)
    return proc


def check_everything_handled(client, out):
    handled = [line.split()[1] for line in lines(out)]
    assert set(handled) == {str(i) for i in range(N)}
    duplicates = len(handled) - N
    for key in ('unity:topic:/a', 'unity:topic:/b'):
        assert client.xpending(key, 'g')['pending'] == 0
    return duplicates


def all_done(client, out):
    try:
        return check_everything_handled(client, out) is not None
    except AssertionError:
        return False


def kill_mid_batch(tmp_path, redis_server, processes):
    """Fill the streams, start consumer c1, SIGKILL it after 50 entries; (client, out file)."""
    client = redis.Redis.from_url(redis_server.url)
    fill(client)
    out = tmp_path / 'handled.txt'
    first = start(processes, tmp_path, redis_server.url, 'c1', out, 'c1.log')
    support.wait_for(lambda: len(lines(out)) >= 50, 20, message='50 entries handled')
    first.signal(signal.SIGKILL)
    first.wait(10)
    return client, out


def test_consumer_killed_mid_batch_resumes_from_its_pending_entries(tmp_path, redis_server,
                                                                    processes):
    client, out = kill_mid_batch(tmp_path, redis_server, processes)
    pending = sum(client.xpending(k, 'g')['pending']
                  for k in ('unity:topic:/a', 'unity:topic:/b'))
    assert pending > 0  # killed mid-batch: read but not acknowledged
    start(processes, tmp_path, redis_server.url, 'c1', out, 'c1b.log')
    support.wait_for(lambda: len({line.split()[1] for line in lines(out)}) == N, 30,
                     message='every entry handled after the restart')
    support.wait_for(lambda: all_done(client, out), 10, message='everything acknowledged')
    assert check_everything_handled(client, out) <= 1  # at most the one in the handler


def test_dead_consumers_pending_entries_are_claimed_by_another(tmp_path, redis_server,
                                                               processes):
    client, out = kill_mid_batch(tmp_path, redis_server, processes)
    start(processes, tmp_path, redis_server.url, 'c2', out, 'c2.log', claim_idle_ms=500)
    support.wait_for(lambda: all_done(client, out), 30,
                     message='c2 handled everything, c1 pending claimed')
    assert check_everything_handled(client, out) <= 1
    consumers = {c['name']: c['pending'] for c in client.xinfo_consumers('unity:topic:/a', 'g')}
    assert consumers.get(b'c1', consumers.get('c1')) == 0


def test_node_consumer_hands_ros_messages_to_a_node_callback(rclpy_context, redis_server):
    import rclpy

    from unity_kernel_core.audit.consumer import AuditConsumer
    from unity_kernel_core.audit.consumer_node import NodeConsumer
    client = redis.Redis.from_url(redis_server.url)
    fill(client, 40)
    node = rclpy.create_node('audit_consumer_test', context=rclpy_context)
    got = []
    helper = NodeConsumer(node, AuditConsumer(client, StreamKeys('unity'), 'ros', 'n1', '/a',
                                              block_ms=50),
                          lambda topic, msg, record: got.append((topic, msg.data)))
    helper.start()
    try:
        support.wait_for(lambda: len(got) == 20, 10, message='20 messages from /a')
    finally:
        helper.stop()
        node.destroy_node()
    assert got == [('/a', str(i)) for i in range(1, 40, 2)]
    assert client.xpending('unity:topic:/a', 'ros')['pending'] == 0
