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
The bridge against a real language model, SmolLM2-135M.

Served by llama_cpp.server (OpenAI-compatible) and by test/nodes/ollama_server.py (the
Ollama API over the same model through llama_cpp).

Answers vary even at temperature 0: these tests check structure and routing, not text.
"""

import json
import os

from llm_support import HangServer, LlamaServer, OllamaTestServer, refused_url
import pytest
import support

from unity_llm_bridge.bridge import Bridge
from unity_llm_bridge.config import ModelSettings, parse_bridge_config
from unity_llm_bridge.providers import make_provider, OllamaProvider, OpenAIProvider
from unity_llm_bridge.routing import LlmRequest

pytestmark = pytest.mark.model

HELLO = [{'role': 'system', 'content': 'Answer briefly.'},
         {'role': 'user', 'content': 'Say hello to the robot.'}]


@pytest.fixture(scope='module')
def model_servers(tmp_path_factory):
    """Start the real llama.cpp server and the Ollama-API server once for this module."""
    logs = tmp_path_factory.mktemp('model_servers')
    group = support.ProcessGroup()
    env = dict(os.environ)
    try:
        yield (LlamaServer(group, env, logs / 'llama.log'),
               OllamaTestServer(group, env, logs / 'ollama.log'))
    finally:
        group.stop_all()


@pytest.fixture
def llama(model_servers):
    return model_servers[0]


@pytest.fixture
def ollama(model_servers):
    return model_servers[1]


def settings(api, url, model, **extra):
    return ModelSettings.model_validate({'api': api, 'base_url': url, 'model': model,
                                         'max_tokens': 24, 'read_timeout_s': 60,
                                         'request_timeout_s': 120, **extra})


def connected(provider):
    provider.connect()
    return provider


def test_openai_backend_answers_with_usage(llama):
    provider = connected(OpenAIProvider('llama', settings('openai', llama.base_url, 'smollm2')))
    try:
        assert 'smollm2' in provider.list_models()
        answer = provider.chat(HELLO)
        assert answer.text.strip() and answer.usage_reported
        assert answer.prompt_tokens > 5 and 0 < answer.completion_tokens <= 24
    finally:
        provider.close()


def test_openai_backend_streams_sse_chunks(llama):
    provider = connected(OpenAIProvider('llama', settings('openai', llama.base_url, 'smollm2')))
    deltas = []
    try:
        answer = provider.chat(HELLO, on_delta=deltas.append)
    finally:
        provider.close()
    assert len(deltas) > 1 and ''.join(deltas) == answer.text and answer.chunks == len(deltas)


def test_ollama_backend_chat_generate_tags_and_ndjson_streaming(ollama):
    provider = connected(OllamaProvider('ollama', settings('ollama', ollama.base_url,
                                                           'smollm2:135m')))
    try:
        assert provider.list_models() == ['smollm2:135m']
        answer = provider.chat(HELLO)
        assert answer.text.strip() and answer.usage_reported and answer.completion_tokens > 0
        deltas = []
        streamed = provider.chat(HELLO, on_delta=deltas.append)
        assert len(deltas) > 1 and ''.join(deltas) == streamed.text
        generated = provider.generate('The robot said', system='Continue the sentence.')
        assert generated.text.strip() and generated.prompt_tokens > 0
    finally:
        provider.close()


def test_ollama_backend_reports_an_unknown_model(ollama):
    from unity_llm_bridge.errors import ProviderError
    provider = connected(OllamaProvider('ollama', settings('ollama', ollama.base_url, 'nope')))
    try:
        with pytest.raises(ProviderError) as info:
            provider.chat(HELLO)
        assert info.value.kind == 'http' and info.value.status == 404
    finally:
        provider.close()


class Recorder:

    def __init__(self):
        self.chunks, self.finals, self.actions, self.errors = [], [], [], []

    def chunk(self, request, route, model, seq, delta):
        self.chunks.append((route, model, seq, delta))

    def final(self, outcome):
        self.finals.append(outcome)

    def action(self, outcome, action):
        self.actions.append(action)

    def error(self, outcome):
        self.errors.append(outcome)


def test_routes_fail_over_to_the_real_models(llama, ollama):
    hang = HangServer()
    models = {
        'down': {'api': 'openai', 'base_url': refused_url(), 'model': 'x'},
        'hung': {'api': 'ollama', 'base_url': hang.base_url.replace('/v1', ''), 'model': 'x',
                 'read_timeout_s': 0.5},
        'llama': {'api': 'openai', 'base_url': llama.base_url, 'model': 'smollm2',
                  'max_tokens': 24, 'read_timeout_s': 60, 'request_timeout_s': 120},
        'ollama': {'api': 'ollama', 'base_url': ollama.base_url, 'model': 'smollm2:135m',
                   'max_tokens': 24, 'read_timeout_s': 60, 'request_timeout_s': 120},
    }
    routes = [
        {'name': 'speech', 'match': ['/speech/**'], 'models': ['down', 'llama'],
         'prompt': {'user': 'Reply to: $text'}, 'stream': True},
        {'name': 'status', 'match': ['/status/**'], 'models': ['hung', 'ollama']},
    ]
    config = parse_bridge_config(json.dumps({'models': models, 'routes': routes}), 't.json')
    out = Recorder()
    bridge = Bridge(config, {n: make_provider(n, s) for n, s in config.models.items()}, out)
    bridge.start()
    try:
        speech = bridge.submit(LlmRequest('s1', topic='/speech/heard', text='hi robot'))
        status = bridge.submit(LlmRequest('s2', topic='/status/battery',
                                          type_name='sensor_msgs/msg/BatteryState',
                                          fields={'percentage': 0.42}))
        speech_outcome, status_outcome = speech.result(180), status.result(180)
    finally:
        bridge.stop()
        hang.close()
    assert (speech_outcome.route, speech_outcome.model) == ('speech', 'llama')
    assert speech_outcome.ok and speech_outcome.text.strip()
    assert speech_outcome.attempts[0].startswith('down: connect')
    assert {c[:2] for c in out.chunks} == {('speech', 'llama')}
    assert ''.join(c[3] for c in out.chunks) == speech_outcome.text
    assert (status_outcome.route, status_outcome.model) == ('status', 'ollama')
    assert status_outcome.ok and status_outcome.attempts[0].startswith('hung: timeout')
    assert status_outcome.prompt_tokens > 0 and status_outcome.completion_tokens > 0
    assert not out.errors and len(out.finals) == 2


def test_action_route_with_the_real_model_only_ever_publishes_declared_actions(llama):
    config = parse_bridge_config(json.dumps({
        'models': {'llama': {'api': 'openai', 'base_url': llama.base_url, 'model': 'smollm2',
                             'max_tokens': 48, 'read_timeout_s': 60,
                             'request_timeout_s': 120}},
        'routes': [{'name': 'cmd', 'match': ['/cmd'], 'models': ['llama'], 'output': 'action',
                    'prompt': {'system': 'Answer with JSON only, exactly like '
                                         '{"action": "say", "arguments": {"text": "hello"}}',
                               'user': '$text'},
                    'actions': {'say': {'topic': '/llm/actions/say', 'schema': {
                        'type': 'object', 'required': ['text'],
                        'properties': {'text': {'type': 'string'}}}}}}]}), 't.json')
    out = Recorder()
    bridge = Bridge(config, {'llama': make_provider('llama', config.models['llama'])}, out)
    bridge.start()
    try:
        outcomes = [bridge.submit(LlmRequest(str(i), topic='/cmd', text=t)).result(180)
                    for i, t in enumerate(['say hello', 'greet the visitor', 'say goodbye'])]
    finally:
        bridge.stop()
    for outcome in outcomes:
        if outcome.ok:  # a valid, declared action: published on its declared topic
            assert outcome.action is not None and outcome.action.name == 'say'
            assert isinstance(outcome.action.arguments['text'], str)
        else:  # anything else was rejected with a reason, never published
            assert outcome.reason == 'all_models_failed'
            assert outcome.attempts[0].startswith('llama: rejected: ')
    assert [a.topic for a in out.actions] == ['/llm/actions/say'] * sum(o.ok for o in outcomes)
    assert len(out.errors) == sum(not o.ok for o in outcomes)
