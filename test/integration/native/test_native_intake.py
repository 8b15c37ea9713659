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
The native intake end to end: DDS -> native threads -> ring -> writer -> Redis.

A topic no handler wants never reaches the interpreter yet is audited; a wanted one reaches
its handler with the sequence number it has in Redis; events published in the interpreter
share the one order (entry IDs in sequence order across every stream).
"""

import sys
import time

import kernel_support
import pytest
import redis
import support

from unity_kernel_core import native
from unity_kernel_core.audit.record import AuditRecord, parse_id

pytestmark = pytest.mark.skipif(native.rcl() is None, reason=native.why_not())


def test_only_wanted_topics_enter_the_interpreter_and_everything_is_audited_in_one_order(
        rclpy_context, ros_env, tmp_path, processes, redis_server):
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{discovery_period_s: 0.2, state_dir: {tmp_path / "state"}, '
                      'intake: native}\n'
                      f'redis: {{url: "{redis_server.url}", flush_interval_ms: 2}}\n'
                      'live: {enabled: false}\n')
    watched = []

    def on_active(n):
        n.bus.subscribe('/watched', watched.append, name='test_handler')

    with kernel_support.active_kernel(config, rclpy_context, on_active) as node:
        talkers = [processes.start(
            [sys.executable, str(support.ROOT / 'test' / 'nodes' / 'talker.py'),
             '--topic', topic, '--count', str(count), '--rate', '200'],
            ros_env, tmp_path / f'talker{count}.log')
            for topic, count in (('/audit_only', 200), ('/watched', 100))]
        for i in range(20):  # events of the interpreter, between the DDS messages
            node.bus.publish('/py/event', 'std_msgs/msg/String', cdr=bytes(12))
            time.sleep(0.01)
        for talker in talkers:
            talker.wait_output('talker: done', 30)
        support.wait_for(lambda: len(watched) == 100, 10, message='100 watched events')
        stats = node.intake.stats()
        assert stats['taken'] == 300 and stats['delivered'] == 100
    client = redis.Redis.from_url(redis_server.url)
    records = [AuditRecord.from_entry(i, f)
               for topic in ('/audit_only', '/watched', '/py/event')
               for i, f in client.xrange(f'unity:topic:{topic}')]
    by_topic = {t: [r for r in records if r.topic == t] for t in ('/audit_only', '/watched')}
    assert [len(v) for v in by_topic.values()] == [200, 100]
    assert len([r for r in records if r.topic == '/py/event']) == 20
    # the handler saw the sequence numbers the trail holds; one order across all streams
    assert [e.seq for e in watched] == [r.seq for r in by_topic['/watched']]
    in_id_order = sorted(records, key=lambda r: parse_id(r.entry_id))
    seqs = [r.seq for r in in_id_order]
    assert seqs == sorted(seqs) and len(set(seqs)) == 320
    assert {r.tier for r in records} == {'NORMAL'}
