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

The page needs a snapshot every half second and a camera frame on demand, which SSE carries
in one plain HTTP response that every browser reconnects by itself; no framework and no
bundled JavaScript protocol client. The HTTP edge (``http_edge``: limits, time-outs,
bounded connections) serves the routes below.

Routes: ``GET /`` the page; ``GET /api/state`` one snapshot; ``GET /api/stream?pattern=P``
snapshots as SSE with recent events filtered by topic pattern ``P``; ``GET /api/camera.jpg``
the latest camera frame (its bus ``seq`` and stamp in ``X-Frame-Seq``, ``X-Frame-Stamp-Ns``);
``POST /api/modules/<command>`` (a ``ModuleCommand``) with ``{"name": ...}`` or
``{"path": ...}``, answered with the command's outcome and its id;
``POST /api/modules/outcome`` with ``{"id": ..., "wait_s": ...}``, the outcome of a command
this dashboard took (``live.actions``; a POST, so it needs the token as the commands do); the
flow editor's and the live plots' routes (``live.webui``). More routes: ``Dashboard.route``.

Every request, whatever its route, passes ``DashboardApi.admit`` first (the ``gate``:
``Host``, ``Origin``, the token; and ``X-Unity-Live: 1`` on every mutating request, a header
no cross-site form can send). The token is accepted as ``Authorization: Bearer``, as this
server's cookie, or once as ``/?token=`` on the page, which sets the cookie (HttpOnly,
SameSite=Strict) and redirects so it leaves the address bar. Requests are logged by path
only: the token is never logged.
"""

import http.cookies
import json
import logging
import pathlib
import threading
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from unity_kernel_core.config.documents import loads_json
from unity_kernel_core.errors import PatternError
from unity_kernel_core.live.actions import MAX_WAIT_S, ModuleActions
from unity_kernel_core.live.camera import Jpeg
from unity_kernel_core.live.gate import Gate, MISSING_TOKEN, token_ok, Visitor
from unity_kernel_core.live.http_edge import (error, HttpServer, json_response, Limits, Request,
                                              Response, Route)
from unity_kernel_core.live.state import MODULE_COMMANDS, ModuleOperations
from unity_kernel_core.live.webui import GET_PATHS, GET_PREFIXES, POST_PATHS
from unity_kernel_core.module_commands import ModuleCommand

_LOG = logging.getLogger('unity_kernel.live.dashboard')

STATIC = pathlib.Path(__file__).resolve().parent / 'static'
COOKIE = 'unity_live_token'
MUTATION_HEADER = 'X-Unity-Live'
MAX_BODY = 64 * 1024
OUTCOME_PATH = '/api/modules/outcome'


def cookie_name(port: int) -> str:
    """Return the token cookie's name for the server on ``port`` (cookies ignore ports)."""
    return f'{COOKIE}_{port}'


class DashboardApi:
    """What the routes need from the live view (kept narrow for tests)."""

    def __init__(self, *, snapshot: Callable[[Optional[str]], Dict[str, Any]],
                 camera_jpeg: Callable[[], Optional[Jpeg]],
                 modules: Callable[[], Optional[ModuleOperations]],
                 gate: Gate, period_s: float, webui: Optional[Any] = None,
                 actions: Optional[ModuleActions] = None) -> None:
        self.snapshot = snapshot
        self.camera_jpeg = camera_jpeg
        self.modules = modules
        self.actions = actions if actions is not None else ModuleActions(modules)
        """The module commands this dashboard took (the flow editor's too), by id."""
        self.gate = gate
        self.period_s = period_s
        self.webui = webui
        """The flow editor's and plots' routes (``live.webui.WebUi``), after the checks here."""
        self.stopping = threading.Event()

    def presented_token(self, request: Request) -> Optional[str]:
        """Return the token a request carries: a Bearer header, else this server's cookie."""
        header = request.header('authorization') or ''
        if header[:7].lower() == 'bearer ':
            return header[7:].strip()
        try:
            cookies = http.cookies.SimpleCookie(request.header('cookie') or '')
        except http.cookies.CookieError:
            return None
        morsel = cookies.get(cookie_name(request.port))
        return morsel.value if morsel is not None else None

    def admit(self, request: Request, mutating: bool) -> Optional[Response]:
        """Decide any request before its route runs: None lets it in, else the refusal."""
        token = self.presented_token(request)
        if request.path in PAGES and 'token' in request.query:
            token = request.query['token']  # the one hand-off from the status line's URL
        refusal = self.gate.http(Visitor(request.header('host'), request.header('origin'),
                                         token), mutating)
        if refusal is not None:
            reason = refusal.reason
            if refusal.status == 401:
                reason += (': open the dashboard from the URL with ?token= that `unity-kernel '
                           'up` prints, or send Authorization: Bearer <token>')
            return error(refusal.status, reason)
        if mutating and request.header(MUTATION_HEADER) != '1':
            return error(403, f'missing {MUTATION_HEADER}: 1 header')
        return None


PAGES = ('/', '/index.html')


def json_body(request: Request) -> Any:
    """Return the request's JSON body (``{}`` when empty), or the 400 response saying why."""
    try:
        return loads_json(request.body or b'{}', max_bytes=MAX_BODY)
    except ValueError as exc:  # invalid, too large or too deep (never a RecursionError)
        return error(400, f'body is not JSON: {exc}')


