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
Fuzz: any bytes or request on the dashboard's socket get an answer, never a 500 or a traceback.

Two targets against one dashboard on loopback (the real HTTP edge, gate and routes; stand-ins
for the kernel's state and supervisor):

- raw bytes (anything, and request-shaped mixtures of good and bad parts): the answer is
  nothing (the client closed before a request began) or one HTTP/1.1 response with a 2xx,
  3xx or 4xx/505 status, never 500; nothing is logged at ERROR or with a traceback;
- structured requests (method, path, query, headers, body drawn from what matters: tokens,
  Host, Origin, X-Unity-Live): the same, and a module command reaches the supervisor only
  when the request carried the token, the header, a Host of this server and no foreign
  Origin.
"""

import logging
import socket
import urllib.parse

from hypothesis import given, strategies as st
from live_support import StandInSupervisor

from unity_kernel_core.live.camera import Jpeg
from unity_kernel_core.live.dashboard import cookie_name, Dashboard, DashboardApi
from unity_kernel_core.live.delivery import EventRing
from unity_kernel_core.live.gate import Gate
from unity_kernel_core.live.http_edge import Limits

TOKEN = 'fuzz-token'


class _Loud(logging.Handler):

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record.getMessage())


_RING = EventRing(10)
_RING.add({'topic': '/a/b', 'seq': 1})
MODULES = StandInSupervisor()
LOUD = _Loud()
logging.getLogger('unity_kernel.live.dashboard').addHandler(LOUD)
_API = DashboardApi(snapshot=lambda pattern: {'events': _RING.matching(pattern, 5)},
                    camera_jpeg=lambda: Jpeg(b'\xff\xd8jpeg', 1, 2), modules=lambda: MODULES,
                    gate=Gate(TOKEN, bound_host='127.0.0.1'), period_s=0.01)
# short time-outs: an example that leaves a request unfinished is closed by the client anyway
BOARD = Dashboard('127.0.0.1', 0, _API, limits=Limits(head_timeout_s=2, body_timeout_s=2))
PORT = BOARD.port
HOST = f'127.0.0.1:{PORT}'


def _exchange(data: bytes) -> bytes:
    with socket.create_connection(('127.0.0.1', PORT), timeout=10) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # answered and closed before taking everything
            pass
        out = b''
        try:
            while b'text/event-stream' not in out:  # a stream: its head is enough
                chunk = sock.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        return out


def _check(answer: bytes) -> int:
    """Return the first response's status; fail on a 500, a traceback or no HTTP at all."""
    assert not LOUD.records, LOUD.records
    if not answer:
        return 0
    assert answer.startswith(b'HTTP/1.1 '), answer[:100]
    status = int(answer[9:12])
    assert 200 <= status < 500 or status in (503, 505), answer[:300]
    return status


_PATHS = ['/', '/index.html', '/api/state', '/api/stream', '/api/camera.jpg',
          '/api/modules/restart', '/api/modules/load', '/api/modules/unload',
          '/api/modules/outcome', '/nowhere']
_METHODS = ['GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PRI', 'G\x00T', 'get']
ORIGINS = [f'http://{HOST}', 'https://evil.example', 'null', f'http://localhost:{PORT}']
_text = st.text(max_size=40)
_bytes = st.binary(max_size=200)


@st.composite
def _raw_requests(draw):
    """Request-shaped bytes: a line, headers and a body, each part good or garbage."""
    method = draw(st.sampled_from(_METHODS)).encode('latin-1')
    target = draw(st.one_of(st.sampled_from(_PATHS).map(str.encode), _bytes))
    version = draw(st.sampled_from([b'HTTP/1.1', b'HTTP/1.0', b'HTTP/2.0', b'HTTP/x', b'']))
    headers = draw(st.lists(st.tuples(
        st.sampled_from([b'Host', b'Content-Length', b'Transfer-Encoding', b'Cookie',
                         b'Authorization', b'Origin', b'Connection', b'Expect', b'X']),
        st.one_of(st.sampled_from([HOST.encode(), b'-1', b'abc', b'chunked', b'close',
                                   b'100-continue', b'Bearer ' + TOKEN.encode()]), _bytes)),
        max_size=8))
    body = draw(_bytes)
    head = method + b' ' + target + b' ' + version + b'\r\n' + b''.join(
        name + b': ' + value + b'\r\n' for name, value in headers) + b'\r\n'
    return head + body


@given(st.one_of(st.binary(max_size=2000), _raw_requests()))
def test_any_bytes_get_one_http_answer_or_none_and_never_a_500(data):
    calls = len(MODULES.calls)
    _check(_exchange(data))
    if b'Bearer ' + TOKEN.encode() not in data:
        assert len(MODULES.calls) == calls  # no command without the token


@given(method=st.sampled_from(['GET', 'POST', 'PUT', 'DELETE']), path=st.sampled_from(_PATHS),
       query=st.dictionaries(st.sampled_from(['token', 'pattern', 'x']),
                             st.one_of(st.sampled_from([TOKEN, '/a/**', '[', '**/x']), _text),
                             max_size=3),
       token=st.one_of(st.none(), st.sampled_from([TOKEN, 'wrong', '']), _text),
       via=st.sampled_from(['bearer', 'cookie']),
       host=st.sampled_from([HOST, 'localhost', 'evil.example', f'evil.example:{PORT}']),
       origin=st.one_of(st.none(), st.sampled_from(ORIGINS)),
       header=st.booleans(),
       body=st.one_of(st.none(), st.just(b'{"name": "camera"}'),
                      st.just(b'{"path": "/m"}'), st.just(b'{"id": "x-1", "wait_s": 1e9}'),
                      _bytes))
def test_structured_requests_are_answered_and_commands_need_every_check(
        method, path, query, token, via, host, origin, header, body):
    target = path + ('?' + urllib.parse.urlencode(query) if query else '')
    lines = [f'{method} {target} HTTP/1.1', f'Host: {host}', 'Connection: close']
    if token is not None:
        value = urllib.parse.quote(token, safe='')
        lines.append(f'Authorization: Bearer {value}' if via == 'bearer'
                     else f'Cookie: {cookie_name(PORT)}={value}')
    if origin is not None:
        lines.append(f'Origin: {origin}')
    if header:
        lines.append('X-Unity-Live: 1')
    if body is not None:
        lines.append(f'Content-Length: {len(body)}')
    calls = len(MODULES.calls)
    status = _check(_exchange(('\r\n'.join(lines) + '\r\n\r\n').encode() + (body or b'')))
    allowed = (token == TOKEN and header and host in (HOST, 'localhost')
               and origin in (None, f'http://{host}'))
    if len(MODULES.calls) > calls:
        assert allowed and method == 'POST' and path.startswith('/api/modules/'), \
            (method, path, token, host, origin, header)
        assert status in (200, 400)
    if path == '/api/modules/outcome' and status in (200, 404):
        assert allowed and method == 'POST', (method, token, host, origin, header)
    if host.startswith('evil'):
        assert status == 403
