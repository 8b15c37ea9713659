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
Fuzz: whatever a model server answers, the bridge gets a Completion or a ProviderError.

The server is ``httpx.MockTransport``: any status, any body, cut into chunks anywhere, as the
OpenAI and the Ollama providers read it, streamed or not. No other exception leaves
``chat`` (a wrong shape once raised AttributeError, which left the request without an
outcome and a half-open breaker without its trial), and no answer line longer than the
bound is ever held. Then any answer text through the route's check (``actions.accept``).
"""

import json

import httpx
from hypothesis import example, given, strategies as st
import pytest

from unity_llm_bridge import actions
from unity_llm_bridge.config import parse_bridge_config
from unity_llm_bridge.errors import OutputRejected, ProviderError
from unity_llm_bridge.providers import make_provider
from unity_llm_bridge.providers.base import Completion, MAX_LINE_BYTES

CONFIG = parse_bridge_config(json.dumps({
    'models': {'o': {'api': 'openai', 'base_url': 'http://model.test/v1', 'model': 'm'},
               'l': {'api': 'ollama', 'base_url': 'http://model.test', 'model': 'm'}},
    'routes': [{'name': 'act', 'match': ['/a'], 'models': ['o'], 'output': 'auto',
                'max_answer_chars': 200,
                'actions': {'wave': {'topic': '/wave', 'schema': {
                    'type': 'object', 'required': ['hand'], 'additionalProperties': False,
                    'properties': {'hand': {'enum': ['left', 'right']},
                                   'times': {'type': 'integer', 'maximum': 5}}}}}}]}),
    'fuzz.json')
ROUTE = CONFIG.routes[0]
MESSAGES = [{'role': 'user', 'content': 'hello'}]

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2 ** 64, 2 ** 64),
              st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=12)
KEYS = ['choices', 'delta', 'message', 'content', 'usage', 'prompt_tokens',
        'completion_tokens', 'done', 'response', 'prompt_eval_count', 'eval_count', 'error',
        'data', 'models']
shaped = st.recursive(
    st.one_of(json_values, st.just('text'), st.just(1e999)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=12)


@st.composite
def bodies(draw):
    """Draw a server's body: lines of JSON of the right shape or not, SSE framing or not."""
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(['json', 'sse', 'done', 'raw', 'blank']))
        value = json.dumps(draw(shaped)).encode()
        lines.append({'json': value, 'sse': b'data: ' + value, 'done': b'data: [DONE]',
                      'raw': draw(st.binary(max_size=40)), 'blank': b''}[kind])
    body = b'\n'.join(lines)
    if draw(st.booleans()):
        body += b'\n'
    return body


def serve(status, body, cuts, headers):
    def handler(request):
        chunks, pos, i = [], 0, 0
        while pos < len(body):
            size = cuts[i % len(cuts)]
            chunks.append(body[pos:pos + size])
            pos, i = pos + size, i + 1
        return httpx.Response(status, headers=headers, content=iter(chunks))
    return handler


def answer(name, handler, stream):
    provider = make_provider(name, CONFIG.models[name])
    provider._client = httpx.Client(base_url=CONFIG.models[name].base_url,
                                    transport=httpx.MockTransport(handler))
    deltas = []
    try:
        return provider.chat(MESSAGES, on_delta=deltas.append if stream else None,
                             max_chars=ROUTE.max_answer_chars), deltas
    finally:
        provider.close()


@given(st.sampled_from(['o', 'l']), st.sampled_from([200, 200, 200, 404, 500]), bodies(),
       st.lists(st.integers(1, 64), min_size=1, max_size=4), st.booleans(),
       st.sampled_from([{}, {'content-type': 'text/event-stream; charset=latin-1'},
                        {'content-type': 'application/json; charset=x-unknown'}]))
@example('o', 200, b'{"choices": ["text"]}', [64], False, {})
@example('o', 200, b'data: {"choices": [{"delta": [1]}]}\ndata: [DONE]\n', [7], True, {})
@example('l', 200, b'{"message": "text", "done": true}\n', [64], True, {})
@example('o', 200, b'{"choices": [{"message": {"content": "hi"}}], '
         b'"usage": {"prompt_tokens": 1e999}}', [64], False, {})
def test_any_answer_is_a_completion_or_a_provider_error(
        name, status, body, cuts, stream, headers):
    try:
        completion, deltas = answer(name, serve(status, body, cuts, headers), stream)
    except (ProviderError, OutputRejected) as exc:
        assert str(exc)
        if status >= 400:
            assert isinstance(exc, ProviderError) and exc.status == status
        return
    assert status < 400 and isinstance(completion, Completion)
    assert isinstance(completion.text, str) and len(completion.text) <= ROUTE.max_answer_chars
    assert completion.prompt_tokens >= 0 and completion.completion_tokens >= 0
    if stream:
        assert ''.join(deltas) == completion.text


def test_an_endless_line_fails_at_the_bound_not_at_the_end_of_memory():
    """Regression: a server sending bytes without an end of line was read without a bound."""
    sent = []

    def endless(request):
        def chunks():
            while True:
                sent.append(65536)
                yield b'x' * 65536
        return httpx.Response(200, content=chunks())
    for name in ('o', 'l'):
        sent.clear()
        with pytest.raises(ProviderError, match='longer than') as info:
            answer(name, endless, stream=False)
        assert info.value.kind == 'protocol'
        assert sum(sent) <= MAX_LINE_BYTES + 2 * 65536


@given(st.one_of(st.text(max_size=120), shaped.map(json.dumps),
                 st.builds(lambda v: '```json\n' + json.dumps({'action': 'wave',
                                                               'arguments': v}) + '\n```',
                           json_values)))
@example('{"action": "wave", "arguments": {"hand": "left", "times": 1e999}}')
@example('{"action": "wave", "action": "wave"}')
def test_any_answer_text_is_accepted_for_its_route_or_rejected_with_a_reason(text):
    try:
        accepted = actions.accept(ROUTE, text)
    except OutputRejected as exc:
        assert exc.reason in ('oversized', 'malformed_json', 'not_an_action',
                              'undeclared_action', 'invalid_arguments')
        return
    if accepted.action is not None:
        assert accepted.action.name == 'wave' and accepted.action.topic == '/wave'
        assert accepted.action.arguments.get('hand') in ('left', 'right')
