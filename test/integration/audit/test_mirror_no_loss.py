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
The mirror loses nothing it can keep.

CRITICAL events past a full queue wait for room; a batch whose sending fails in an unexpected
way is journaled and delivered once the cause is gone.
"""

import dataclasses
import threading
import time

import pytest
from rclpy.serialization import serialize_message
import redis
from std_msgs.msg import String
import support

from unity_kernel_core.audit.batch_writer import BatchWriter
from unity_kernel_core.audit.journal import Journal
from unity_kernel_core.audit.mirror import MirrorWriter
from unity_kernel_core.audit.record import AuditRecord, StreamKeys
from unity_kernel_core.audit.redis_connection import connect
from unity_kernel_core.bus.event_bus import EventBus
from unity_kernel_core.config.kernel_config import parse_config
from unity_kernel_core.ros import message_types

pytestmark = pytest.mark.redis


def make_writer(tmp_path, url, extra=''):
    config = parse_config(f'redis: {{url: "{url}", flush_interval_ms: 2, batch_size: 50,'
                          f' reconnect_interval_ms: 100{extra}}}\n'
                          'topics:\n  - {pattern: /safety/**, tier: CRITICAL}\n'
                          '  - {pattern: /**, tier: NORMAL}\n')
    journal = Journal(tmp_path / 'journal', config.redis.journal_max_bytes)
    writer = MirrorWriter(BatchWriter(config.redis, config.routes, StreamKeys('unity'), journal,
                          lambda: connect(config.redis)))
    bus = EventBus(config.policies(), classifier=lambda t: config.routes(t).tier,
                   codec=message_types.CDR)
    return writer, bus, config


def cdr(i):
    return serialize_message(String(data=f'm{i}'))


@pytest.mark.timeout(60)
def test_the_mirror_queue_never_drops_a_critical_event(tmp_path, redis_server):
    writer, bus, _config = make_writer(tmp_path, redis_server.url, ', queue_size: 10')
    bus.start()
    bus.add_tap(writer.offer)  # the writer thread is not running yet: nothing leaves the queue
    for i in range(15):
        bus.publish('/chatter', 'std_msgs/msg/String', cdr=cdr(i))
    for i in range(10):
        bus.publish('/safety/estop', 'std_msgs/msg/String', cdr=cdr(100 + i))
    late = threading.Thread(target=lambda: [
        bus.publish('/safety/estop', 'std_msgs/msg/String', cdr=cdr(110 + i)) for i in range(5)])
    late.start()
    time.sleep(0.5)
    assert late.is_alive()  # CRITICAL waits for room rather than being dropped
    snap = writer.snapshot()
    assert snap['dropped_by_tier'] == {'CRITICAL': 0, 'HIGH': 0, 'NORMAL': 5, 'LOW': 0,
                                       'DEFERRED': 0}
    assert snap['critical_waits'] >= 1
    writer.prime()
    writer.start()
    late.join(20)
    assert not late.is_alive()
    bus.remove_tap(writer.offer)
    bus.stop()
    writer.stop(10)
    client = redis.Redis.from_url(redis_server.url)
    critical = [AuditRecord.from_entry(i, f).cdr
                for i, f in client.xrange('unity:topic:/safety/estop')]
    assert critical == [cdr(100 + i) for i in range(15)]
    assert client.xlen('unity:topic:/chatter') == 10


@pytest.mark.timeout(60)
def test_a_batch_that_fails_to_send_is_journaled_then_delivered(tmp_path, redis_server):
    writer, bus, config = make_writer(tmp_path, redis_server.url)
    good = config.routes
    # what a hot reload with retention_max_age_s: .inf did before the schema refused it
    broken = dataclasses.replace(good('/x'), max_age_s=float('inf'))
    writer.routes = lambda topic: broken if topic == '/x' else good(topic)
    writer.prime()
    writer.start()
    bus.start()
    bus.add_tap(writer.offer)
    for i in range(20):
        bus.publish('/x', 'std_msgs/msg/String', cdr=cdr(i))
    support.wait_for(lambda: writer.snapshot()['journaled'] == 20, 10,
                     message='the failing batch journaled')
    assert writer.snapshot()['writer_errors'] >= 1
    writer.routes = good  # the cause is gone (a valid config)
    client = redis.Redis.from_url(redis_server.url)
    support.wait_for(lambda: client.xlen('unity:topic:/x') == 20, 20,
                     message='journaled batch delivered')
    bus.remove_tap(writer.offer)
    bus.stop()
    writer.stop(10)
    assert [AuditRecord.from_entry(i, f).cdr for i, f in client.xrange('unity:topic:/x')] == \
        [cdr(i) for i in range(20)]
