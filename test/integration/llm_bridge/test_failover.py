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
The bridge engine over real HTTP on loopback, without the model.

Failover, timeouts, breaker, budgets, invalid answers, streaming, keys, memory and dead
letters in a real Redis. The servers are scripted (llm_support), so that each failure mode
happens on demand.
"""

import json
import logging
import threading
import time

from llm_support import action_reply, HangServer, refused_url, ScriptedServer
import pytest
import redis
from std_msgs.msg import String
import support

from unity_kernel_core.ros import message_types
from unity_llm_bridge.bridge import Bridge
from unity_llm_bridge.config import parse_bridge_config
from unity_llm_bridge.dead_letter import RedisDeadLetters
from unity_llm_bridge.memory import RedisStore
from unity_llm_bridge.providers import make_provider
from unity_llm_bridge.routing import LlmRequest


class Recorder:
    """A BridgeOutput keeping everything published, in order."""

    def __init__(self):
        self.items = []
        self.lock = threading.Lock()

    def _add(self, kind, value):
        with self.lock:
            self.items.append((kind, value))

    def chunk(self, request, route, model, seq, delta):
        self._add('chunk', (request.request_id, model, seq, delta))

    def final(self, outcome):
        self._add('final', outcome)

    def action(self, outcome, action):
        self._add('action', action)

    def error(self, outcome):
        self._add('error', outcome)

    def of(self, kind):
        return [v for k, v in self.items if k == kind]


def model(url, api='openai', **extra):
    settings = {'api': api, 'base_url': url, 'model': 'm', 'connect_timeout_s': 1.0,
                'read_timeout_s': 1.0, 'request_timeout_s': 3.0, **extra}
    return settings


def make_bridge(models, routes, bridge=None, **kwargs):
    config = parse_bridge_config(json.dumps({'bridge': bridge or {}, 'models': models,
                                             'routes': routes}), 'test.json')
    output = Recorder()
    providers = {n: make_provider(n, s) for n, s in config.models.items()}
    b = Bridge(config, providers, output, **kwargs)
    b.start()
    return b, output


def route(models, **extra):
    return {'name': 'r', 'match': ['/**'], 'models': models, **extra}


@pytest.fixture
def servers():
    made = []

    def make(kind=ScriptedServer, **kwargs):
        server = kind(**kwargs)
        made.append(server)
        return server
    yield make
    for server in made:
        server.close()


@pytest.fixture
def bridges():
    made = []

    def make(*args, **kwargs):
        b, out = make_bridge(*args, **kwargs)
        made.append(b)
        return b, out
    yield make
    for b in made:
        b.stop()


@pytest.fixture
def bridge_log(caplog):
    """Capture the bridge's log records (another test may have routed them to ROS)."""
    logger = logging.getLogger('unity_kernel.llm_bridge')
    level = logger.level
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.DEBUG)
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.setLevel(level)


def ask(bridge, topic='/ev', **extra):
    values = {'text': 'hello', **extra}
    return bridge.submit(LlmRequest(request_id=f'req{time.monotonic_ns()}', topic=topic,
                                    **values)).result(30)


def test_primary_refusing_connections_fails_over_to_the_backup(servers, bridges):
    backup = servers(reply='from backup')
    bridge, out = bridges({'primary': model(refused_url()), 'backup': model(backup.base_url)},
                          [route(['primary', 'backup'])])
    outcome = ask(bridge)
    assert outcome.ok and outcome.model == 'backup' and outcome.text == 'from backup'
    assert outcome.attempts[0].startswith('primary: connect:')
    assert out.of('final') == [outcome] and not out.of('error')
    assert bridge.snapshot()['primary']['errors_by_kind'] == {'connect': 1}


def test_hung_primary_is_abandoned_after_its_read_timeout(servers, bridges):
    hung = servers(HangServer)
    backup = servers(reply='from backup')
    bridge, _ = bridges({'primary': model(hung.base_url, read_timeout_s=0.5),
                         'backup': model(backup.base_url)}, [route(['primary', 'backup'])])
    started = time.monotonic()
    outcome = ask(bridge)
    assert outcome.ok and outcome.model == 'backup'
    assert outcome.attempts[0].startswith('primary: timeout: ')
    assert 'read_timeout_s=0.5' in outcome.attempts[0]
    assert hung.connections >= 1
    assert time.monotonic() - started < 20  # liveness only: it did not wait forever


