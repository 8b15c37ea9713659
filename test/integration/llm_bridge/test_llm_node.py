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
The bridge node as a real process, driven through its lifecycle by an rclpy probe.

Requests and answers travel as ROS messages between processes; the models are scripted
loopback servers (or the real llama.cpp server, marked ``model``).
"""

import json
import os
import signal
import sys

from diagnostic_msgs.msg import DiagnosticArray
from diagnostic_msgs.srv import AddDiagnostics
from llm_support import action_reply, LlamaServer, refused_url, ScriptedServer
import pytest
from std_msgs.msg import String
import support

pytestmark = pytest.mark.ros

# the module, not the console script: colcon installs scripts in lib/unity_kernel, pip in bin
BRIDGE = [sys.executable, '-m', 'unity_llm_bridge.node']


def write_config(tmp_path, models, redis_url=None):
    routes = [
        {'name': 'chat', 'match': ['/llm/chat/**'], 'models': list(models),
         'prompt': {'user': '$text'}, 'stream': True,
         'memory': {'max_events': 4}},
        {'name': 'tools', 'match': ['/tools/**'], 'models': list(models), 'output': 'action',
         'actions': {'wave': {'topic': '/llm/actions/wave', 'schema': {
             'type': 'object', 'required': ['hand'],
             'properties': {'hand': {'enum': ['left', 'right']}}}}}},
        {'name': 'broken', 'match': ['/broken/**'],
         'models': ['nowhere']},
    ]
    all_models = {'nowhere': {'api': 'openai', 'base_url': refused_url(), 'model': 'x'},
                  **models}
    path = tmp_path / 'llm.yaml'
    path.write_text(json.dumps({
        'bridge': {'diagnostics_period_s': 0.3, 'discovery_period_s': 0.2,
                   'redis_url': redis_url},
        'models': all_models, 'routes': routes}))
    return path


def scripted(url, **extra):
    return {'api': 'openai', 'base_url': url, 'model': 'm', 'read_timeout_s': 5, **extra}


def start_bridge(processes, ros_env, tmp_path, config, name='bridge'):
    return processes.start([*BRIDGE, '--ros-args', '-p', f'config_file:={config}'], ros_env,
                           tmp_path / f'{name}.log')


def bring_up(probe, bridge):
    support.wait_for(lambda: ('llm_bridge', '/') in probe.node.get_node_names_and_namespaces(),
                     30, message='llm_bridge in the graph')
    assert probe.get_state('llm_bridge') == 'unconfigured'
    assert probe.change_state('llm_bridge', 'configure'), bridge.output()
    assert probe.get_state('llm_bridge') == 'inactive'
    assert probe.change_state('llm_bridge', 'activate'), bridge.output()


class Client:
    """The probe's side of the bridge topics."""

    def __init__(self, probe):
        self.probe = probe
        self.responses = probe.collect('/llm/response', String)
        self.errors = probe.collect('/llm/error', String)
        self.actions = probe.collect('/llm/actions/wave', String)
        self.pub = probe.node.create_publisher(String, '/llm/request', 10)
        support.wait_for(lambda: self.pub.get_subscription_count() >= 1, 20,
                         message='bridge subscribed to /llm/request')

    def send(self, **request):
        self.pub.publish(String(data=json.dumps(request)))

    def final(self, request_id, timeout=30.0):
        def found():
            for m in list(self.responses):
                data = json.loads(m.data)
                if data['id'] == request_id and data['final']:
                    return data
            return None
        return support.wait_for(found, timeout, message=f'final answer to {request_id}')

    def error(self, request_id, timeout=30.0):
        def found():
            return next((json.loads(m.data) for m in list(self.errors)
                         if json.loads(m.data)['id'] == request_id), None)
        return support.wait_for(found, timeout, message=f'error for {request_id}')

    def chunks(self, request_id):
        out = [json.loads(m.data) for m in list(self.responses)]
        return [d for d in out if d['id'] == request_id and not d['final']]


@pytest.fixture
def servers():
    made = []

    def make(**kwargs):
        made.append(ScriptedServer(**kwargs))
        return made[-1]
    yield make
    for server in made:
        server.close()


