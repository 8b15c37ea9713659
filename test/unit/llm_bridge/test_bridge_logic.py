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

"""LLM bridge pure logic: config errors, routing, prompts, breaker, budgets, actions, memory."""

import json
import textwrap

import pytest
import support

from unity_kernel_core.api.launch_plan import node_modules
from unity_kernel_core.supervision.manifest import load_manifest
from unity_llm_bridge import actions
from unity_llm_bridge.breaker import BreakerState, CircuitBreaker
from unity_llm_bridge.config import load_bridge_config, parse_bridge_config
from unity_llm_bridge.errors import BridgeConfigError, NoRoute, OutputRejected
from unity_llm_bridge.limits import Budget, ConcurrencyLimit
from unity_llm_bridge.memory import history, InMemoryStore
from unity_llm_bridge.routing import LlmRequest, render_messages, Router

CONFIG = textwrap.dedent("""\
    models:
      a: {api: openai, base_url: 'http://127.0.0.1:1/v1', model: m}
      b: {api: ollama, base_url: 'http://127.0.0.1:2', model: m}
    routes:
      - name: safety_talk
        match: [/robot/*/speech]
        models: [a]
      - name: tools
        match: [/tools/**]
        models: [b, a]
        output: action
        prompt: {system: 'route $route', user: '$topic $type $fields $text'}
        actions:
          move:
            topic: /llm/actions/move
            schema: {type: object, required: [x], additionalProperties: false,
                     properties: {x: {type: number, maximum: 2}}}
      - name: fallback
        match: [/**]
        models: [a]
        max_answer_chars: 10
    """)


class Clock:

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def config():
    return parse_bridge_config(CONFIG, 'llm.yaml')


def route_problems(routes):
    """Return the issues of a config with one model ``a`` and ``routes`` (from line 4)."""
    text = "models:\n  a: {api: openai, base_url: 'http://x/v1', model: m}\nroutes:\n"
    with pytest.raises(BridgeConfigError) as info:
        parse_bridge_config(text + textwrap.dedent(routes), 'llm.yaml')
    return [str(i) for i in info.value.issues]


def test_shipped_config_and_manifest_are_valid():
    config = load_bridge_config(support.ROOT / 'config' / 'llm_bridge.yaml')
    assert [r.name for r in config.routes] == ['chat', 'commands']
    manifest = load_manifest(support.ROOT / 'modules' / 'llm_bridge')
    assert manifest.executable == 'llm_bridge'


def test_config_errors_name_file_line_and_key():
    found = route_problems("""\
          - name: r
            match: [/x]
            models: [a, nope]
            prompt: {user: '$topic $secret'}
        """)
    assert any(p.startswith('llm.yaml:7: routes[0].prompt.user') and '$secret' in p
               for p in found), found
    found = route_problems("""\
          - name: r
            match: [/x]
            models: [a, nope]
        """)
    assert found == ["llm.yaml:6: routes[0].models[1]: unknown model 'nope' (models: a)"]


def test_actions_may_not_target_kernel_or_safety_topics_and_need_valid_schemas():
    found = route_problems("""\
          - name: r
            match: [/x]
            models: [a]
            output: action
            actions:
              stop: {topic: /safety/estop}
              bad: {topic: /ok, schema: {type: 12}}
        """)
    assert any('llm.yaml:10: routes[0].actions.bad.schema' in p for p in found), found
    found = route_problems("""\
          - name: r
            match: [/x]
            models: [a]
            actions:
              stop: {topic: /safety/estop}
        """)
    assert len(found) == 1 and 'llm.yaml:8: routes[0].actions.stop.topic' in found[0]


def test_unknown_keys_and_output_without_actions_are_errors():
    with pytest.raises(BridgeConfigError) as info:
        parse_bridge_config("models:\n  a: {api: openai, base_url: 'http://x/v1', model: m, "
                            'temprature: 0}\nroutes:\n'
                            '  - {name: r, match: [/x], models: [a], output: action}\n')
    found = [str(i) for i in info.value.issues]
    assert any('models.a.temprature: unknown key' in p for p in found), found
    assert any('needs at least one declared action' in p for p in found), found


def test_routing_by_topic_pattern_first_match_wins(config):
    router = Router(config)
    assert router.route_for(LlmRequest('1', topic='/robot/r2/speech')).name == 'safety_talk'
    assert router.route_for(LlmRequest('2', topic='/robot/r2/arm/speech')).name == 'fallback'
    assert router.route_for(LlmRequest('3', topic='/tools/arm/move')).name == 'tools'
    assert router.route_for(LlmRequest('4', topic='/x', route='tools')).name == 'tools'
    with pytest.raises(NoRoute):
        router.route_for(LlmRequest('5', route='missing'))
    config = parse_bridge_config(CONFIG.split('  - name: fallback')[0], 'x.yaml')
    with pytest.raises(NoRoute):
        Router(config).route_for(LlmRequest('6', topic='/other'))


