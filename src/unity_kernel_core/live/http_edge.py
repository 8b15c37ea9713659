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
The dashboard's HTTP/1.1 edge: connections, limits and time-outs; routes say what is served.

``h11`` parses (request line, headers, ``Content-Length`` and chunked bodies, keep-alive);
this module bounds everything around it and never lets bad input reach a route:

- **sizes**: the request target (``Limits.max_target``), the request line and headers
  together (``max_head``) and the body (``max_body``); beyond them 414, 431 or 413;
- **time**: the next request on an open connection must start within ``idle_timeout_s``, its
  head then arrive within ``head_timeout_s`` and its body within ``body_timeout_s``; a response
  (or one event of a stream) that the client does not take within ``send_timeout_s`` ends the
  connection: a slow client holds a thread for a bounded time only;
- **connections**: at most ``max_connections`` at once (one thread each); one more is answered
  503 and closed at once;
- **every bad request gets a 4xx** (400 malformed, 405 method, 404 path, 505 HTTP/2) and no
  traceback; a client that goes away is not an error (logged at DEBUG).

Before a route runs, ``admit`` (the caller's one access check: token, ``Host``, ``Origin``)
sees every request, its headers read and its body not yet: GET and HEAD are reading, every
other method is mutating. Routes are exact paths, or prefixes (``prefix=True``, ending in
``/``); an exact path wins, then the longest prefix.
"""

import dataclasses
import http
import json
import logging
import socket
import socketserver
import ssl
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple
import urllib.parse

import h11

from unity_kernel_core.common.credentials import refuse_passphrase

_LOG = logging.getLogger('unity_kernel.live.dashboard')

#: Methods that only read: every other one is a mutating request.
READING_METHODS = ('GET', 'HEAD')
_RECV = 4096


@dataclasses.dataclass(frozen=True)
class Limits:
    """Sizes (bytes), time-outs (seconds) and connections of the HTTP edge."""

    max_target: int = 8192
    max_head: int = 16384
    max_body: int = 64 * 1024
    max_query_fields: int = 32
    idle_timeout_s: float = 30.0
    head_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    send_timeout_s: float = 10.0
    max_connections: int = 32


@dataclasses.dataclass(frozen=True)
class Request:
    """One request as a route sees it (headers by lower-case name; the body read whole)."""

    method: str
    target: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]
    body: bytes
    tls: bool
    port: int

    def header(self, name: str) -> Optional[str]:
        """Return a header's value (repeated headers joined by ``, ``), or None."""
        return self.headers.get(name.lower())


@dataclasses.dataclass(frozen=True)
class Response:
    """What a route answers: a whole body, or ``stream`` (chunks sent as they come)."""

    status: int
    body: bytes = b''
    content_type: str = 'application/json'
    headers: Tuple[Tuple[str, str], ...] = ()
    stream: Optional[Iterator[bytes]] = None


def json_response(status: int, value: Any, headers: Tuple[Tuple[str, str], ...] = ()) -> \
        Response:
    """Return ``value`` as a JSON response."""
    return Response(status, json.dumps(value).encode(), 'application/json', headers)


def error(status: int, message: str) -> Response:
    """Return ``{"error": message}`` with ``status``."""
    return json_response(status, {'error': message})


Route = Callable[[Request], Response]
Admit = Callable[[Request, bool], Optional[Response]]


class _Refused(Exception):
    """A request the edge answers itself (malformed, too large, too slow); then it closes."""

    def __init__(self, response: Optional[Response], why: str) -> None:
        super().__init__(why)
        self.response = response


class _Gone(Exception):
    """The client went away or stopped reading: close without answering."""


class HttpServer:
    """A bounded HTTP/1.1 server on threads of its own (``start`` binds, ``stop`` ends it)."""

    def __init__(self, host: str, port: int, admit: Admit, *, limits: Limits = Limits(),
                 tls: Optional[Tuple[str, str]] = None, name: str = 'live-dashboard') -> None:
        self.limits = limits
        self.admit = admit
        self._routes: Dict[Tuple[str, str, bool], Route] = {}
        self._name = name
        self._open: Set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.refused_connections = 0
        self.bad_requests = 0
        self._server = _Server((host, port), self)
        self.tls = tls is not None
        if tls is not None:
            try:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(tls[0], tls[1], password=refuse_passphrase)
            except BaseException:  # a certificate that cannot be used: the port is let go
                self._server.server_close()
                raise
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False)
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread: Optional[threading.Thread] = None

    # -- routes and life cycle ---------------------------------------------------------------

    def route(self, method: str, path: str, handler: Route, prefix: bool = False) -> None:
        """Serve ``method`` on ``path`` (or every path under it, with ``prefix``)."""
        if prefix and not path.endswith('/'):
            raise ValueError(f'a prefix route ends with "/": {path!r}')
        self._routes[(method.upper(), path, prefix)] = handler

    def start(self) -> None:
        """Serve on a thread of its own."""
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={'poll_interval': 0.2}, name=self._name,
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, end every open connection, wait for the server thread."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for sock in list(self._open):
                _close(sock)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def connections(self) -> int:
        """Return the connections open now."""
        with self._lock:
            return len(self._open)

    def stats(self) -> Dict[str, int]:
        """Return open connections, connections refused at the limit, bad requests."""
        return {'connections': self.connections,
                'refused_connections': self.refused_connections,
                'bad_requests': self.bad_requests}

    # -- connections (one thread each) -------------------------------------------------------

    def _accept(self, sock: socket.socket) -> bool:
        """Register a new connection; False (after a 503) when at the limit."""
        with self._lock:
            if len(self._open) < self.limits.max_connections and not self._stopping.is_set():
                self._open.add(sock)
                return True
            self.refused_connections += 1
            first = self.refused_connections == 1
        if first:
            _LOG.warning('dashboard: %d connections open, refusing more (503) until some '
                         'close', self.limits.max_connections)
        if not isinstance(sock, ssl.SSLSocket):  # no handshake for a refusal over TLS
            try:
                sock.settimeout(1.0)
                sock.sendall(b'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n'
                             b'Connection: close\r\nRetry-After: 1\r\n\r\n')
            except OSError:
                pass
        _close(sock)
        return False

    def _serve(self, sock: socket.socket) -> None:
        """Serve one connection until it closes, times out or misbehaves."""
        try:
            _Connection(self, sock).run()
        except Exception:  # a defect of ours, not bad input (that is answered above): say so
            _LOG.exception('dashboard: connection failed')
        finally:
            with self._lock:
                self._open.discard(sock)
            _close(sock)

    def _find(self, method: str, path: str) -> Tuple[Optional[Route], List[str]]:
        """Return the route of ``method`` on ``path`` (or None) and the methods the path has."""
        candidates = [(m, p, pre) for (m, p, pre) in self._routes
                      if (path.startswith(p) if pre else p == path)]
        if not candidates:
            return None, []
        best = max((not pre, len(p)) for _m, p, pre in candidates)  # exact, else the longest
        chosen = [(m, p, pre) for m, p, pre in candidates if (not pre, len(p)) == best]
        for m, p, pre in chosen:
            if m == method:
                return self._routes[(m, p, pre)], []
        return None, sorted(m for m, _p, _pre in chosen)


