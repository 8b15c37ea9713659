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

"""The live view's access rules: the token, Host (DNS rebinding) and Origin, without a network."""

import pytest

from unity_kernel_core.live.gate import Gate, generate_token, split_host, token_ok, Visitor

TOKEN = 's3cret'
LOCAL = Gate(TOKEN, bound_host='127.0.0.1', allowed_origins=['https://app.foxglove.dev'])
WIDE = Gate(TOKEN, bound_host='0.0.0.0', allowed_hosts=['robot.local'])


def _status(refusal):
    return None if refusal is None else refusal.status


def test_a_generated_token_is_long_random_and_url_safe():
    tokens = {generate_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) >= 43 and t.replace('-', '').replace('_', '').isalnum() for t in tokens)
    with pytest.raises(ValueError):
        Gate('', bound_host='127.0.0.1')


def test_tokens_compare_in_constant_time_and_any_text_is_just_wrong():
    assert token_ok(TOKEN, TOKEN)
    for given in (None, '', 'wrong', 's3cret ', 'é\u2603', '\udcff', 'x' * 100000):
        assert not token_ok(TOKEN, given)


def test_on_loopback_reading_is_open_and_mutating_needs_the_token():
    host = '127.0.0.1:8766'
    assert LOCAL.http(Visitor(host), mutating=False) is None
    assert _status(LOCAL.http(Visitor(host), mutating=True)) == 401
    assert _status(LOCAL.http(Visitor(host, token='wrong'), mutating=True)) == 401
    assert LOCAL.http(Visitor(host, token=TOKEN), mutating=True) is None


def test_off_loopback_every_request_needs_the_token():
    assert _status(WIDE.http(Visitor('robot.local:8766'), mutating=False)) == 401
    assert WIDE.http(Visitor('robot.local:8766', token=TOKEN), mutating=False) is None
    assert _status(WIDE.websocket(Visitor('robot.local:8765'))[0]) == 401
    assert WIDE.websocket(Visitor('robot.local:8765', token=TOKEN)) == (None, True)


def test_dns_rebinding_is_refused_by_the_host_check_even_with_the_token():
    for host in ('attacker.example', 'attacker.example:8766', 'localhost.attacker.example',
                 '127.0.0.1.nip.io', '', '[', 'a\r\nb', 'évil'):
        assert _status(LOCAL.http(Visitor(host, token=TOKEN), mutating=False)) == 403, host
        assert _status(LOCAL.websocket(Visitor(host, token=TOKEN))[0]) == 403, host
    for host in ('127.0.0.1', '127.0.0.1:1', 'localhost:8766', 'LOCALHOST', 'app.localhost',
                 '[::1]:8766', '::1', '127.8.9.10:80', 'localhost.'):
        assert LOCAL.http(Visitor(host), mutating=False) is None, host
    assert LOCAL.http(Visitor(None), mutating=False) is None  # no browser omits Host


def test_a_wildcard_binding_answers_its_allowed_names_and_ip_addresses_only():
    for host in ('192.168.1.20:8766', '[fe80::1]:8766', 'robot.local', 'ROBOT.LOCAL:8766'):
        assert WIDE.host_allowed(host), host
    for host in ('other.local', 'attacker.example:8766'):
        assert not WIDE.host_allowed(host), host
    assert not LOCAL.host_allowed('192.168.1.20')  # bound to loopback: only its names


def test_the_dashboard_takes_only_its_own_origin():
    host = '127.0.0.1:8766'
    assert LOCAL.http(Visitor(host, 'http://127.0.0.1:8766', TOKEN), mutating=True) is None
    assert LOCAL.http(Visitor(host, 'https://127.0.0.1:8766'), mutating=False) is None
    for origin in ('https://evil.example', 'http://127.0.0.1:3000', 'http://localhost:8766',
                   'null', 'file://', '', 'http://127.0.0.1:8766.evil.example'):
        refusal = LOCAL.http(Visitor(host, origin, TOKEN), mutating=True)
        assert _status(refusal) == 403 and 'Origin' in refusal.reason, origin


def test_websocket_origins_programs_local_pages_the_foxglove_app_and_null_only_with_token():
    host = '127.0.0.1:8765'
    assert LOCAL.websocket(Visitor(host)) == (None, False)  # a program (Node, Python)
    assert LOCAL.websocket(Visitor(host, token=TOKEN)) == (None, True)
    for origin in ('https://app.foxglove.dev', 'https://app.foxglove.dev/',
                   'http://localhost:8080', 'http://127.0.0.1:8766', 'http://[::1]:3000'):
        assert LOCAL.websocket(Visitor(host, origin)) == (None, False), origin
    # the Foxglove desktop app (a file:// page) sends "null", as a sandboxed frame of any
    # site does: only with the token
    refusal, _ = LOCAL.websocket(Visitor(host, 'null'))
    assert _status(refusal) == 401 and 'token' in refusal.reason
    assert LOCAL.websocket(Visitor(host, 'null', TOKEN)) == (None, True)
    for origin in ('https://evil.example', 'http://app.foxglove.dev', 'file://',
                   'https://app.foxglove.dev.evil.example', 'chrome-extension://abc'):
        refusal, authorized = LOCAL.websocket(Visitor(host, origin, TOKEN))
        assert _status(refusal) == 403 and not authorized, origin


def test_split_host_takes_the_name_out_of_any_host_value():
    assert split_host('Example.COM:80') == 'example.com'
    assert split_host('[::1]:8765') == '::1'
    assert split_host('::1') == '::1'
    assert split_host('[') is None and split_host(':80') is None
