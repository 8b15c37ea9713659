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

"""The Foxglove protocol server edge on loopback, without ROS: tokens, the CRITICAL bound."""

import json
import logging
import struct
import time

from foxglove_client import FoxgloveClient, slow_client, SlowReader
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from unity_kernel_core.bus.events import Tier
from unity_kernel_core.live.gate import Gate
from unity_kernel_core.live.ws_server import Handlers, ServerOptions, Service, WsServer


class Params(Handlers):
    """Parameters held in a dict, for the mutating-call checks."""

    parameters = True

    def __init__(self):
        self.values = {'speed': 1.0}

    def get_parameters(self, names):
        return [(n, v) for n, v in self.values.items() if not names or n in names]

    def set_parameters(self, values):
        self.values.update(values)
        return self.get_parameters([n for n, _ in values]), []


def _server(token='s3cret', loopback=True, critical_limit=1024):
    calls = []

    def restart(payload):
        calls.append(json.loads(payload))
        return b'{"success": true}'
    services = [Service('/svc/list', 't', '{}', '{}', lambda _p: b'{"ok": 1}', mutating=False),
                Service('/svc/restart', 't', '{}', '{}', restart)]
    gate = Gate(token, bound_host='127.0.0.1' if loopback else '0.0.0.0',
                allowed_origins=['https://app.foxglove.dev'])
    server = WsServer(ServerOptions('127.0.0.1', 0, gate=gate, critical_limit=critical_limit,
                                    depth=4),
                      Params(), services)
    server.start()
    return server, f'ws://127.0.0.1:{server.port}', calls


def _raw_status(port, headers):
    """Send a WebSocket upgrade with exactly ``headers`` (name, value); return the status."""
    import base64
    import os
    import socket
    lines = ['GET / HTTP/1.1', 'Upgrade: websocket', 'Connection: Upgrade',
             f'Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}',
             'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Protocol: foxglove.websocket.v1']
    lines += [f'{name}: {value}' for name, value in headers]
    with socket.create_connection(('127.0.0.1', port), timeout=10) as sock:
        sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode())
        return int(sock.recv(4096).split(b' ', 2)[1])


def _status_of(url, headers=None):
    try:
        with connect(url, subprotocols=['foxglove.websocket.v1'], open_timeout=10,
                     additional_headers=headers):
            pass
    except InvalidStatus as exc:
        return exc.response.status_code
    return 101


def test_off_loopback_the_websocket_needs_the_token_in_the_url_or_a_bearer_header(unity_log):
    server, url, _calls = _server(token='s3cret', loopback=False)
    try:
        assert _status_of(url) == 401
        assert _status_of(url + '/?token=wrong') == 401
        assert _status_of(url, {'Authorization': 'Bearer wrong'}) == 401
        assert _status_of(url + '/?token=s3cret') == 101
        assert _status_of(url, {'Authorization': 'Bearer s3cret'}) == 101
        client = FoxgloveClient(url + '/?token=s3cret')
        try:
            assert client.call_service('/svc/list', {}) == {'ok': 1}
        finally:
            client.close()
        ours = unity_log.text
        assert 'refused' in ours
        assert 's3cret' not in ours and 'token=wrong' not in ours and 'Bearer' not in ours
    finally:
        server.stop()


def test_on_loopback_reading_is_open_but_mutating_calls_need_the_token():
    server, url, calls = _server(token='s3cret', loopback=True)
    anonymous = FoxgloveClient(url)
    owner = FoxgloveClient(url + '/?token=s3cret')
    try:
        assert anonymous.call_service('/svc/list', {}) == {'ok': 1}
        refused = anonymous.call_service('/svc/restart', {'name': 'camera'})
        assert refused['success'] is False and 'missing or wrong token' in refused['message']
        answer = anonymous.request_json({'op': 'setParameters', 'id': 'a', 'parameters': [
            {'name': 'speed', 'value': 9, 'type': 'float64'}]}, 'parameterValues')
        assert answer['parameters'] == [{'name': 'speed', 'value': 1.0, 'type': 'float64'}]
        assert any('setting parameters refused' in m.get('message', '')
                   for m in anonymous.json_log if m.get('op') == 'status')
        assert calls == [] and server.refused_mutations == 2
        assert owner.call_service('/svc/restart', {'name': 'camera'}) == {'success': True}
        answer = owner.request_json({'op': 'setParameters', 'id': 'b', 'parameters': [
            {'name': 'speed', 'value': 9, 'type': 'float64'}]}, 'parameterValues')
        assert answer['parameters'] == [{'name': 'speed', 'value': 9.0, 'type': 'float64'}]
        assert calls == [{'name': 'camera'}]
    finally:
        anonymous.close()
        owner.close()
        server.stop()