def test_slow_primary_past_its_request_deadline_fails_over(servers, bridges):
    slow = servers(reply='late', delay_s=2.0)
    backup = servers(reply='on time')
    bridge, _ = bridges({'slow': model(slow.base_url, read_timeout_s=1.0,
                                       request_timeout_s=1.0),
                         'backup': model(backup.base_url)}, [route(['slow', 'backup'])])
    outcome = ask(bridge)
    assert outcome.ok and outcome.model == 'backup' and outcome.attempts[0].startswith(
        'slow: timeout:')


def test_slow_but_within_limits_is_answered_by_the_primary(servers, bridges):
    slow = servers(reply='worth the wait', delay_s=0.5)
    backup = servers(reply='backup')
    bridge, _ = bridges({'slow': model(slow.base_url, read_timeout_s=2.0),
                         'backup': model(backup.base_url)}, [route(['slow', 'backup'])])
    outcome = ask(bridge)
    assert (outcome.ok, outcome.model, outcome.attempts) == (True, 'slow', [])


def test_http_errors_fail_over(servers, bridges):
    broken = servers(status=503)
    backup = servers(reply='fine')
    bridge, _ = bridges({'broken': model(broken.base_url), 'backup': model(backup.base_url)},
                        [route(['broken', 'backup'])])
    outcome = ask(bridge)
    assert outcome.model == 'backup' and 'HTTP 503' in outcome.attempts[0]


@pytest.mark.redis
def test_all_models_failing_publishes_an_error_and_dead_letters_it(
        servers, bridges, redis_server):
    client = redis.Redis.from_url(redis_server.url)
    bridge, out = bridges({'a': model(refused_url()), 'b': model(servers(status=500).base_url)},
                          [route(['a', 'b'])],
                          dead_letters=RedisDeadLetters(client, 'unity:llm:deadletters',
                                                        1000, '/llm/request'))
    outcome = ask(bridge, topic='/speech/said')
    assert not outcome.ok and outcome.reason == 'all_models_failed'
    assert [o.request.request_id for o in out.of('error')] == [outcome.request.request_id]
    assert 'a: connect' in outcome.error and 'b: http' in outcome.error
    entries = redis.Redis.from_url(redis_server.url).xrange('unity:llm:deadletters')
    assert len(entries) == 1
    raw = entries[0][1]
    fields = {k.decode(): v.decode() for k, v in raw.items() if k != b'cdr'}
    assert fields['handler'] == 'llm_bridge' and fields['reason'] == 'all_models_failed'
    assert (fields['topic'], fields['type'], fields['attempts']) == (
        '/llm/request', 'std_msgs/msg/String', '2')
    assert fields['request_id'] == outcome.request.request_id and fields['route'] == 'r'
    # the payload is the request, ready to be published again on the request topic
    request = json.loads(message_types.deserialize(raw[b'cdr'], 'std_msgs/msg/String').data)
    assert request['topic'] == '/speech/said' and request['text'] == 'hello'


