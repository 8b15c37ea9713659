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
The kernel's Foxglove server: mapped topics as ``cdr`` channels with ``ros2msg`` schemas.

Decides what goes out on the protocol server (``ws_server.WsServer``: sockets, per-client
priority outboxes):

- a channel per mapped topic, advertised when the intake maps it and withdrawn when it goes;
  ``forward`` hands the CDR bytes the bus already holds (never re-serialized) to the clients
  subscribed to it, queued in the event's own tier; with no subscriber it returns at once;
- per-topic throttles (``live.throttle``); CRITICAL events are never throttled;
- JSON channels with the kernel's state, module services, kernel parameters, the
  connection graph, and (off by default) client publishing through an allow-list;
- the gate (token, ``Host``, ``Origin``) on the WebSocket handshake and for every mutating
  request; ROS's own parameters (``use_sim_time``, ``qos_overrides.*``...) read-only.
"""

import json
import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from unity_kernel_core.bus.events import Event, Tier
from unity_kernel_core.config.documents import loads_json
from unity_kernel_core.config.kernel_config import LiveSettings
from unity_kernel_core.errors import MessageTypeError
from unity_kernel_core.live.actions import ModuleActions
from unity_kernel_core.live.delivery import PublishPolicy, ros_owned_parameter, Throttle
from unity_kernel_core.live.dispatch import Handlers, Service
from unity_kernel_core.live.gate import Gate
from unity_kernel_core.live.protocol import ClientChannel, Graph
from unity_kernel_core.live.state import MODULE_COMMANDS, ModuleOperations
from unity_kernel_core.live.ws_server import ServerOptions, WsServer
from unity_kernel_core.module_commands import (LIST_SERVICE, ModuleCommand, OUTCOME_SERVICE,
                                               OutcomeStatus)
from unity_kernel_core.ros import msgdef

_LOG = logging.getLogger('unity_kernel.live.foxglove')

#: Topics of the JSON state channels.
STATE_TOPICS = ('modules', 'tiers', 'mirror', 'llm', 'kernel')
STATE_PREFIX = '/unity_kernel/live/'
SERVICE_PREFIX = '/unity_kernel/modules/'
SERVICE_TYPE = 'unity_kernel/ModuleCommand'
#: Types of which a viewer needs only the latest message: a client that has not taken a frame
#: yet gets the next one in its place (its outbox), never a queue of stale frames.
LATEST_ONLY_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')

_REQUEST_SCHEMA = {
    'type': 'object',
    'properties': {'name': {'type': 'string', 'description': 'module name (all but load)'},
                   'path': {'type': 'string', 'description': 'absolute module path (load)'},
                   'id': {'type': 'string',
                          'description': 'the id a command answered with (outcome)'}}}
_RESPONSE_SCHEMA = {
    'type': 'object',
    'properties': {'success': {'type': 'boolean'}, 'message': {'type': 'string'},
                   'id': {'type': 'string'}, 'command': {'type': 'string'},
                   'target': {'type': 'string'},
                   'status': {'type': 'string',
                              'enum': [s.value for s in OutcomeStatus]},
                   'modules': {'type': 'array'}}}
#: The module services: the list (read-only), the commands, a command's outcome by id.
_SERVICES = (LIST_SERVICE,) + MODULE_COMMANDS + (OUTCOME_SERVICE,)


class FoxgloveServer(Handlers):
    """The kernel's channels, services, parameters and client publishing on a ``WsServer``."""

    parameters = True
    connection_graph = True

    def __init__(self, settings: LiveSettings, *, node: Any,
                 modules: Callable[[], Optional[ModuleOperations]],
                 graph: Callable[[], Dict[str, Tuple[List[str], List[str]]]],
                 gate: Gate, tls: Optional[Tuple[str, str]] = None,
                 definition: Callable[[str], str] = msgdef.full_definition) -> None:
        self.settings = settings
        self._node = node
        self._modules = modules
        self._actions = ModuleActions(modules)
        """The commands this server's clients gave, whose outcomes they may read."""
        self._graph = graph
        self._definition = definition
        self.throttle = Throttle([(r.pattern, r.max_hz) for r in settings.throttle])
        self.publish_policy = PublishPolicy(settings.client_publish, settings.publish_allow,
                                            settings.publish_allow_safety)
        self._channels: Dict[str, int] = {}
        self._types: Dict[str, str] = {}
        self._schemas: Dict[str, Optional[str]] = {}
        self._lock = threading.Lock()
        self._client_publishers: Dict[Tuple[int, int], Any] = {}
        self.forwarded = 0
        self.refused_publish = 0
        options = ServerOptions(
            host=settings.foxglove_host, port=settings.foxglove_port,
            depth=settings.client_backlog, critical_limit=settings.client_critical_limit,
            send_buffer_bytes=settings.client_send_buffer, gate=gate, tls=tls,
            client_publish=settings.client_publish)
        self._server = WsServer(options, self, self._services())
        self._state_channels = {
            name: self._server.add_channel(STATE_PREFIX + name, 'json', '', '')
            for name in STATE_TOPICS}
        self._server.start()

    @property
    def port(self) -> int:
        """Return the port the server listens on."""
        return self._server.port

    @property
    def url(self) -> str:
        """Return the ``ws://`` (or ``wss://``) URL of the server."""
        scheme = 'wss' if self.settings.tls_cert_file else 'ws'
        host = self.settings.foxglove_host
        host = f'[{host}]' if ':' in host else host
        return f'{scheme}://{host}:{self.port}'

    def stop(self) -> None:
        """Stop serving; drop the client publishers."""
        self._server.stop()
        with self._lock:
            self._channels.clear()
            for publisher in self._client_publishers.values():
                self._node.destroy_publisher(publisher)
            self._client_publishers.clear()

    def clients(self) -> List[Dict[str, Any]]:
        """Return each connected client's subscriptions, pending and dropped messages."""
        return self._server.clients()

    @property
    def client_drops(self) -> int:
        """Return the messages dropped for the clients connected now (all tiers)."""
        return sum(int(c['dropped_total']) for c in self._server.clients())

    @property
    def disconnected(self) -> int:
        """Return how many clients were disconnected for not taking their CRITICAL traffic."""
        return self._server.disconnected

    # -- channels --------------------------------------------------------------------------

    def sync_channels(self, mapped: Dict[str, str]) -> None:
        """Advertise the topics newly mapped (topic -> type) and withdraw those gone."""
        with self._lock:
            for topic in [t for t in self._channels if mapped.get(t) != self._types.get(t)]:
                self._server.remove_channel(self._channels.pop(topic))
                self._types.pop(topic, None)
            for topic, type_name in mapped.items():
                if topic in self._channels:
                    continue
                schema = self._schema(type_name)
                if schema is None:
                    continue
                self._channels[topic] = self._server.add_channel(
                    topic, 'cdr', type_name, schema, 'ros2msg',
                    latest_only=type_name in LATEST_ONLY_TYPES)
                self._types[topic] = type_name

    def _schema(self, type_name: str) -> Optional[str]:
        if type_name not in self._schemas:
            try:
                self._schemas[type_name] = self._definition(type_name)
            except MessageTypeError as exc:
                _LOG.warning('not advertising topics of type %s: %s', type_name, exc)
                self._schemas[type_name] = None
        return self._schemas[type_name]

    def advertised(self) -> Set[str]:
        """Return the topics advertised now."""
        with self._lock:
            return set(self._channels)

    def forward(self, event: Event) -> None:
        """Queue one bus event's CDR for the clients subscribed to its topic (in its tier)."""
        channel = self._channels.get(event.topic)
        if channel is None or not self._server.has_subscribers(channel):
            return
        if not self.throttle.allow(event.topic, event.tier, time.monotonic()):
            return
        cdr = event.cdr
        if cdr is None:
            return
        self._server.send(channel, cdr, event.stamp_ns, event.tier)
        self.forwarded += 1

    def forward_raw(self, topic: str, cdr: bytes, stamp_ns: int) -> None:
        """Queue CDR received outside the bus (``/diagnostics``, NORMAL tier)."""
        channel = self._channels.get(topic)
        if channel is not None and self._server.has_subscribers(channel):
            self._server.send(channel, cdr, stamp_ns, Tier.NORMAL)
            self.forwarded += 1

    def publish_state(self, part: str, value: Any) -> None:
        """Send one JSON state message on ``/unity_kernel/live/<part>`` (when subscribed)."""
        channel = self._state_channels[part]
        if self._server.has_subscribers(channel):
            self._server.send(channel, json.dumps(value).encode(), time.time_ns(), Tier.NORMAL)

    def publish_graph(self) -> None:
        """Send the connection graph of the mapped topics to clients that asked for it."""
        if not self._server.graph_wanted:
            return
        published: Dict[str, Tuple[str, ...]] = {}
        subscribed: Dict[str, Tuple[str, ...]] = {}
        for topic, (publishers, subscribers) in self._graph().items():
            published[topic] = tuple(publishers)
            subscribed[topic] = tuple(subscribers)
        services: Dict[str, Tuple[str, ...]] = {
            SERVICE_PREFIX + c: ('unity_kernel',) for c in _SERVICES}
        self._server.publish_graph(Graph(published, subscribed, services))

    # -- services --------------------------------------------------------------------------

    def _services(self) -> List[Service]:
        return [Service(SERVICE_PREFIX + command, SERVICE_TYPE, json.dumps(_REQUEST_SCHEMA),
                        json.dumps(_RESPONSE_SCHEMA), self._service_handler(command),
                        mutating=command != LIST_SERVICE)
                for command in _SERVICES]

    def _service_handler(self, command: str) -> Callable[[bytes], bytes]:
        def handle(payload: bytes) -> bytes:
            return json.dumps(self.call_service(command, payload)).encode()
        return handle

    def call_service(self, command: str, payload: bytes) -> Dict[str, Any]:
        """
        Answer one module service call (JSON in, JSON out).

        A command is answered with its outcome and id, as the dashboard answers;
        ``outcome`` with ``{"id": ...}`` answers with the outcome as it stands now, for the
        commands of this server's clients only.
        """
        modules = self._modules()
        if modules is None:
            return {'success': False, 'message': 'no supervisor in this kernel'}
        if command == LIST_SERVICE:
            return {'success': True, 'message': '', 'modules': modules.list_modules()}
        try:
            body = loads_json(payload or b'{}', max_bytes=64 * 1024)
        except ValueError as exc:  # invalid, too large or too deep (never a RecursionError)
            return {'success': False, 'message': f'request is not JSON: {exc}'}
        if not isinstance(body, dict):
            return {'success': False, 'message': 'request must be a JSON object'}
        key = 'id' if command == OUTCOME_SERVICE else ModuleCommand(command).argument
        arg = body.get(key)
        if not isinstance(arg, str) or not arg:
            return {'success': False, 'message': f'{command} needs "{key}" (a string)'}
        if command == OUTCOME_SERVICE:
            outcome = self._actions.outcome(arg)  # at once: one thread answers every client
            return outcome if outcome is not None else {
                'success': False, 'message': self._actions.unknown(arg)}
        outcome = self._actions.submit(command, arg)
        if outcome is None:
            return {'success': False, 'message': 'no supervisor in this kernel'}
        _LOG.info('foxglove client: modules %s %s: %s', command, arg, outcome['message'])
        return outcome

    # -- parameters ------------------------------------------------------------------------

    def get_parameters(self, names: List[str]) -> List[Tuple[str, Any]]:
        """Return the kernel node's parameters (all of them when ``names`` is empty)."""
        node = self._node
        wanted = names or list(node.list_parameters([], 0).names)
        out = []
        for name in wanted:
            if node.has_parameter(name):
                value = node.get_parameter(name).value
                out.append((name, list(value) if isinstance(value, tuple) else value))
        return out

    def set_parameters(self, values: List[Tuple[str, Any]]) -> Tuple[List[Tuple[str, Any]],
                                                                     List[str]]:
        """Set kernel parameters as ``ros2 param set`` would (validated); return the values."""
        from rclpy.exceptions import ParameterException
        from rclpy.parameter import Parameter as RosParameter
        node = self._node
        warnings = []
        for name, value in values:
            if not node.has_parameter(name):
                warnings.append(f'no parameter {name!r} on the kernel')
                continue
            if ros_owned_parameter(name):
                warnings.append(f'parameter {name} not set: it belongs to ROS itself and is '
                                'read-only from the live view (use ros2 param set)')
                continue
            try:
                result = node.set_parameters([RosParameter(name, value=value)])[0]
            except (ParameterException, TypeError, ValueError) as exc:
                reason = str(exc)
            else:
                reason = '' if result.successful else result.reason
            if reason:
                warnings.append(f'parameter {name} not set: {reason}')
        return self.get_parameters([name for name, _ in values]), warnings

    # -- client publishing -----------------------------------------------------------------

    def client_advertise(self, client_id: int, channel: ClientChannel) -> Optional[str]:
        """Create a ROS publisher for a client channel when the policy allows it."""
        why = self.publish_policy.check(channel.topic)
        if why is None and channel.encoding != 'cdr':
            why = f'encoding {channel.encoding!r}: only cdr is accepted'
        if why is None:
            try:
                from unity_kernel_core.ros.message_types import import_message_type
                msg_type = import_message_type(channel.schema_name)
            except MessageTypeError as exc:
                why = str(exc)
        if why is not None:
            self.refused_publish += 1
            _LOG.warning('foxglove client %d may not publish on %s: %s', client_id,
                         channel.topic, why)
            return why
        from rclpy.exceptions import InvalidTopicNameException
        try:
            publisher = self._node.create_publisher(msg_type, channel.topic, 10)
        except InvalidTopicNameException as exc:
            self.refused_publish += 1
            return f'not a valid topic name: {exc}'.splitlines()[0]
        with self._lock:
            self._client_publishers[(client_id, channel.channel_id)] = publisher
        return None

    def client_unadvertise(self, client_id: int, channel_id: int) -> None:
        """Drop the ROS publisher of a client channel."""
        with self._lock:
            publisher = self._client_publishers.pop((client_id, channel_id), None)
        if publisher is not None:
            self._node.destroy_publisher(publisher)

    def client_message(self, client_id: int, channel_id: int, data: bytes) -> bool:
        """Publish a client's CDR message on ROS (only on an accepted channel)."""
        publisher = self._client_publishers.get((client_id, channel_id))
        if publisher is None:
            self.refused_publish += 1
            return False
        publisher.publish(data)
        return True