class _Connection:
    """One client connection: read a request, admit it, route it, answer; repeat."""

    def __init__(self, server: HttpServer, sock: socket.socket) -> None:
        self.server = server
        self.limits = server.limits
        self.sock = sock
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_head)
        self.tls = isinstance(sock, ssl.SSLSocket)
        self._close_after = False
        self._head = bytearray()  # what the current request's head received (bounded)

    def run(self) -> None:
        if self.tls:
            if not self._handshake():
                return
        while not self.server._stopping.is_set():
            try:
                request = self._next_request()
                if request is None:
                    return
                response = self._respond(request)
                self._send_response(request, response)
            except _Refused as refused:
                self.server.bad_requests += 1
                _LOG.debug('dashboard: bad request: %s', refused)
                if refused.response is not None:
                    self._send_refusal(refused.response)
                return
            except _Gone as gone:
                _LOG.debug('dashboard: client gone: %s', gone)
                return
            if self.conn.our_state is h11.MUST_CLOSE or self.conn.their_state is not h11.DONE:
                return
            try:
                self.conn.start_next_cycle()
            except h11.LocalProtocolError:  # the client's side is not done: close
                return

    def _handshake(self) -> bool:
        assert isinstance(self.sock, ssl.SSLSocket)
        self.sock.settimeout(self.limits.head_timeout_s)
        try:
            self.sock.do_handshake()
        except (OSError, ssl.SSLError, ValueError) as exc:
            _LOG.debug('dashboard: TLS handshake failed: %s', exc)
            return False
        return True

    # -- reading -----------------------------------------------------------------------------

    def _receive(self, deadline: float) -> None:
        """Feed h11 one read from the socket (an empty read tells it the client closed)."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout('deadline passed')
        self.sock.settimeout(left)
        data = self.sock.recv(_RECV)
        if len(self._head) <= self.limits.max_head:
            self._head += data
        self.conn.receive_data(data)

    def _next_event(self, deadline: float, what: str) -> Any:
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint if 400 <= exc.error_status_hint < 500 else 400
                if status == 431 and b'\n' not in self._head:  # still in the request line
                    raise _Refused(error(414, 'request line over '
                                              f'{self.limits.max_head} bytes'), 'line') from None
                raise _Refused(error(status, f'bad request: {exc}'), str(exc)) from None
            if event is not h11.NEED_DATA:
                return event
            try:
                self._receive(deadline)
            except socket.timeout:
                raise _Refused(error(408, f'{what} took too long'), f'{what}: time-out') \
                    from None
            except (OSError, ssl.SSLError) as exc:
                raise _Gone(f'{what}: {exc}') from None

    def _next_request(self) -> Optional[Request]:
        limits = self.limits
        self._head = bytearray(self.conn.trailing_data[0][:limits.max_head + 1])
        if not self.conn.trailing_data[0]:  # wait for the first byte, then for the head
            try:
                self._receive(time.monotonic() + limits.idle_timeout_s)
            except socket.timeout:
                raise _Gone('idle') from None
            except (OSError, ssl.SSLError) as exc:
                raise _Gone(f'idle: {exc}') from None
        event = self._next_event(time.monotonic() + limits.head_timeout_s, 'the request head')
        if isinstance(event, h11.ConnectionClosed):
            return None
        if not isinstance(event, h11.Request):
            raise _Refused(error(400, 'bad request'), f'unexpected {type(event).__name__}')
        return self._request(event)

    def _request(self, event: h11.Request) -> Request:
        limits = self.limits
        if event.http_version != b'1.1' and event.http_version != b'1.0':
            raise _Refused(error(505, 'HTTP/1.1 only'), f'HTTP/{event.http_version!r}')
        target = event.target.decode('latin-1')
        if len(event.target) > limits.max_target:
            raise _Refused(error(414, f'request target over {limits.max_target} bytes'),
                           'target too long')
        head = len(event.target) + sum(len(k) + len(v) + 4 for k, v in event.headers)
        if head > limits.max_head:
            raise _Refused(error(431, f'request headers over {limits.max_head} bytes'),
                           'headers too large')
        if not target.startswith('/'):
            raise _Refused(error(400, 'request target must be a path (/...)'), 'target form')
        headers: Dict[str, str] = {}
        for raw_name, raw_value in event.headers:
            key = raw_name.decode('latin-1')
            text = raw_value.decode('latin-1')
            headers[key] = headers[key] + ', ' + text if key in headers else text
        parts = urllib.parse.urlsplit(target)
        try:
            pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True,
                                           errors='replace',
                                           max_num_fields=limits.max_query_fields)
        except ValueError as exc:
            raise _Refused(error(400, f'bad query: {exc}'), 'query') from None
        query: Dict[str, str] = {}
        for name, item in pairs:
            query.setdefault(name, item)
        return Request(event.method.decode('ascii', 'replace').upper(), target, parts.path,
                       query, headers, b'', self.tls, self.server.port)

    def _read_body(self, request: Request) -> Request:
        limits = self.limits
        length = request.header('content-length') or ''
        if length.isdigit() and int(length) > limits.max_body:  # h11 checked the framing
            raise _Refused(error(413, f'request body over {limits.max_body} bytes'),
                           'body too large')
        if self.conn.they_are_waiting_for_100_continue:
            self._send(h11.InformationalResponse(status_code=100, headers=[]))
        deadline = time.monotonic() + limits.body_timeout_s
        body = bytearray()
        while True:
            event = self._next_event(deadline, 'the request body')
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > limits.max_body:
                    raise _Refused(error(413, f'request body over {limits.max_body} bytes'),
                                   'body too large')
            elif isinstance(event, h11.EndOfMessage):
                return dataclasses.replace(request, body=bytes(body))
            else:
                raise _Gone('closed during the body')

    # -- answering ---------------------------------------------------------------------------

    def _respond(self, request: Request) -> Response:
        server = self.server
        _LOG.debug('%s %s', request.method, request.path)  # never the query: it may hold a token
        refusal = server.admit(request, request.method not in READING_METHODS)
        if refusal is not None:
            self._close_after = True
            return refusal
        request = self._read_body(request)
        route, methods = server._find(request.method, request.path)
        if route is None:
            if methods:
                return dataclasses.replace(
                    error(405, f'{request.method} is not served on {request.path}'),
                    headers=(('Allow', ', '.join(methods)),))
            return error(404, f'no such page: {_printable(request.path)}')
        try:
            return route(request)
        except Exception:  # a defect of the route, not of the request: 500 and the traceback
            _LOG.exception('dashboard: %s %s failed', request.method, request.path)
            return error(500, 'internal error (see the kernel log)')

    def _send(self, event: Any) -> None:
        try:
            data = self.conn.send(event)
        except h11.LocalProtocolError as exc:
            raise _Gone(f'cannot send: {exc}') from None
        if not data:
            return
        self.sock.settimeout(self.limits.send_timeout_s)
        try:
            self.sock.sendall(data)
        except (OSError, ssl.SSLError) as exc:  # includes the send time-out
            self.conn.send_failed()
            raise _Gone(f'send: {exc}') from None

    def _headers(self, request: Optional[Request], response: Response) -> List[Tuple[str, str]]:
        headers = [('Content-Type', response.content_type), ('Cache-Control', 'no-store'),
                   ('X-Content-Type-Options', 'nosniff'), ('Server', 'unity-kernel-live')]
        if response.stream is None:
            headers.append(('Content-Length', str(len(response.body))))
        if self._close_after or request is None or response.stream is not None:
            headers.append(('Connection', 'close'))
        return headers + list(response.headers)

    def _send_response(self, request: Request, response: Response) -> None:
        self._send(h11.Response(status_code=response.status, reason=_reason(response.status),
                                headers=self._headers(request, response)))
        if response.stream is None:
            if response.body and request.method != 'HEAD':
                self._send(h11.Data(data=response.body))
            self._send(h11.EndOfMessage())
            return
        try:
            for chunk in response.stream:
                if self.server._stopping.is_set():
                    break
                self._send(h11.Data(data=chunk))
        finally:
            close = getattr(response.stream, 'close', None)
            if close is not None:
                close()
        self._send(h11.EndOfMessage())

    def _send_refusal(self, response: Response) -> None:
        """Answer a request the edge refused, when h11 still lets us; then close."""
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        self._close_after = True
        try:
            self._send(h11.Response(status_code=response.status,
                                    reason=_reason(response.status),
                                    headers=self._headers(None, response)))
            self._send(h11.Data(data=response.body))
            self._send(h11.EndOfMessage())
        except _Gone:
            pass


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: Tuple[str, int], edge: HttpServer) -> None:
        self.edge = edge
        self.address_family = socket.AF_INET6 if ':' in address[0] else socket.AF_INET
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start a thread for the connection, or refuse it at the limit."""
        if self.edge._accept(request):
            super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Leave closing to the connection's own thread."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log a defect in one line with its traceback (bad input never gets here)."""
        _LOG.exception('dashboard: connection from %s failed', client_address)


class _Handler(socketserver.BaseRequestHandler):

    server: _Server

    def handle(self) -> None:
        """Serve the connection (see ``_Connection``)."""
        self.server.edge._serve(self.request)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b''


def _printable(text: str) -> str:
    """Return ``text`` as printable ASCII of at most 200 characters (for messages)."""
    out = ''.join(c if ' ' <= c <= '~' else '?' for c in text)
    return out if len(out) <= 200 else out[:200] + '...'