@pytest.mark.ros
@pytest.mark.redis
def test_dead_lettered_request_is_listed_retried_and_dropped_by_unity_kernel_dlq(
        servers, bridges, redis_server, ros_env, probe):
    client = redis.Redis.from_url(redis_server.url)
    bridge, _out = bridges({'a': model(refused_url())}, [route(['a'])],
                           dead_letters=RedisDeadLetters(client, 'unity:llm:deadletters',
                                                         1000, '/llm/request'))
    failed = [ask(bridge, topic='/speech/said', text=t) for t in ('first', 'second')]
    assert [o.reason for o in failed] == ['all_models_failed'] * 2
    kernel_letter = {'topic': '/work', 'type': 'std_msgs/msg/String', 'tier': 'NORMAL',
                     'seq': '1', 'stamp_ns': '1', 'handler': 'flaky', 'error': 'boom',
                     'traceback': '', 'attempts': '2', 'dead_ns': '1',
                     'cdr': message_types.serialize(String(data='kernel event'))}
    client.xadd('unity:deadletters', kernel_letter, id='1-1')

    listing = support.cli(ros_env, 'dlq', '--url', redis_server.url, 'list')
    assert listing.returncode == 0, listing.stderr
    rows = [r.split() for r in listing.stdout.splitlines()[1:]]
    assert [r[1:5] for r in rows] == [['kernel', '/work', 'flaky', '2'],
                                      ['llm', '/llm/request', 'llm_bridge', '1'],
                                      ['llm', '/llm/request', 'llm_bridge', '1']]
    assert all('a: connect' in ' '.join(r[5:]) for r in rows[1:])
    ids = [r[0] for r in rows[1:]]
    as_json = support.cli(ros_env, 'dlq', '--url', redis_server.url, 'list', '--json',
                          '--stream', 'llm')
    assert [(r['id'], r['stream'], r['request_id'], r['reason']) for r in
            json.loads(as_json.stdout)] == [(i, 'llm', o.request.request_id, 'all_models_failed')
                                            for i, o in zip(ids, failed)]

    requests = probe.collect('/llm/request', String)
    retried = support.cli(ros_env, 'dlq', '--url', redis_server.url, 'retry', ids[0])
    assert retried.returncode == 0, retried.stderr
    assert 'retried 1 dead letter(s), dropped 1' in retried.stdout
    support.wait_for(lambda: len(requests) == 1, 10, message='the request published again')
    request = json.loads(requests[0].data)
    assert (request['id'], request['topic'], request['text']) == (
        failed[0].request.request_id, '/speech/said', 'first')
    assert [i.decode() for i, _f in client.xrange('unity:llm:deadletters')] == [ids[1]]

    dropped = support.cli(ros_env, 'dlq', '--url', redis_server.url, 'drop', ids[1])
    assert 'dropped 1 dead letter(s)' in dropped.stdout
    assert client.xlen('unity:llm:deadletters') == 0 and client.xlen('unity:deadletters') == 1


def test_breaker_opens_skips_the_model_then_lets_it_back_after_the_cooldown(servers, bridges):
    flaky = servers(status=500)
    backup = servers(reply='backup')
    bridge, _ = bridges({'flaky': model(flaky.base_url,
                                        breaker={'failure_threshold': 2, 'cooldown_s': 1.0}),
                         'backup': model(backup.base_url)}, [route(['flaky', 'backup'])])
    for _ in range(2):
        assert ask(bridge).model == 'backup'
    assert bridge.snapshot()['flaky']['breaker'] == 'open'
    calls = len(flaky.requests)
    outcome = ask(bridge)
    assert outcome.model == 'backup' and 'flaky: skipped: circuit open' in outcome.attempts[0]
    assert len(flaky.requests) == calls  # not hammered while open
    time.sleep(1.1)
    assert bridge.snapshot()['flaky']['breaker'] == 'half_open'
    flaky.status = 200
    flaky.reply = 'recovered'
    outcome = ask(bridge)
    assert outcome.model == 'flaky' and bridge.snapshot()['flaky']['breaker'] == 'closed'


def test_failed_trial_in_half_open_reopens_the_breaker(servers, bridges):
    flaky = servers(status=500)
    bridge, _ = bridges({'flaky': model(flaky.base_url,
                                        breaker={'failure_threshold': 1, 'cooldown_s': 0.5})},
                        [route(['flaky'])])
    assert not ask(bridge).ok
    time.sleep(0.6)
    assert not ask(bridge).ok and len(flaky.requests) == 2
    assert bridge.snapshot()['flaky']['breaker'] == 'open'


def test_over_budget_model_is_skipped_for_the_minute(servers, bridges):
    cheap = servers(reply='x' * 40)
    backup = servers(reply='backup')
    bridge, _ = bridges({'cheap': model(cheap.base_url, max_tokens=20, tokens_per_minute=60),
                         'backup': model(backup.base_url)}, [route(['cheap', 'backup'])])
    assert ask(bridge).model == 'cheap'  # 10 prompt + 11 completion tokens, as reported
    outcome = ask(bridge)  # 21 spent + (estimated prompt + 20 max) > 60
    assert outcome.model == 'backup' and 'cheap: skipped: over its budget' in \
        outcome.attempts[0]
    assert bridge.snapshot()['cheap']['skipped'] == {'over_budget': 1}


