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
The bridge node under hostile or careless traffic, as a real process with real publishers.

One message can no longer kill it (size and depth limits on every JSON it parses from the
graph), and a burst of requests is answered one by one: every request gets an answer or an
error (``busy`` when refused), and every refusal is dead-lettered.
"""

import json
import sys

from diagnostic_msgs.msg import DiagnosticArray
from llm_support import ScriptedServer
import pytest
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
import redis
from std_msgs.msg import String
import support

pytestmark = [pytest.mark.ros, pytest.mark.redis]

BRIDGE = [sys.executable, '-m', 'unity_llm_bridge.node']


def start(processes, ros_env, tmp_path, probe, server, redis_url, **bridge):
    path = tmp_path / 'llm.yaml'
    path.write_text(json.dumps({
        'bridge': {'diagnostics_period_s': 0.3, 'redis_url': redis_url, **bridge},
        'models': {'m': {'api': 'openai', 'base_url': server.base_url, 'model': 'm',
                         'read_timeout_s': 30, 'max_concurrency': 4}},
        'routes': [{'name': 'chat', 'match': ['/llm/chat/**'], 'models': ['m'],
                    'prompt': {'user': '$text'}, 'stream': False}]}))
    node = processes.start([*BRIDGE, '--ros-args', '-p', f'config_file:={path}', '-p',
                            'autostart:=true'], ros_env, tmp_path / 'bridge.log')
    support.wait_for(lambda: probe.get_state('llm_bridge') == 'active', 60,
                     message='bridge active')
    return node


def replies(probe, topic):
    profile = QoSProfile(depth=5000, reliability=ReliabilityPolicy.RELIABLE,
                         history=HistoryPolicy.KEEP_LAST)
    return probe.collect(topic, String, profile)


def request_publisher(probe, depth=1000):
    pub = probe.node.create_publisher(String, '/llm/request', QoSProfile(
        depth=depth, reliability=ReliabilityPolicy.RELIABLE))
    support.wait_for(lambda: pub.get_subscription_count() >= 1, 20,
                     message='bridge subscribed to /llm/request')
    return pub


def ids(messages):
    return [json.loads(m.data)['id'] for m in list(messages)]


@pytest.mark.timeout(180)
def test_one_hostile_request_is_answered_as_an_error_and_the_bridge_lives_on(
        processes, ros_env, tmp_path, probe, redis_server):
    server = ScriptedServer(reply='fine')
    try:
        bridge = start(processes, ros_env, tmp_path, probe, server, redis_server.url)
        errors = replies(probe, '/llm/error')
        answers = replies(probe, '/llm/response')
        pub = request_publisher(probe)
        hostile = ['[' * 2000 + ']' * 2000,
                   '{"id": "deep", "route": "chat", "fields": ' + '[' * 500 + ']' * 500 + '}',
                   '{"id": "big", "route": "chat", "text": "' + 'x' * 200_000 + '"}',
                   '{"id": "dup", "route": "chat", "route": "x"}',
                   '{"id": "num", "route": "chat", "fields": ' + '9' * 5000 + '}',
                   '\x00\xff not json']
        for text in hostile:
            pub.publish(String(data=text))
        pub.publish(String(data=json.dumps({'id': 'after', 'route': 'chat', 'text': 'hi'})))
        support.wait_for(lambda: 'after' in ids(answers), 60, message='bridge still answers')
        support.wait_for(lambda: len(errors) == len(hostile), 30,
                         message='every hostile request answered on the error topic')
        bodies = [json.loads(m.data) for m in list(errors)]
        assert {b['reason'] for b in bodies} == {'invalid_request'}
        assert {'deep', 'big', 'dup', 'num'} <= {b['id'] for b in bodies}, bodies
        assert any('deeper than' in b['error'] for b in bodies)
        assert any('larger than' in b['error'] for b in bodies)
        assert bridge.proc.poll() is None
        assert 'Traceback' not in bridge.output()
        client = redis.Redis.from_url(redis_server.url)
        support.wait_for(lambda: client.xlen('unity:llm:deadletters') == len(hostile), 10,
                         message='every hostile request dead-lettered')
    finally:
        server.close()


@pytest.mark.timeout(300)
def test_a_burst_of_requests_is_answered_one_by_one_nothing_vanishes(
        processes, ros_env, tmp_path, probe, redis_server):
    total = 1000
    server = ScriptedServer(reply='ok', delay_s=0.2)
    try:
        start(processes, ros_env, tmp_path, probe, server, redis_server.url,
              workers=4, max_pending=16)
        errors = replies(probe, '/llm/error')
        answers = replies(probe, '/llm/response')
        diagnostics = probe.collect('/diagnostics', DiagnosticArray)
        pub = request_publisher(probe, depth=total)
        for i in range(total):  # unpaced
            pub.publish(String(data=json.dumps({'id': f'r{i}', 'route': 'chat',
                                                'text': 'hi'})))

        def settled():
            return len(set(ids(errors)) | set(ids(answers))) == total
        support.wait_for(settled, 180, message='an answer or an error for every request')
        refused = [json.loads(m.data) for m in list(errors)]
        assert refused and {r['reason'] for r in refused} == {'busy'}
        assert set(ids(errors)).isdisjoint(ids(answers))
        client = redis.Redis.from_url(redis_server.url)
        support.wait_for(lambda: client.xlen('unity:llm:deadletters') == len(refused), 10,
                         message='every refusal dead-lettered')

        def busy_on_diagnostics():
            for array in list(diagnostics):
                for status in array.status:
                    values = {kv.key: kv.value for kv in status.values}
                    if status.name.endswith(': bridge') and \
                            values.get('busy') == str(len(refused)):
                        return values
            return None
        values = support.wait_for(busy_on_diagnostics, 10, message='busy count on diagnostics')
        assert values['requests_lost'] == '0'
    finally:
        server.close()