def test_prompt_renders_topic_type_fields_and_history(config):
    route = config.route_named('tools')
    request = LlmRequest('id1', topic='/tools/a', type_name='std_msgs/msg/String',
                         fields={'data': 'go'}, text='go')
    past = [{'role': 'user', 'content': 'before'}, {'role': 'assistant', 'content': 'ok'}]
    messages = render_messages(route, request, past)
    assert messages[0] == {'role': 'system', 'content': 'route tools'}
    assert messages[1:3] == past
    assert messages[3] == {'role': 'user',
                           'content': '/tools/a std_msgs/msg/String {"data": "go"} go'}


def test_request_json_is_checked():
    request = LlmRequest.from_json('{"id": "abc", "topic": "/x", "stream": true}')
    assert (request.request_id, request.topic, request.stream) == ('abc', '/x', True)
    assert request.to_json() == {'id': 'abc', 'topic': '/x', 'text': '', 'type': '',
                                 'stream': True}
    assert LlmRequest.from_json({'route': 'r'}).request_id  # generated
    for bad, why in [('nope', 'not JSON'), ('[1]', 'JSON object'), ('{"topic": 3}', 'string'),
                     ('{"text": "hi"}', "needs 'topic'"), ('{"route": "r", "x": 1}', 'unknown')]:
        with pytest.raises(ValueError, match=why):
            LlmRequest.from_json(bad)


def test_breaker_opens_half_opens_and_closes():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=10, clock=clock)
    assert breaker.allow() and breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()          # the one trial call
    assert not breaker.allow()      # nobody else while it runs
    breaker.record_failure()        # trial failed: open again for a full cool-down
    assert breaker.state is BreakerState.OPEN
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    assert breaker.opened_count == 2


def test_success_resets_the_failure_count():
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=1, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_token_budget_per_minute_with_reservations():
    clock = Clock()
    budget = Budget(tokens_per_minute=100, cost_per_minute=None, clock=clock)
    first = budget.reserve(30, 30)
    assert first is not None
    assert budget.reserve(30, 30) is None          # 60 reserved + 60 > 100
    budget.settle(first, 20, 10)                    # real usage 30
    second = budget.reserve(30, 30)
    assert second is not None and budget.used()[0] == 90
    budget.settle(second, 0, 0)                     # call never happened
    clock.now += 61                                 # the window moves on
    assert budget.used() == (0, 0.0)
    assert budget.reserve(50, 50) is not None and budget.refused == 1


def test_cost_budget_per_minute():
    budget = Budget(None, cost_per_minute=0.01, cost_per_1k_prompt=1.0,
                    cost_per_1k_completion=2.0, clock=Clock())
    assert budget.cost(1000, 500) == pytest.approx(2.0)
    assert budget.reserve(5, 0) is not None         # 0.005
    assert budget.reserve(4, 1) is None             # +0.006 > 0.01


def test_concurrency_limit():
    limit = ConcurrencyLimit(2)
    assert limit.try_acquire() and limit.try_acquire() and not limit.try_acquire()
    limit.release()
    assert limit.try_acquire() and limit.refused == 1


def test_declared_action_with_valid_arguments_is_accepted(config):
    route = config.route_named('tools')
    answer = actions.accept(route, '```json\n{"action": "move", "arguments": {"x": 1.5}}\n```')
    assert answer.action == actions.Action('move', '/llm/actions/move', {'x': 1.5})


@pytest.mark.parametrize('text, reason', [
    ('{"action": "move", "arguments": {"x": 1.5}', 'malformed_json'),
    ('sure, moving now', 'malformed_json'),
    ('{"action": "self_destruct", "arguments": {}}', 'undeclared_action'),
    ('{"action": "move", "arguments": {"x": 9}}', 'invalid_arguments'),
    ('{"action": "move", "arguments": {"x": 1, "y": 2}}', 'invalid_arguments'),
    ('{"action": "move", "arguments": [1]}', 'invalid_arguments'),
    ('{"action": "move", "arguments": {}, "topic": "/safety/estop"}', 'not_an_action'),
    ('["move"]', 'not_an_action'),
])
def test_invalid_actions_are_rejected_with_the_reason(config, text, reason):
    with pytest.raises(OutputRejected) as info:
        actions.accept(config.route_named('tools'), text)
    assert info.value.reason == reason


def test_oversized_answer_is_rejected(config):
    route = config.route_named('fallback')
    assert actions.accept(route, '0123456789').text == '0123456789'
    with pytest.raises(OutputRejected) as info:
        actions.accept(route, '0123456789!')
    assert info.value.reason == 'oversized'


