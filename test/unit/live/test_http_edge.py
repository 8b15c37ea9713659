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
The dashboard's HTTP edge on loopback, without ROS: every bad request a 4xx, never a traceback.

Each test is one of the hostile requests that once gave a traceback and no answer, a thread
reading forever or a log line per disconnect; ``quiet`` fails a test when anything of the
dashboard's was logged at ERROR or with a traceback, or a traceback reached stderr.
"""

import json
import logging
import socket
import struct
import threading
import time

from live_support import StandInSupervisor
import pytest

from unity_kernel_core.live.dashboard import Dashboard, DashboardApi
from unity_kernel_core.live.delivery import EventRing
from unity_kernel_core.live.gate import Gate
from unity_kernel_core.live.http_edge import Limits

TOKEN = 's3cret'


@pytest.fixture
def quiet(capfd, unity_log):
    """Catch the kernel's log; fail on an ERROR or a traceback, logged or on stderr."""
    yield unity_log
    loud = [r for r in unity_log.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not loud, [r.getMessage() for r in loud]
    assert 'Traceback' not in capfd.readouterr().err


def _board(limits=Limits(), period_s=0.05):
    ring = EventRing(10)
    ring.add({'topic': '/a/b', 'seq': 1})
    modules = StandInSupervisor([])
    api = DashboardApi(snapshot=lambda pattern: {'events': ring.matching(pattern, 10)},
                       camera_jpeg=lambda: None, modules=lambda: modules,
                       gate=Gate(TOKEN, bound_host='127.0.0.1'), period_s=period_s)
    board = Dashboard('127.0.0.1', 0, api, limits=limits)
    board.modules = modules
    return board


@pytest.fixture
def board():
    board = _board()
    yield board
    board.stop()


def _exchange(port, data, timeout=10.0, shut=True):
    """Send raw bytes; return everything the server answers until it closes."""
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if shut:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server may answer and close before taking all of it
            pass
        return _read_all(sock)


def _read_all(sock):
    out = b''
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return out
            out += chunk
    except (ConnectionResetError, socket.timeout):
        return out


def _status(answer):
    assert answer.startswith(b'HTTP/1.1 '), answer[:200]
    return int(answer.split(b' ', 2)[1])


def _get(port, target, headers=b''):
    return _exchange(port, b'GET ' + target + b' HTTP/1.1\r\nHost: 127.0.0.1\r\n' + headers
                     + b'Connection: close\r\n\r\n')


def _body(answer):
    return json.loads(answer.split(b'\r\n\r\n', 1)[1])


# -- the requests that once gave a traceback -------------------------------------------------

def test_a_70_kb_path_gets_414(board, quiet):
    assert _status(_get(board.port, b'/' + b'a' * 70000)) == 414


def test_a_1_mb_request_line_gets_414_without_being_read_whole(board, quiet):
    answer = _exchange(board.port, b'GET /' + b'b' * (1 << 20) + b' HTTP/1.1\r\n\r\n')
    assert _status(answer) == 414


def test_binary_garbage_gets_400(board, quiet):
    assert _status(_exchange(board.port, bytes(range(256)) * 4 + b'\r\n\r\n')) == 400


def test_an_http2_preface_gets_505(board, quiet):
    assert _status(_exchange(board.port, b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')) == 505


@pytest.mark.parametrize('length', [b'abc', b'-1', b'1e3', b'5, 6', b'99999999999999999999'])
def test_a_bad_content_length_gets_400_or_413(board, quiet, length):
    answer = _exchange(board.port, b'POST /api/modules/restart HTTP/1.1\r\nHost: 127.0.0.1\r\n'
                       b'Authorization: Bearer s3cret\r\nX-Unity-Live: 1\r\n'
                       b'Content-Length: ' + length + b'\r\n\r\n{}')
    assert _status(answer) in (400, 413)
    assert board.modules.calls == []


def test_a_non_latin1_token_anywhere_is_just_a_wrong_token(board, quiet):
    for header in (b'Authorization: Bearer \xc3\xa9\xe2\x98\x83\r\n',
                   b'Cookie: unity_live_token_1=\xff\xfe; a="\r\n'):
        answer = _exchange(board.port, b'POST /api/modules/restart HTTP/1.1\r\n'
                           b'Host: 127.0.0.1\r\nX-Unity-Live: 1\r\nContent-Length: 2\r\n'
                           + header + b'\r\n{}')
        assert _status(answer) == 401
    for query in (b'%C3%A9', b'%FF%FE', '\u2603'.encode()):
        assert _status(_get(board.port, b'/?token=' + query)) in (400, 401)
    assert board.modules.calls == []


def test_a_bad_topic_pattern_gets_400_on_the_state_and_the_stream(board, quiet):
    for path in (b'/api/state', b'/api/stream'):
        answer = _get(board.port, path + b'?pattern=[')
        assert _status(answer) == 400 and 'pattern' in _body(answer)['error']
        answer = _get(board.port, path + b'?pattern=/a/**x')
        assert _status(answer) == 400


def test_other_hostile_requests_get_a_4xx(board, quiet):
    cases = [
        (b'GET /api/state HTTP/1.1\r\n\r\n', 400),                       # no Host
        (b'GET /api/state HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400),  # two Hosts
        (b'GET http://127.0.0.1/api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 400),
        (b'GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nX\x00: y\r\n\r\n', 400),
        (b'GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n folded\r\n\r\n', 403),  # unfolded
        (b'GET /api/state HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n', 505),
        (b'DELETE /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Unity-Live: 1\r\n'
         b'Authorization: Bearer s3cret\r\n\r\n', 405),
        (b'GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 404),
        (b'GET /api/state?' + b'&'.join(b'k%d=v' % i for i in range(100))
         + b' HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 400),
        (b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n' + b'X-A: b\r\n' * 5000 + b'\r\n', 431),
        (b'POST /api/modules/restart HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Unity-Live: 1\r\n'
         b'Authorization: Bearer s3cret\r\nContent-Length: 100000\r\n\r\n', 413),
        (b'POST /api/modules/restart HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Unity-Live: 1\r\n'
         b'Authorization: Bearer s3cret\r\nTransfer-Encoding: chunked\r\n\r\n'
         + b'ffff\r\n' + b'x' * 65535 + b'\r\n' + b'ffff\r\n' + b'x' * 65535 + b'\r\n', 413),
        (b'POST /api/modules/restart HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Unity-Live: 1\r\n'
         b'Authorization: Bearer s3cret\r\nContent-Length: 9\r\n\r\n{"name":1', 400),
        (b'POST /api/modules/restart HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Unity-Live: 1\r\n'
         b'Authorization: Bearer s3cret\r\nContent-Length: 4\r\n\r\n' + b'[[[[', 400),
    ]
    for request, expected in cases:
        assert _status(_exchange(board.port, request)) == expected, request[:80]
    assert board.modules.calls == []


def test_a_good_request_still_works_and_keeps_its_connection(board, quiet):
    with socket.create_connection(('127.0.0.1', board.port), timeout=10) as sock:
        for _ in range(3):
            sock.sendall(b'GET /api/state?pattern=/a/** HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
            head = b''
            while b'\r\n\r\n' not in head:
                head += sock.recv(1)
            length = int(next(line.split(b':')[1] for line in head.split(b'\r\n')
                              if line.lower().startswith(b'content-length')))
            body = b''
            while len(body) < length:
                body += sock.recv(length - len(body))
            assert _status(head) == 200 and json.loads(body)['events'][0]['topic'] == '/a/b'


# -- disconnects, slow clients and too many of them -------------------------------------------

def test_clients_that_go_away_mid_stream_or_mid_request_are_not_errors(quiet):
    board = _board(period_s=0.01)
    try:
        for _ in range(20):
            sock = socket.create_connection(('127.0.0.1', board.port), timeout=10)
            sock.sendall(b'GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
            sock.recv(100)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            sock.close()  # a reset, mid-stream
            half = socket.create_connection(('127.0.0.1', board.port), timeout=10)
            half.sendall(b'POST /api/modules/restart HTTP/1.1\r\nHost: 127.0.0.1\r\n')
            half.close()
        assert _wait(lambda: board.stats()['connections'] == 0, 10)
    finally:
        board.stop()
    assert len(quiet.records) < 200  # a line per disconnect at most, at DEBUG


def test_a_slowloris_client_is_cut_at_the_head_time_out():
    board = _board(limits=Limits(head_timeout_s=1.0, idle_timeout_s=1.0))
    try:
        sock = socket.create_connection(('127.0.0.1', board.port), timeout=10)
        start = time.monotonic()
        sock.sendall(b'GET / HTTP/1.1\r\n')
        answer = b''
        try:
            for _ in range(50):  # one header byte every 0.2 s: never a whole head
                sock.sendall(b'X')
                time.sleep(0.2)
        except OSError:
            pass
        answer = _read_all(sock)
        assert time.monotonic() - start < 5
        assert answer == b'' or _status(answer) == 408
        idle = socket.create_connection(('127.0.0.1', board.port), timeout=10)
        start = time.monotonic()
        assert _read_all(idle) == b''  # an idle connection is closed, no answer
        assert time.monotonic() - start < 5
        sock.close()
        idle.close()
    finally:
        board.stop()


def test_a_slow_body_is_cut_at_the_body_time_out():
    board = _board(limits=Limits(body_timeout_s=1.0))
    try:
        sock = socket.create_connection(('127.0.0.1', board.port), timeout=10)
        sock.sendall(b'POST /api/modules/restart HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Unity-Live: 1'
                     b'\r\nAuthorization: Bearer s3cret\r\nContent-Length: 10\r\n\r\n{')
        start = time.monotonic()
        assert _status(_read_all(sock)) == 408
        assert time.monotonic() - start < 5
        sock.close()
    finally:
        board.stop()


def test_connections_are_bounded_and_the_next_one_gets_503_at_once(quiet):
    board = _board(limits=Limits(max_connections=4))
    held = []
    try:
        for _ in range(4):
            held.append(socket.create_connection(('127.0.0.1', board.port), timeout=10))
        assert _wait(lambda: board.stats()['connections'] == 4, 10)
        answer = _get(board.port, b'/api/state')
        assert _status(answer) == 503
        assert board.stats()['refused_connections'] >= 1
        for sock in held:
            sock.close()
        assert _wait(lambda: board.stats()['connections'] == 0, 10)
        assert _status(_get(board.port, b'/api/state')) == 200
    finally:
        for sock in held:
            sock.close()
        board.stop()


def test_a_stream_to_a_client_that_never_reads_ends_at_the_send_time_out():
    board = _board(limits=Limits(send_timeout_s=1.0), period_s=0.001)
    big = {'events': [{'topic': '/x' * 5000}] * 50}
    board.api.snapshot = lambda pattern: big
    try:
        sock = socket.create_connection(('127.0.0.1', board.port), timeout=10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b'GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
        assert _wait(lambda: board.stats()['connections'] == 1, 10)
        assert _wait(lambda: board.stats()['connections'] == 0, 15), 'the stream holds on'
        sock.close()
    finally:
        board.stop()


def test_stop_ends_open_streams_and_idle_connections_at_once():
    board = _board()
    socks = [socket.create_connection(('127.0.0.1', board.port), timeout=10) for _ in range(3)]
    socks[0].sendall(b'GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    assert _wait(lambda: board.stats()['connections'] == 3, 10)
    start = time.monotonic()
    board.stop()
    assert time.monotonic() - start < 3
    assert threading.active_count() < 50
    for sock in socks:
        sock.close()


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