def test_concurrency_limit_sends_the_overflow_to_the_backup(servers, bridges):
    slow = servers(reply='slow', delay_s=0.8)
    backup = servers(reply='backup')
    bridge, _ = bridges({'slow': model(slow.base_url, max_concurrency=1, read_timeout_s=3),
                         'backup': model(backup.base_url)}, [route(['slow', 'backup'])],
                        bridge={'workers': 4})
    futures = [bridge.submit(LlmRequest(request_id=str(i), topic='/ev')) for i in range(3)]
    models = sorted(f.result(30).model for f in futures)
    assert models == ['backup', 'backup', 'slow']


@pytest.mark.parametrize('reply, reason', [
    ('{"action": "wave", "arguments": {"hand": "left"', 'malformed_json'),
    (action_reply('launch_missiles'), 'undeclared_action'),
    (action_reply('wave', hand='tentacle'), 'invalid_arguments'),
    (action_reply('wave', hand='left') + ' ' * 300, 'oversized'),
])
def test_invalid_answers_are_rejected_and_the_backup_answers(servers, bridges, bridge_log,
                                                             reply, reason):
    bad = servers(reply=reply)
    good = servers(reply=action_reply('wave', hand='left'))
    actions = {'wave': {'topic': '/llm/actions/wave', 'schema': {
        'type': 'object', 'required': ['hand'],
        'properties': {'hand': {'enum': ['left', 'right']}}}}}
    bridge, out = bridges({'bad': model(bad.base_url), 'good': model(good.base_url)},
                          [route(['bad', 'good'], output='action', actions=actions,
                                 max_answer_chars=200)])
    outcome = ask(bridge)
    assert outcome.ok and outcome.model == 'good'
    assert outcome.attempts == [a for a in outcome.attempts if a.startswith('bad: rejected: ')]
    assert reason in outcome.attempts[0]
    assert [(a.name, a.topic, a.arguments) for a in out.of('action')] == [
        ('wave', '/llm/actions/wave', {'hand': 'left'})]
    assert any('rejected' in r.getMessage() and reason in r.getMessage()
               for r in bridge_log.records if r.levelno == logging.WARNING)
    assert bridge.snapshot()['bad']['rejected'] == {reason: 1}
    assert bad.requests[0]['response_format'] == {'type': 'json_object'}


def test_only_invalid_answers_means_no_action_is_published(servers, bridges):
    bad = servers(reply=action_reply('launch_missiles'))
    bridge, out = bridges({'bad': model(bad.base_url)},
                          [route(['bad'], output='auto', actions={'wave': {
                              'topic': '/llm/actions/wave'}})])
    outcome = ask(bridge)
    assert not outcome.ok and not out.of('action') and len(out.of('error')) == 1
    bad.reply = 'just text'  # auto: text that is no JSON object is a plain answer
    assert ask(bridge).text == 'just text'


def test_streaming_publishes_chunks_in_order_then_the_final_answer(servers, bridges):
    text = 'The quick brown fox jumps over the lazy dog.'
    server = servers(reply=text, chunk=5)
    bridge, out = bridges({'m': model(server.base_url)}, [route(['m'], stream=True)])
    outcome = ask(bridge)
    chunks = out.of('chunk')
    assert [c[2] for c in chunks] == list(range(1, len(chunks) + 1))
    assert ''.join(c[3] for c in chunks) == text == outcome.text
    assert {c[0] for c in chunks} == {outcome.request.request_id}
    kinds = [k for k, _ in out.items]
    assert kinds[-1] == 'final' and kinds.count('final') == 1
    assert server.requests[0]['stream'] is True
    assert ask(bridge, stream=False).text == text and len(out.of('chunk')) == len(chunks)


def test_oversized_stream_is_cut_off(servers, bridges):
    server = servers(reply='y' * 500, chunk=10)
    backup = servers(reply='short')
    bridge, out = bridges({'m': model(server.base_url), 'b': model(backup.base_url)},
                          [route(['m', 'b'], stream=True, max_answer_chars=50)])
    outcome = ask(bridge)
    assert outcome.model == 'b' and 'oversized' in outcome.attempts[0]
    assert sum(len(c[3]) for c in out.of('chunk') if c[1] == 'm') <= 50