def test_memory_keeps_the_last_n_exchanges_within_the_token_bound():
    store = InMemoryStore()
    for i in range(10):
        store.append('r', [{'role': 'user', 'content': f'q{i}'},
                           {'role': 'assistant', 'content': f'a{i}'}], 3)
    assert [e[0]['content'] for e in store.recent('r', 3)] == ['q7', 'q8', 'q9']
    assert [m['content'] for m in history(store, 'r', 3, 1000)] == \
        ['q7', 'a7', 'q8', 'a8', 'q9', 'a9']
    # each exchange costs 2 * (1 + 4) = 10 estimated tokens: only the newest two fit in 25
    assert [m['content'] for m in history(store, 'r', 3, 25)] == ['q8', 'a8', 'q9', 'a9']
    assert store.recent('other', 3) == [] and history(store, 'r', 0, 100) == []


def test_launch_plan_starts_the_bridge_when_enabled(tmp_path):
    config = tmp_path / 'kernel.yaml'
    config.write_text(json.dumps({'modules': {
        'search_paths': [str(support.ROOT / 'modules')],
        'enabled': ['heartbeat', 'llm_bridge']}}))
    plan = node_modules(config)
    assert [(m.module, m.executable) for m in plan] == [('llm_bridge', 'llm_bridge')]
    shipped = [m.module for m in node_modules(support.ROOT / 'config' / 'kernel.yaml')]
    assert 'llm_bridge' not in shipped  # needs a model server: enabled by the user


def test_message_fields_are_plain_json_and_bounded():
    from sensor_msgs.msg import Image, Imu
    from unity_llm_bridge.ros_fields import message_fields
    imu = Imu()
    imu.linear_acceleration.z = 9.81
    fields = message_fields(imu)
    assert fields['linear_acceleration'] == {'x': 0.0, 'y': 0.0, 'z': 9.81}
    assert fields['header']['frame_id'] == '' and len(fields['orientation_covariance']) == 9
    image = Image(height=480, width=640, encoding='rgb8', data=bytes(640 * 480 * 3))
    fields = message_fields(image)
    assert fields['encoding'] == 'rgb8' and len(fields['data']) == 65
    assert fields['data'][-1] == f'... {640 * 480 * 3 - 64} more'
    json.dumps(fields)


class BrokenProvider:
    """A provider with a bug: ``chat`` raises what no provider should (once), then answers."""

    name = 'a'

    def __init__(self, settings):
        self.settings = settings
        self.calls = 0

    def connect(self):
        pass

    def close(self):
        pass

    def chat(self, messages, **kwargs):
        from unity_llm_bridge.providers.base import Completion
        self.calls += 1
        if self.calls == 1:
            return {}['choices']  # as a wrong-shaped answer once made a provider do
        return Completion('fine', 1, 1, True, 0.0)


class Output:

    def __init__(self):
        self.errors, self.finals = [], []

    def chunk(self, *args):
        pass

    def final(self, outcome):
        self.finals.append(outcome)

    def action(self, outcome, action):
        pass

    def error(self, outcome):
        self.errors.append(outcome)


def test_a_provider_that_raises_anything_fails_that_model_and_the_request_gets_an_outcome(
        config):
    """Regression: an AttributeError from an answer's shape left no outcome and no dead letter."""
    from unity_llm_bridge.bridge import Bridge
    provider = BrokenProvider(config.models['a'])
    out = Output()
    bridge = Bridge(config, {'a': provider}, out)
    slot = bridge.models['a']
    failed = bridge.handle(LlmRequest('r1', topic='/robot/x/speech', text='hi'))
    assert not failed.ok and failed.reason == 'all_models_failed'
    assert 'a: internal: KeyError' in failed.attempts[0] and out.errors == [failed]
    assert slot.snapshot()['errors_by_kind'] == {'internal': 1}
    assert slot.concurrency.in_flight == 0 and slot.breaker.allow()  # nothing held
    assert bridge.handle(LlmRequest('r2', topic='/robot/x/speech', text='hi')).ok


def test_an_action_schema_may_only_refer_inside_itself():
    """Regression: a remote or dangling $ref passed the config and failed every answer."""
    base = """\
          - name: r
            match: [/x]
            models: [a]
            output: action
            actions:
              go:
                topic: /go
                schema: {type: object, properties: {p: {$ref: '%s'}}, $defs: {h: {type: integer}}}
        """
    assert any('only references inside the schema' in p
               for p in route_problems(base % 'http://127.0.0.1:9/schema.json'))
    assert any('points to nothing' in p for p in route_problems(base % '#/$defs/nope'))
    text = "models:\n  a: {api: openai, base_url: 'http://x/v1', model: m}\nroutes:\n"
    config = parse_bridge_config(text + textwrap.dedent(base % '#/$defs/h'), 'llm.yaml')
    route = config.routes[0]
    assert actions.accept(route, '{"action": "go", "arguments": {"p": 3}}').action
    with pytest.raises(OutputRejected, match='invalid_arguments'):
        actions.accept(route, '{"action": "go", "arguments": {"p": "x"}}')