def test_a_web_page_of_another_site_cannot_connect_and_a_rebinding_host_is_refused(unity_log):
    server, url, calls = _server()
    try:
        port = server.port
        # what a page on another site opens: refused at the handshake, token or not
        assert _status_of(url, {'Origin': 'https://evil.example'}) == 403
        assert _status_of(url + '/?token=s3cret', {'Origin': 'https://evil.example'}) == 403
        # DNS rebinding: the page's own origin, but a name that is not this server's
        assert _raw_status(port, [('Host', f'evil.example:{port}'),
                                  ('Origin', f'http://evil.example:{port}')]) == 403
        assert _raw_status(port, [('Host', f'127.0.0.1:{port}')]) == 101
        assert _raw_status(port, [('Host', f'127.0.0.1:{port}'), ('Host', 'evil.example')]) \
            == 400
        # Origin null (the Foxglove desktop app's file:// page, or a sandboxed frame of any
        # site): only with the token
        assert _status_of(url, {'Origin': 'null'}) == 401
        assert _status_of(url + '/?token=s3cret', {'Origin': 'null'}) == 101
        # the Foxglove web app and local pages read without it
        assert _status_of(url, {'Origin': 'https://app.foxglove.dev'}) == 101
        assert _status_of(url, {'Origin': 'http://localhost:8080'}) == 101
        assert calls == []
        assert 'evil.example' in unity_log.text and 's3cret' not in unity_log.text
    finally:
        server.stop()


def test_a_server_without_a_gate_makes_its_own_token_and_refuses_mutations():
    server = WsServer(ServerOptions('127.0.0.1', 0), services=[
        Service('/svc/restart', 't', '{}', '{}', lambda _p: b'{"success": true}')])
    server.start()
    client = FoxgloveClient(f'ws://127.0.0.1:{server.port}')
    try:
        refused = client.call_service('/svc/restart', {'name': 'camera'})
        assert refused['success'] is False and server.refused_mutations == 1
        assert len(server.gate.token) >= 43
    finally:
        client.close()
        server.stop()


def test_a_client_that_cannot_take_its_critical_traffic_is_disconnected_and_others_get_all():
    server, url, _calls = _server(critical_limit=16)
    channel = server.add_channel('/safety/big', 'json', '', '')
    fast = FoxgloveClient(url, keep_payloads=False)
    try:
        sub = fast.subscribe('/safety/big')
        stuck = slow_client(url, ['/safety/big'], fast.channels)  # subscribes, never reads
        fast.wait(lambda: len(server.clients()) == 2 and all(
            c['subscriptions'] == 1 for c in server.clients()), 10, 'both subscribed')
        payload = b'x' * 65536
        queuing = 0.0
        for i in range(200):  # 100/s of 64 kB: the fast client keeps up, the stuck one cannot
            start = time.monotonic()
            server.send(channel, payload, i, Tier.CRITICAL)
            queuing = max(queuing, time.monotonic() - start)
            time.sleep(0.01)
        assert queuing < 0.5  # queuing never waits for a socket
        fast.wait(lambda: fast.counts.get(sub, 0) == 200, 20, 'all 200 at the fast client')
        fast.wait(lambda: server.disconnected == 1 and len(server.clients()) == 1, 10,
                  'the stuck client disconnected')
        assert server.clients()[0]['dropped_total'] == 0
        stuck.close()
    finally:
        fast.close()
        server.stop()


def test_a_slow_reader_that_falls_behind_its_critical_traffic_is_told_why_and_disconnected():
    server, url, _calls = _server(critical_limit=32)
    channel = server.add_channel('/safety/big', 'json', '', '')
    fast = FoxgloveClient(url, keep_payloads=False)
    try:
        fast.subscribe('/safety/big')
        reader = SlowReader(url, ['/safety/big'], fast.channels, chunk=16384, pause=0.1)
        fast.wait(lambda: len(server.clients()) == 2 and all(
            c['subscriptions'] == 1 for c in server.clients()), 10, 'both subscribed')
        for i in range(300):  # 3 MB/s of CRITICAL for a reader of 160 kB/s
            server.send(channel, b'y' * 32768, i, Tier.CRITICAL)
            time.sleep(0.01)
            if reader.closed.is_set():
                break
        assert reader.closed.wait(20), 'the slow reader was not disconnected'
        reasons = [m['message'] for m in reader.texts if m.get('op') == 'status']
        assert any('disconnected' in r and 'CRITICAL' in r and 'limit 32' in r
                   for r in reasons), reader.texts[-3:]
        # what it did receive is in order, nothing dropped before the disconnect
        stamps = [stamp for _topic, stamp in reader.order]
        assert stamps == list(range(len(stamps)))
        reader.close()
    finally:
        fast.close()
        server.stop()