def test_requests_answers_errors_actions_and_the_query_service(processes, ros_env, tmp_path,
                                                               probe, servers):
    def reply(body):
        wants_action = body.get('response_format') is not None
        return action_reply('wave', hand='left') if wants_action else 'Hello from the model.'
    server = servers(reply=reply, chunk=3)
    bridge = start_bridge(processes, ros_env, tmp_path,
                          write_config(tmp_path, {'model': scripted(server.base_url)}))
    bring_up(probe, bridge)
    client = Client(probe)

    client.send(id='chat-1', route='chat', text='hello')
    final = client.final('chat-1')
    assert final['ok'] and final['model'] == 'model' and final['route'] == 'chat'
    chunks = client.chunks('chat-1')
    assert [c['seq'] for c in chunks] == list(range(1, len(chunks) + 1)) and len(chunks) > 1
    assert ''.join(c['delta'] for c in chunks) == final['text'] == 'Hello from the model.'

    client.send(id='tool-1', topic='/tools/arm', text='wave please')
    assert client.final('tool-1')['action'] == {'name': 'wave', 'topic': '/llm/actions/wave',
                                                'arguments': {'hand': 'left'}}
    support.wait_for(lambda: len(client.actions) == 1, 10, message='action published')
    assert json.loads(client.actions[0].data)['arguments'] == {'hand': 'left'}

    client.send(id='broken-1', topic='/broken/thing')
    error = client.error('broken-1')
    assert error['reason'] == 'all_models_failed' and 'nowhere: connect' in error['error']
    client.pub.publish(String(data='{not json'))
    support.wait_for(lambda: any(json.loads(m.data)['reason'] == 'invalid_request'
                                 for m in list(client.errors)), 10, message='invalid request')

    answer = probe._call(AddDiagnostics, '/llm/query', AddDiagnostics.Request(
        load_namespace=json.dumps({'id': 'q-1', 'route': 'chat', 'text': 'hi',
                                   'stream': False})), timeout=30)
    assert answer.success and json.loads(answer.message)['id'] == 'q-1'
    assert json.loads(answer.message)['text'] == 'Hello from the model.'
    bad = probe._call(AddDiagnostics, '/llm/query',
                      AddDiagnostics.Request(load_namespace='{"route": "nope"}'), timeout=30)
    assert not bad.success and json.loads(bad.message)['reason'] == 'no_route'
    assert not any(json.loads(m.data)['id'] == 'q-1' for m in list(client.responses))


def test_graph_events_are_routed_and_diagnostics_show_every_model(processes, ros_env,
                                                                  tmp_path, probe, servers):
    server = servers(reply='noted')
    bridge = start_bridge(processes, ros_env, tmp_path,
                          write_config(tmp_path, {'model': scripted(server.base_url)}))
    diagnostics = probe.collect('/diagnostics', DiagnosticArray)
    bring_up(probe, bridge)
    client = Client(probe)
    events = probe.node.create_publisher(String, '/llm/chat/kitchen', 10)

    def routed():
        events.publish(String(data='the kettle boiled'))
        return [json.loads(m.data) for m in list(client.responses)
                if json.loads(m.data)['final']]
    finals = support.wait_for(routed, 30, interval=0.3, message='event answered')
    assert finals[0]['route'] == 'chat' and finals[0]['text'] == 'noted'
    assert any(m['content'] == 'the kettle boiled' for m in server.requests[0]['messages'])
    client.send(id='b', topic='/broken/x')
    client.error('b')

    def statuses():
        out = {}
        for array in list(diagnostics):
            for s in array.status:
                out[s.name] = (s.level, {kv.key: kv.value for kv in s.values})
        return out if {'llm_bridge: model nowhere', 'llm_bridge: model model'} <= set(out) \
            and out['llm_bridge: model nowhere'][1]['errors'] == '1' else None
    found = support.wait_for(statuses, 20, message='per-model diagnostics')
    nowhere = found['llm_bridge: model nowhere'][1]
    assert nowhere['breaker'] == 'closed' and 'connect' in nowhere['errors_by_kind']
    model = found['llm_bridge: model model'][1]
    assert int(model['ok']) >= 1 and int(model['completion_tokens']) > 0
    assert float(model['latency_p50_ms']) > 0
    assert found['llm_bridge: bridge'][1]['state'] == 'active'


def test_deactivated_bridge_ignores_requests_and_shuts_down_cleanly(
        processes, ros_env, tmp_path, probe, servers):
    server = servers(reply='hi')
    bridge = start_bridge(processes, ros_env, tmp_path,
                          write_config(tmp_path, {'model': scripted(server.base_url)}))
    bring_up(probe, bridge)
    client = Client(probe)
    client.send(id='one', route='chat', text='a')
    client.final('one')
    assert probe.change_state('llm_bridge', 'deactivate')
    client.send(id='two', route='chat', text='b')
    assert probe.change_state('llm_bridge', 'activate')
    client.send(id='three', route='chat', text='c')
    client.final('three')
    assert not any(json.loads(m.data)['id'] == 'two' for m in list(client.responses))
    assert len(server.requests) == 2
    bridge.signal(signal.SIGINT)
    assert bridge.wait(20) == 0


