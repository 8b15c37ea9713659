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
The kernel's web dashboard: one page, a JSON API and a server-sent event stream.

Standard library only (``http.server``, threads, ``ssl``): the page needs a snapshot every
half second and a camera frame on demand, which SSE carries in one plain HTTP response that
every browser reconnects by itself; no framework and no bundled JavaScript protocol client.

Routes: ``GET /`` the page; ``GET /api/state`` one snapshot; ``GET /api/stream?pattern=P``
snapshots as SSE with recent events filtered by topic pattern ``P``; ``GET /api/camera.jpg``
the latest camera frame; ``POST /api/modules/<command>`` (a ``ModuleCommand``) with
``{"name": ...}`` or ``{"path": ...}``.

Security: a token (``live.token_env`` / ``live.token_file``) is accepted as
``Authorization: Bearer``, as the ``unity_live_token`` cookie, or once as ``?token=`` on the
page (which sets the cookie and redirects, so it leaves the address bar). Off loopback every
request needs it; on loopback mutating requests need it whenever one is configured. POSTs
must also carry ``X-Unity-Live: 1`` (a header no cross-site form can send). Requests are
logged by path only: the token is never logged.
"""

import http.cookies
import http.server
import json
import logging
import pathlib
import socketserver
import ssl
import threading
from typing import Any, Callable, Dict, Optional, Tuple
import urllib.parse

from unity_kernel_core.config.documents import loads_json
from unity_kernel_core.errors import PatternError
from unity_kernel_core.live.delivery import access
from unity_kernel_core.live.state import MODULE_COMMANDS, ModuleOperations
from unity_kernel_core.live.webui import POST_PATHS
from unity_kernel_core.module_commands import ModuleCommand

_LOG = logging.getLogger('unity_kernel.live.dashboard')

STATIC = pathlib.Path(__file__).resolve().parent / 'static'
COOKIE = 'unity_live_token'
MAX_BODY = 64 * 1024


class DashboardApi:
    """What the HTTP handlers need from the live view (kept narrow for tests)."""

    def __init__(self, *, snapshot: Callable[[Optional[str]], Dict[str, Any]],
                 camera_jpeg: Callable[[], Optional[bytes]],
                 modules: Callable[[], Optional[ModuleOperations]],
                 token: Optional[str], loopback: bool, period_s: float,
                 webui: Optional[Any] = None) -> None:
        self.snapshot = snapshot
        self.camera_jpeg = camera_jpeg
        self.modules = modules
        self.token = token
        self.loopback = loopback
        self.period_s = period_s
        self.webui = webui
        """The flow editor's and plots' routes (``live.webui.WebUi``), after the checks here."""
        self.stopping = threading.Event()


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    api: DashboardApi


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = 'HTTP/1.1'
    server_version = 'unity-kernel-live'

    # -- plumbing --------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        """Log the path only (never a query string, which may carry the token)."""
        _LOG.debug('%s %s', self.command, urllib.parse.urlsplit(self.path).path)

    def _send(self, code: int, body: bytes, content_type: str,
              headers: Optional[Dict[str, str]] = None) -> None:
        self.send_response(code)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Cache-Control', 'no-store')
        self.send_header('X-Content-Type-Options', 'nosniff')
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def _json(self, code: int, value: Any) -> None:
        self._send(code, json.dumps(value).encode(), 'application/json')

    def _presented_token(self, query: Dict[str, str]) -> Optional[str]:
        header = self.headers.get('Authorization', '')
        if header.startswith('Bearer '):
            return header[len('Bearer '):].strip()
        cookies = http.cookies.SimpleCookie(self.headers.get('Cookie', ''))
        if COOKIE in cookies:
            return cookies[COOKIE].value
        return query.get('token')

    def _allowed(self, query: Dict[str, str], mutating: bool) -> bool:
        api = self.server.api
        why = access(api.token, self._presented_token(query), mutating, api.loopback)
        if why is None:
            return True
        self._json(401, {'error': why})
        return False

    # -- routes ----------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        """Serve the page, the API and the event stream."""
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        if not self._allowed(query, mutating=False):
            return
        api = self.server.api
        if parts.path in ('/', '/index.html'):
            if 'token' in query:  # move the token into a cookie, out of the address bar
                cookie = (f'{COOKIE}={query["token"]}; Path=/; HttpOnly; SameSite=Strict'
                          + ('; Secure' if isinstance(self.connection, ssl.SSLSocket) else ''))
                self._send(303, b'', 'text/plain', {'Location': '/', 'Set-Cookie': cookie})
                return
            self._send(200, (STATIC / 'index.html').read_bytes(), 'text/html; charset=utf-8')
        elif parts.path == '/api/state':
            self._json(200, api.snapshot(query.get('pattern')))
        elif parts.path == '/api/stream':
            self._stream(query.get('pattern'))
        elif parts.path == '/api/camera.jpg':
            frame = api.camera_jpeg()
            if frame is None:
                self._json(404, {'error': 'no camera frame yet'})
            else:
                self._send(200, frame, 'image/jpeg')
        elif api.webui is not None and (found := api.webui.get(parts.path, query)) is not None:
            self._send(found[0], found[2], found[1])
        else:
            self._json(404, {'error': f'no such page: {parts.path}'})

    def do_POST(self) -> None:  # noqa: N802 (stdlib name)
        """Run a module command: restart, unload or load."""
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        if not self._allowed(query, mutating=True):
            return
        if self.headers.get('X-Unity-Live') != '1':
            self._json(403, {'error': 'missing X-Unity-Live: 1 header'})
            return
        command = parts.path.rpartition('/')[2]
        webui = self.server.api.webui
        is_module = parts.path.startswith('/api/modules/') and command in MODULE_COMMANDS
        if not is_module and (webui is None or parts.path not in POST_PATHS):
            self._json(404, {'error': f'no such action: {parts.path}'})
            return
        length = int(self.headers.get('Content-Length') or 0)
        if length > MAX_BODY:
            self._json(413, {'error': 'request too large'})
            return
        try:
            body = loads_json(self.rfile.read(length) or b'{}', max_bytes=MAX_BODY)
        except ValueError as exc:  # invalid, too large or too deep (never a RecursionError)
            self._json(400, {'error': f'body is not JSON: {exc}'})
            return
        if webui is not None and not is_module:
            code, content_type, data = webui.post(parts.path, body)
            self._send(code, data, content_type)
            return
        key = ModuleCommand(command).argument
        arg = body.get(key) if isinstance(body, dict) else None
        if not isinstance(arg, str) or not arg:
            self._json(400, {'error': f'{command} needs "{key}" (a string)'})
            return
        modules = self.server.api.modules()
        if modules is None:
            self._json(503, {'error': 'no supervisor in this kernel'})
            return
        ok, message = modules.request(command, arg)
        _LOG.info('dashboard: modules %s %s: %s', command, arg, message)
        self._json(200 if ok else 400, {'success': ok, 'message': message})

    def _stream(self, pattern: Optional[str]) -> None:
        api = self.server.api
        try:
            api.snapshot(pattern)
        except PatternError as exc:
            self._json(400, {'error': str(exc)})
            return
        self.send_response(200)
        self.send_header('Content-Type', 'text/event-stream')
        self.send_header('Cache-Control', 'no-store')
        self.send_header('Connection', 'close')
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(b'retry: 1000\n\n')
            while not api.stopping.is_set():
                data = json.dumps(api.snapshot(pattern))
                self.wfile.write(f'event: state\ndata: {data}\n\n'.encode())
                self.wfile.flush()
                api.stopping.wait(api.period_s)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return


class Dashboard:
    """The dashboard HTTP(S) server on its own threads."""

    def __init__(self, host: str, port: int, api: DashboardApi,
                 tls: Optional[Tuple[str, str]] = None) -> None:
        self.api = api
        self._server = _Server((host, port), _Handler)
        self._server.api = api
        self.tls = tls is not None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls[0], tls[1])
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False)
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={'poll_interval': 0.2},
                                        name='live-dashboard', daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Return the page's URL."""
        host = f'[{self.host}]' if ':' in self.host else self.host
        return f'{"https" if self.tls else "http"}://{host}:{self.port}/'

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; open event streams end within one period."""
        self.api.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)