class Dashboard:
    """The dashboard HTTP(S) server on its own threads."""

    def __init__(self, host: str, port: int, api: DashboardApi,
                 tls: Optional[Tuple[str, str]] = None, limits: Limits = Limits()) -> None:
        self.api = api
        self._edge = HttpServer(host, port, api.admit, limits=limits, tls=tls)
        self.tls = self._edge.tls
        self.host = host
        self.port = self._edge.port
        for page in PAGES:
            self.route('GET', page, self._page)
        self.route('GET', '/api/state', self._state)
        self.route('GET', '/api/stream', self._stream)
        self.route('GET', '/api/camera.jpg', self._camera)
        for command in MODULE_COMMANDS:
            self.route('POST', f'/api/modules/{command}', self._module_command(command))
        self.route('POST', OUTCOME_PATH, self._outcome)
        if api.webui is not None:
            self._webui_routes(api.webui)
        self._edge.start()

    def route(self, method: str, path: str, handler: Route, prefix: bool = False) -> None:
        """Serve ``method`` on ``path`` (every request passes ``DashboardApi.admit`` first)."""
        self._edge.route(method, path, handler, prefix)

    @property
    def url(self) -> str:
        """Return the page's URL."""
        host = f'[{self.host}]' if ':' in self.host else self.host
        return f'{"https" if self.tls else "http"}://{host}:{self.port}/'

    def stats(self) -> Dict[str, int]:
        """Return the HTTP edge's counters (connections, refused, bad requests)."""
        return self._edge.stats()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; open event streams end at once."""
        self.api.stopping.set()
        self._edge.stop(timeout)

    # -- routes ------------------------------------------------------------------------------

    def _page(self, request: Request) -> Response:
        given = request.query.get('token')
        if given is None:
            return Response(200, (STATIC / 'index.html').read_bytes(), 'text/html; charset=utf-8')
        if not token_ok(self.api.gate.token, given):
            return error(401, MISSING_TOKEN)
        # the token (ours, URL-safe: never the presented text) moves into a cookie
        cookie = (f'{cookie_name(request.port)}={self.api.gate.token}; Path=/; HttpOnly; '
                  'SameSite=Strict' + ('; Secure' if request.tls else ''))
        return Response(303, b'', 'text/plain', (('Location', '/'), ('Set-Cookie', cookie)))

    def _snapshot(self, request: Request) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
        try:
            return self.api.snapshot(request.query.get('pattern')), None
        except PatternError as exc:
            return None, str(exc)

    def _state(self, request: Request) -> Response:
        state, why = self._snapshot(request)
        if state is None:
            return error(400, f'pattern: {why}')
        return json_response(200, state)

    def _stream(self, request: Request) -> Response:
        state, why = self._snapshot(request)
        if state is None:
            return error(400, f'pattern: {why}')
        return Response(200, content_type='text/event-stream',
                        stream=self._events(request.query.get('pattern'), state))

    def _events(self, pattern: Optional[str], first: Dict[str, Any]) -> Iterator[bytes]:
        api = self.api
        yield b'retry: 1000\n\n'
        state = first
        while not api.stopping.is_set():
            yield f'event: state\ndata: {json.dumps(state)}\n\n'.encode()
            if api.stopping.wait(api.period_s):
                return
            state = api.snapshot(pattern)

    def _camera(self, request: Request) -> Response:
        frame = self.api.camera_jpeg()
        if frame is None:
            return error(404, 'no camera frame to show')
        return Response(200, frame.data, 'image/jpeg', (
            ('X-Frame-Seq', str(frame.seq)), ('X-Frame-Stamp-Ns', str(frame.stamp_ns))))

    def _webui_routes(self, webui: Any) -> None:
        """Serve the flow editor's and the plots' routes (``live.webui.WebUi``)."""
        def get(request: Request) -> Response:
            found = webui.get(request.path, request.query)
            if found is None:
                return error(404, f'no such page: {request.path}')
            code, content_type, data = found
            return Response(code, data, content_type)

        def post(request: Request) -> Response:
            body = json_body(request)
            if isinstance(body, Response):
                return body
            code, content_type, data = webui.post(request.path, body)
            return Response(code, data, content_type)

        for path in GET_PATHS:
            self.route('GET', path, get)
        for prefix in GET_PREFIXES:
            self.route('GET', prefix, get, prefix=True)
        for path in POST_PATHS:
            self.route('POST', path, post)

    def _module_command(self, command: str) -> Route:
        key = ModuleCommand(command).argument

        def handle(request: Request) -> Response:
            body = json_body(request)
            if isinstance(body, Response):
                return body
            arg = body.get(key) if isinstance(body, dict) else None
            if not isinstance(arg, str) or not arg:
                return error(400, f'{command} needs "{key}" (a string)')
            outcome = self.api.actions.submit(command, arg)
            if outcome is None:
                return error(503, 'no supervisor in this kernel')
            _LOG.info('dashboard: modules %s %r: %s', command, arg, outcome['message'])
            return json_response(200 if outcome['success'] else 400, outcome)
        return handle

    def _outcome(self, request: Request) -> Response:
        body = json_body(request)
        if isinstance(body, Response):
            return body
        command_id = body.get('id') if isinstance(body, dict) else None
        wait = body.get('wait_s', 0) if isinstance(body, dict) else 0
        if not isinstance(command_id, str) or not command_id:
            return error(400, 'outcome needs "id" (a string: the id a command answered with)')
        if isinstance(wait, bool) or not isinstance(wait, (int, float)):
            return error(400, f'"wait_s" must be a number of seconds (at most {MAX_WAIT_S:g})')
        outcome = self.api.actions.outcome(command_id, float(wait))
        if outcome is None:
            return error(404, self.api.actions.unknown(command_id))
        return json_response(200, outcome)