def test_invalid_config_fails_configure_with_file_and_line(processes, ros_env, tmp_path,
                                                           probe):
    path = tmp_path / 'bad.yaml'
    path.write_text('models:\n  a: {api: openai, base_url: "http://x/v1", model: m}\n'
                    'routes:\n  - {name: r, match: [/x], models: [b]}\n')
    bridge = start_bridge(processes, ros_env, tmp_path, path)
    support.wait_for(lambda: ('llm_bridge', '/') in probe.node.get_node_names_and_namespaces(),
                     30, message='llm_bridge in the graph')
    assert not probe.change_state('llm_bridge', 'configure')
    bridge.wait_output(f"{path}:4: routes[0].models[0]: unknown model 'b'", 10)
    assert probe.get_state('llm_bridge') == 'unconfigured'


@pytest.mark.redis
def test_restarted_bridge_continues_the_conversation_from_redis(processes, ros_env, tmp_path,
                                                                probe, servers, redis_server):
    server = servers(reply=lambda body: f'turn {len(body["messages"])}')
    config = write_config(tmp_path, {'model': scripted(server.base_url)},
                          redis_url=redis_server.url)
    first = start_bridge(processes, ros_env, tmp_path, config, name='first')
    bring_up(probe, first)
    client = Client(probe)
    client.send(id='before', route='chat', text='remember the red cup')
    client.final('before')
    first.signal(signal.SIGINT)
    assert first.wait(20) == 0
    support.wait_for(lambda: ('llm_bridge', '/') not in
                     probe.node.get_node_names_and_namespaces(), 20, message='bridge gone')

    second = start_bridge(processes, ros_env, tmp_path, config, name='second')
    bring_up(probe, second)
    support.wait_for(lambda: client.pub.get_subscription_count() >= 1, 20,
                     message='restarted bridge subscribed')
    client.send(id='after', route='chat', text='what cup?')
    assert client.final('after')['ok']
    messages = server.requests[-1]['messages']
    assert [m['content'] for m in messages if m['role'] == 'user'] == [
        'remember the red cup', 'what cup?']
    assert [m['content'] for m in messages if m['role'] == 'assistant'] == ['turn 2']


@pytest.mark.model
def test_bridge_process_answers_with_the_real_model(processes, ros_env, tmp_path, probe):
    llama = LlamaServer(processes, dict(os.environ), tmp_path / 'llama.log')
    config = write_config(tmp_path, {'llama': {
        'api': 'openai', 'base_url': llama.base_url, 'model': 'smollm2', 'max_tokens': 24,
        'read_timeout_s': 60, 'request_timeout_s': 120}})
    bridge = start_bridge(processes, ros_env, tmp_path, config)
    bring_up(probe, bridge)
    client = Client(probe)
    client.send(id='real-1', route='chat', text='Say hello.')
    final = client.final('real-1', timeout=120)
    assert final['ok'] and final['model'] == 'llama' and final['text'].strip()
    assert final['usage']['prompt_tokens'] > 0
    chunks = client.chunks('real-1')
    assert chunks and ''.join(c['delta'] for c in chunks) == final['text']


def test_kernel_supervises_the_bridge_module_with_the_shipped_config(processes, ros_env,
                                                                     tmp_path, probe):
    from std_srvs.srv import Trigger
    config = tmp_path / 'kernel.yaml'
    config.write_text(json.dumps({
        'kernel': {'state_dir': str(tmp_path / 'state'), 'diagnostics_period_s': 0.5},
        'redis': {'enabled': False},
        'modules': {'search_paths': [str(support.ROOT / 'modules')],
                    'enabled': ['llm_bridge']}}))
    kernel = processes.start(
        [sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args',
         '-p', f'config_file:={config}', '-p', 'autostart:=true'], ros_env,
        tmp_path / 'kernel.log')

    def bridge_active():
        result = probe._call(Trigger, '/unity_kernel/modules/list', Trigger.Request())
        modules = {m['name']: m for m in json.loads(result.message)}
        return modules.get('llm_bridge', {}).get('state') == 'active'
    support.wait_for(bridge_active, 60, interval=0.5, message='llm_bridge module active')
    assert probe.get_state('llm_bridge') == 'active'
    client = Client(probe)
    client.send(id='no-server', route='chat', text='anyone there?')
    error = client.error('no-server')  # no model server runs: the robot keeps working
    assert error['reason'] == 'all_models_failed' and error['attempts'][0].startswith('local:')
    kernel.signal(signal.SIGINT)
    assert kernel.wait(60) == 0