def test_api_key_is_sent_but_never_logged(servers, bridges, monkeypatch, bridge_log,
                                          tmp_path):
    server = servers(status=401)
    monkeypatch.setenv('TEST_LLM_KEY', 'sk-very-secret-1234')
    key_file = tmp_path / 'key'
    key_file.write_text('file-secret-5678\n')
    other = servers(status=401)
    bridge, out = bridges({'env': model(server.base_url, api_key_env='TEST_LLM_KEY'),
                           'file': model(other.base_url, api_key_file=str(key_file))},
                          [route(['env', 'file'])])
    outcome = ask(bridge)
    assert server.headers[0]['Authorization'] == 'Bearer sk-very-secret-1234'
    assert other.headers[0]['Authorization'] == 'Bearer file-secret-5678'
    published = json.dumps(outcome.to_json()) + bridge_log.text + repr(bridge.snapshot())
    assert 'HTTP 401' in bridge_log.text  # the failures were logged, without the keys
    assert 'secret' not in published


def test_full_queue_refuses_requests_as_busy(servers, bridges):
    slow = servers(reply='slow', delay_s=0.5)
    bridge, out = bridges({'m': model(slow.base_url, max_concurrency=8, read_timeout_s=3)},
                          [route(['m'])], bridge={'workers': 1, 'max_pending': 1})
    futures = [bridge.submit(LlmRequest(request_id=str(i), topic='/ev')) for i in range(4)]
    reasons = [f.result(30).reason for f in futures]
    assert reasons.count('busy') == 2 and reasons.count('') == 2
    assert len(out.of('error')) == 2


@pytest.mark.redis
def test_memory_in_redis_carries_the_conversation_across_a_restart(servers, redis_server):
    server = servers(reply=lambda body: f'answer {len(body["messages"])}')
    routes = [route(['m'], memory={'max_events': 2, 'max_tokens': 1000},
                    prompt={'user': '$text'})]
    for run in range(2):
        client = redis.Redis.from_url(redis_server.url)
        bridge, _ = make_bridge({'m': model(server.base_url)}, routes,
                                persistent_memory=RedisStore(client, 'unity'))
        try:
            for i in range(2):
                assert ask(bridge, text=f'q{run}{i}').ok
        finally:
            bridge.stop()
    last = server.requests[-1]['messages']
    # system + the last two exchanges (one from before the restart) + the new question
    assert [m['role'] for m in last] == ['system', 'user', 'assistant', 'user', 'assistant',
                                         'user']
    assert [m['content'] for m in last if m['role'] == 'user'] == ['q01', 'q10', 'q11']
    assert [len(r['messages']) for r in server.requests] == [2, 4, 6, 6]
    assert redis.Redis.from_url(redis_server.url).llen('unity:llm:memory:r') == 2


@pytest.mark.redis
def test_unreachable_memory_store_does_not_stop_answers(servers, bridge_log):
    server = servers(reply='still here')
    client = redis.Redis.from_url(f'redis://127.0.0.1:{refused_url().split(":")[2][:-3]}/0',
                                  socket_connect_timeout=0.5)
    bridge, out = make_bridge({'m': model(server.base_url)},
                              [route(['m'], memory={'max_events': 2})],
                              persistent_memory=RedisStore(client, 'unity'))
    try:
        assert ask(bridge).text == 'still here'
        assert 'conversation memory unavailable' in bridge_log.text
    finally:
        bridge.stop()


def test_stop_lets_running_requests_finish_and_cancels_queued_ones(servers):
    slow = servers(reply='done', delay_s=0.5)
    bridge, out = make_bridge({'m': model(slow.base_url, read_timeout_s=3)}, [route(['m'])],
                              bridge={'workers': 1})
    running = bridge.submit(LlmRequest('running', topic='/ev'))
    queued = bridge.submit(LlmRequest('queued', topic='/ev'))
    time.sleep(0.2)
    bridge.stop(drain_s=5.0)
    assert running.result(1).ok and queued.cancelled()
    assert bridge.submit(LlmRequest('late', topic='/ev')).result(1).reason == 'busy'
