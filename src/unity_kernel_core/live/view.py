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
The live view component: wires the Foxglove server and the dashboard to the kernel.

One bus subscription (``/**``) feeds everything: each event is summarized into the recent
events ring, camera frames and LLM bridge traffic are kept (latest only), and the CDR goes to
the Foxglove channel of its topic when a client subscribed. Handlers run on the bus's tier
workers, so CRITICAL events are forwarded by the CRITICAL workers, never behind images;
forwarding only appends to each subscribed client's outbox (a queue per tier, the most urgent
sent first), so a slow client never blocks a worker. A thread of its own advertises newly
mapped topics and refreshes the state snapshot every ``live.state_period_s``.
"""

import collections
import logging
import os
import pathlib
import ssl
import struct
import threading
import time
from typing import Any, Deque, Dict, List, Mapping, Optional, Tuple

from unity_kernel_core.bus.events import Event
from unity_kernel_core.common.credentials import check_tls_files, read_secret, redact_urls
from unity_kernel_core.common.files import write_private
from unity_kernel_core.component import KernelContext
from unity_kernel_core.config.kernel_config import is_loopback, KernelConfig, LiveSettings
from unity_kernel_core.errors import SecretError, UnityKernelError
from unity_kernel_core.live.actions import ModuleActions
from unity_kernel_core.live.camera import Camera
from unity_kernel_core.live.delivery import EventRing
from unity_kernel_core.live.gate import Gate, generate_token
from unity_kernel_core.live.state import find_peer, MirrorView, ModuleOperations
from unity_kernel_core.live.state import Snapshot
from unity_kernel_core.live.webui import create_webui
from unity_kernel_core.ros import callbacks

_LOG = logging.getLogger('unity_kernel.live')

DIAGNOSTICS = '/diagnostics'
LIVE_URL_FILE = 'live-url'
"""In the state dir: the live view's URLs with a generated token (0600, while it runs)."""
DIAGNOSTICS_TYPE = 'diagnostic_msgs/msg/DiagnosticArray'
PREVIEW_MAX = 240


def tls_files(settings: LiveSettings) -> Optional[Tuple[str, str]]:
    """
    Return the paths of ``live.tls_cert_file`` and ``tls_key_file``, or None without TLS.

    Each must be a readable regular file of at most 1 MiB (a FIFO handed to ``ssl`` would
    block the kernel) holding no encrypted key (``ssl`` would wait for its passphrase on the
    terminal): SecretError saying which one and why otherwise
    (:func:`~unity_kernel_core.common.credentials.check_tls_files`).
    """
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    files = check_tls_files({'live.tls_cert_file': settings.tls_cert_file,
                             'live.tls_key_file': settings.tls_key_file})
    return files['live.tls_cert_file'], files['live.tls_key_file']


def read_token(settings: LiveSettings, environ: Mapping[str, str]) -> Optional[str]:
    """Return the configured token (env ``live.token_env``, else ``live.token_file``)."""
    return read_secret(settings.token_env, settings.token_file, env_key='live.token_env',
                       file_key='live.token_file', environ=environ)


def bind_refusal(host: str, token: Optional[str], token_env: str) -> Optional[str]:
    """Return why a live view server may not bind ``host`` (None: it may)."""
    if is_loopback(host) or token:
        return None
    return (f'{host} is not loopback and no token is configured (set ${token_env} or '
            'live.token_file)')


def string_preview(cdr: Optional[bytes]) -> Optional[str]:
    """Return the text of a CDR ``std_msgs/msg/String`` (cut to a preview), or None."""
    if cdr is None or len(cdr) < 9:
        return None
    (length,) = struct.unpack_from('<I' if cdr[1] == 1 else '>I', cdr, 4)
    text = cdr[8:8 + max(0, length - 1)].decode('utf-8', 'replace')
    return text if len(text) <= PREVIEW_MAX else text[:PREVIEW_MAX] + '...'


class LiveView:
    """The kernel component serving the Foxglove protocol and the dashboard."""

    name = 'live'

    def __init__(self, context: KernelContext, token: Optional[str]) -> None:
        self.context = context
        self.settings = context.config.live
        self._config = context.config
        self._bus = context.bus
        self._configured_token = token
        self._token = token or generate_token()  # mutating calls need one, even on loopback
        self.events = EventRing(self.settings.recent_events)
        self.camera = Camera(self.settings.camera_topic)
        self._llm: Deque[Dict[str, Any]] = collections.deque(maxlen=20)
        self._llm_health: Dict[str, Dict[str, Any]] = {}
        self._snapshot = Snapshot()
        self._state: Dict[str, Any] = {}
        self._state_lock = threading.Lock()
        self.errors: List[str] = []
        self.foxglove: Optional[Any] = None
        self.dashboard: Optional[Any] = None
        self._stop = threading.Event()
        self.actions = ModuleActions(self._modules)
        """The dashboard's module commands (its page's and the flow editor's), by id."""
        self.webui = create_webui(context, lambda: self._config, self._modules, self.actions)
        self._start_foxglove()
        self._start_dashboard()
        self._subscription = self._bus.subscribe('/**', self._on_event, name='live_view')
        self._diag_sub = self._subscribe_diagnostics()
        self._url_file = self._write_url_file()
        self._refresh()
        self._thread = threading.Thread(target=self._run, name='live-view', daemon=True)
        self._thread.start()

    # -- servers ---------------------------------------------------------------------------

    def _tls_paths(self) -> Optional[Tuple[str, str]]:
        return tls_files(self.settings)

    def _gate(self, host: str) -> Gate:
        s = self.settings
        return Gate(self._token, bound_host=host, allowed_hosts=s.allowed_hosts,
                    allowed_origins=s.allowed_origins)

    def _start_foxglove(self) -> None:
        s = self.settings
        if not s.foxglove:
            return
        why = bind_refusal(s.foxglove_host, self._configured_token, s.token_env)
        if why is not None:
            self._fail(f'Foxglove server not started: {why}')
            return
        from unity_kernel_core.live.foxglove_server import FoxgloveServer
        try:
            self.foxglove = FoxgloveServer(
                s, node=self.context.node, modules=self._modules, graph=self._graph,
                gate=self._gate(s.foxglove_host), tls=self._tls_paths())
        except (OSError, ssl.SSLError, ValueError, SecretError) as exc:  # bind, certificate
            self._fail(f'Foxglove server not started on {s.foxglove_host}:'
                       f'{s.foxglove_port}: {exc}')

    def _start_dashboard(self) -> None:
        s = self.settings
        if not s.dashboard:
            return
        why = bind_refusal(s.dashboard_host, self._configured_token, s.token_env)
        if why is not None:
            self._fail(f'dashboard not started: {why}')
            return
        from unity_kernel_core.live.dashboard import Dashboard, DashboardApi
        api = DashboardApi(snapshot=self.snapshot, camera_jpeg=self.camera.jpeg,
                           modules=self._modules, gate=self._gate(s.dashboard_host),
                           period_s=s.state_period_s, webui=self.webui, actions=self.actions)
        try:
            self.dashboard = Dashboard(s.dashboard_host, s.dashboard_port, api,
                                       tls=self._tls_paths())
        except (OSError, ValueError, SecretError) as exc:  # a bind or certificate error
            self._fail(f'dashboard not started on {s.dashboard_host}:{s.dashboard_port}: '
                       f'{exc}')

    def _fail(self, message: str) -> None:
        self.errors.append(message)
        _LOG.error('%s', message)

    @property
    def status(self) -> str:
        """
        Return the URLs for the ``unity-kernel up`` status line.

        With a token generated at this start, the URLs carry it (``?token=``), as Jupyter's
        do: opening them is how the browser and Foxglove get it. A configured token is never
        shown.
        """
        return self._summary(self._configured_token is None)

    def _write_url_file(self) -> Optional[pathlib.Path]:
        """
        Write the URLs with this start's token to ``<state_dir>/live-url`` (0600).

        Where nothing prints ``up``'s status line (``ros2 launch``), that private file is how
        its user gets the generated token, as Jupyter's runtime files do; it goes with the
        live view. Nothing is written when the token is configured (the user has it).
        """
        if self._configured_token is not None or (self.foxglove is None and
                                                  self.dashboard is None):
            return None
        path = pathlib.Path(self._config.kernel.state_dir).expanduser() / LIVE_URL_FILE
        try:
            write_private(path, (self._summary(True) + '\n').encode())
        except (OSError, UnityKernelError) as exc:
            _LOG.warning('live view: could not write %s (%s): the token of this start is '
                         'shown only by `unity-kernel up`', path, exc)
            return None
        _LOG.info("live view: the URLs with this start's token are in %s", path)
        return path

    def _summary(self, with_token: bool) -> str:
        query = f'?token={self._token}' if with_token else ''
        parts = []
        if self.foxglove is not None:
            parts.append(f'Foxglove {self.foxglove.url}{"/" + query if query else ""}')
        if self.dashboard is not None:
            parts.append(f'dashboard {self.dashboard.url}{query}')
        if self.errors:
            parts.append(f'{len(self.errors)} error(s), see the log')
        return 'live view: ' + (', '.join(parts) or 'off')

    # -- data path -------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        try:
            self.camera.offer(event)
            preview = None
            if event.type_name == 'std_msgs/msg/String':
                cdr = event.cdr
                if cdr is not None and len(cdr) <= 8192:
                    preview = string_preview(cdr)
            item = {'seq': event.seq, 'topic': event.topic, 'type': event.type_name,
                    'tier': event.tier.name, 'stamp_ns': event.stamp_ns, 'preview': preview}
            self.events.add(item)
            self.webui.on_event(event)
            if event.topic.startswith('/llm/'):
                self._llm.append(item)
            if self.foxglove is not None:
                self.foxglove.forward(event)
        except Exception:  # never let the live view fail a bus delivery; say why
            _LOG.exception('live view: could not handle %r', event)

    def _subscribe_diagnostics(self) -> Any:
        # /diagnostics is never mapped into the bus (it is the kernel's own output), but
        # Foxglove shows it: raw, so the CDR is forwarded as received
        from diagnostic_msgs.msg import DiagnosticArray
        return callbacks.subscribe(self.context.node, DiagnosticArray, DIAGNOSTICS,
                                   self._on_diagnostics, 10, raw=True)

    def _on_diagnostics(self, cdr: bytes) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.serialization import deserialize_message
        if self.foxglove is not None:
            self.foxglove.forward_raw(DIAGNOSTICS, cdr, time.time_ns())
        array = deserialize_message(cdr, DiagnosticArray)
        for status in array.status:
            if 'llm' in status.name.lower() or 'llm' in status.hardware_id.lower():
                self._llm_health[status.name] = {
                    'name': status.name, 'level': int.from_bytes(status.level, 'little')
                    if isinstance(status.level, bytes) else int(status.level),
                    'message': status.message,
                    'values': {kv.key: kv.value for kv in status.values}}

    # -- state -----------------------------------------------------------------------------

    def _modules(self) -> Optional[ModuleOperations]:
        return find_peer(self.context.components, 'supervisor', 'list_modules', 'submit',
                         'outcome')

    def _mirror(self) -> Optional[MirrorView]:
        return find_peer(self.context.components, 'mirror', 'snapshot')

    def _graph(self) -> Dict[str, Tuple[List[str], List[str]]]:
        node = self.context.node
        out = {}
        for topic in self.context.mapped_topics():
            pubs = [_node_id(i) for i in node.get_publishers_info_by_topic(topic)]
            subs = [_node_id(i) for i in node.get_subscriptions_info_by_topic(topic)]
            out[topic] = (sorted(set(pubs)), sorted(set(subs)))
        return out

    def snapshot(self, pattern: Optional[str] = None, limit: int = 50) -> Dict[str, Any]:
        """Return the latest state with the recent events matching ``pattern``."""
        with self._state_lock:
            state = dict(self._state)
        if 'kernel' in state:  # the lifecycle state as it is now, not as of the last refresh
            state['kernel'] = {**state['kernel'],
                               'state': getattr(self.context.node, 'state_label', '')}
        state['events'] = self.events.matching(pattern, limit)
        state['pattern'] = pattern or ''
        return state

    def _refresh(self) -> None:
        node = self.context.node
        mapped = self.context.mapped_topics()
        config = self._config
        kernel = {'name': node.get_name(), 'state': getattr(node, 'state_label', ''),
                  'config_path': str(self.context.config_path or 'built-in defaults'),
                  'config': redact_urls(config.model_dump(mode='json')), 'mapped': len(mapped)}
        live = {'foxglove': self.foxglove.url if self.foxglove is not None else None,
                'dashboard': self.dashboard.url if self.dashboard is not None else None,
                'forwarded': self.foxglove.forwarded if self.foxglove is not None else 0,
                'throttled': self.foxglove.throttle.throttled
                if self.foxglove is not None else 0,
                'clients': self.foxglove.clients() if self.foxglove is not None else [],
                'disconnected': self.foxglove.disconnected if self.foxglove is not None else 0,
                'errors': list(self.errors)}
        llm = {'recent': list(self._llm), 'health': list(self._llm_health.values())}
        state = self._snapshot.build(
            kernel=kernel, stats=self._bus.stats(), mirror=self._mirror(),
            modules=self._modules(), mapped=mapped, llm=llm, camera=self.camera.info(),
            live=live)
        fleet = find_peer(self.context.components, 'fleet', 'fleet_view')
        state['fleet'] = fleet.fleet_view() if fleet is not None else []
        with self._state_lock:
            self._state = state
        self.webui.sample(state)
        if self.foxglove is not None:
            self.foxglove.sync_channels({**mapped, DIAGNOSTICS: DIAGNOSTICS_TYPE})
            for part in ('modules', 'tiers', 'mirror', 'llm'):
                self.foxglove.publish_state(part, {part: state[part]})
            self.foxglove.publish_state('kernel', {k: v for k, v in kernel.items()
                                                   if k != 'config'})
            self.foxglove.publish_graph()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.state_period_s):
            try:
                self._refresh()
            except Exception:  # keep serving; the next pass may succeed
                _LOG.exception('live view: refresh failed')

    # -- component protocol ----------------------------------------------------------------

    def activate(self) -> None:
        """Nothing to do: the live view serves from configure to cleanup."""

    def deactivate(self) -> None:
        """Nothing to do: an inactive kernel is still worth watching."""

    def cleanup(self) -> None:
        """Stop the servers and detach from the bus."""
        self._stop.set()
        self._thread.join(5.0)
        self._bus.unsubscribe(self._subscription)
        self.context.node.destroy_subscription(self._diag_sub)
        if self.dashboard is not None:
            self.dashboard.stop()
        if self.foxglove is not None:
            self.foxglove.stop()
        if self._url_file is not None:
            self._url_file.unlink(missing_ok=True)

    def reconfigure(self, config: KernelConfig) -> None:
        """Keep the new config for the snapshot; live settings apply at the next configure."""
        if config.live != self._config.live:
            _LOG.warning('live settings changed: they take effect at the next configure')
        self._config = config

    def diagnostics(self) -> List[Any]:
        """Return the live view's status: URLs, forwarded and throttled counts, errors."""
        from unity_kernel_core.ros.diagnostics import ERROR, OK, status
        node_name = self.context.node.get_name()
        values: Dict[str, object] = {
            'foxglove': self.foxglove.url if self.foxglove is not None else 'off',
            'dashboard': self.dashboard.url if self.dashboard is not None else 'off',
            'forwarded': self.foxglove.forwarded if self.foxglove is not None else 0,
            'throttled': self.foxglove.throttle.throttled if self.foxglove is not None else 0,
            'clients': len(self.foxglove.clients()) if self.foxglove is not None else 0,
            'client_drops': self.foxglove.client_drops if self.foxglove is not None else 0,
            'clients_disconnected': self.foxglove.disconnected
            if self.foxglove is not None else 0,
            'refused_publish': self.foxglove.refused_publish
            if self.foxglove is not None else 0}
        level = ERROR if self.errors else OK
        message = '; '.join(self.errors) if self.errors else self._summary(False)
        return [status(f'{node_name}: live view', level, message, values,
                       hardware_id=node_name)]


def _node_id(info: Any) -> str:
    ns = info.node_namespace.rstrip('/')
    return f'{ns}/{info.node_name}'


def create(context: KernelContext) -> Optional[LiveView]:
    """Build the live view, or return None when ``live.enabled`` is false."""
    settings = context.config.live
    if not settings.enabled or not (settings.foxglove or settings.dashboard):
        _LOG.info('live view off (live.enabled: false)')
        return None
    return LiveView(context, read_token(settings, os.environ))