def test_a_port_in_use_or_a_missing_certificate_fails_start_with_an_os_error():
    import socket
    taken = socket.socket()
    taken.bind(('127.0.0.1', 0))
    taken.listen(1)
    try:
        with pytest.raises(OSError, match='in use'):
            WsServer(ServerOptions('127.0.0.1', taken.getsockname()[1])).start()
    finally:
        taken.close()
    with pytest.raises(OSError):
        WsServer(ServerOptions('127.0.0.1', 0, tls=('/no/cert.pem', '/no/key.pem'))).start()


def test_a_subscription_id_of_2_to_the_32_is_refused_and_starves_no_one(unity_log):
    server, url, _calls = _server()
    channel = server.add_channel('/chatter', 'json', '', '')
    other = FoxgloveClient(url, keep_payloads=False)
    hostile = FoxgloveClient(url)  # read-only: no token
    try:
        sub = other.subscribe('/chatter')
        hostile.wait(lambda: '/chatter' in hostile.channels, 10, 'the channel advertised')
        hostile._send({'op': 'subscribe', 'subscriptions': [
            {'id': 2 ** 32, 'channelId': hostile.channels['/chatter']['id']}]})
        hostile.wait(lambda: any('from 0 to' in m.get('message', '') for m in hostile.json_log
                                 if m.get('op') == 'status'), 10, 'the refusal')
        other.wait(lambda: server.has_subscribers(channel), 10, 'the other subscribed')
        for i in range(100):
            server.send(channel, b'{}', i, Tier.CRITICAL)  # never dropped (the depth is 4)
        other.wait(lambda: other.counts.get(sub, 0) == 100, 10, 'all 100 at the other client')
        assert [c['subscriptions'] for c in server.clients()] == [1, 0]
    finally:
        other.close()
        hostile.close()
        server.stop()
    assert not [r for r in unity_log.records if r.levelno >= logging.ERROR or r.exc_info]


def test_malformed_ops_get_a_status_each_and_the_connection_keeps_serving():
    server, url, _calls = _server()
    client = FoxgloveClient(url)
    try:
        bad = ['nope', '[]', '{"op": 3}', '{"op": "subscribe"}', '{"op": "advertise",'
               ' "channels": [{"id": 1}]}', '{"op": "setParameters", "parameters": '
               '[{"name": "speed", "value": 1e400}]}', '{"op": "getParameters", "id": {}}']
        for text in bad:
            client.ws.send(text)
        for frame in (b'', b'\x02\x00', b'\x09abc', struct.pack('<BIII', 2, 1, 7, 3) + b'xml{}'):
            client.ws.send(frame)
        client.wait(lambda: sum(m.get('op') == 'status' for m in client.json_log) >= 10, 10,
                    'a status per bad message')
        assert client.call_service('/svc/list', {}) == {'ok': 1}
        assert client.request_json({'op': 'getParameters', 'id': 'q'}, 'parameterValues')[
            'parameters'] == [{'name': 'speed', 'value': 1.0, 'type': 'float64'}]
    finally:
        client.close()
        server.stop()


def test_connections_are_bounded_and_the_next_one_gets_503():
    gate = Gate('s3cret', bound_host='127.0.0.1')
    server = WsServer(ServerOptions('127.0.0.1', 0, gate=gate, max_clients=2))
    server.start()
    url = f'ws://127.0.0.1:{server.port}'
    clients = [FoxgloveClient(url) for _ in range(2)]
    try:
        clients[0].wait(lambda: len(server.clients()) == 2, 10, 'two clients')
        assert _status_of(url) == 503
        clients.pop().close()
        clients[0].wait(lambda: len(server.clients()) == 1, 10, 'one left')
        assert _status_of(url) == 101
    finally:
        for client in clients:
            client.close()
        server.stop()
