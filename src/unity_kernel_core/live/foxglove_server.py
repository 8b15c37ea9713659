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
The Foxglove WebSocket server: mapped topics as ``cdr`` channels with ``ros2msg`` schemas.

Built on ``foxglove-sdk``: the protocol, the per-client send queues and the socket work are
its native code, off our interpreter lock. This module only decides what goes in:

- a channel per mapped topic, advertised when the intake maps it and closed when it goes;
  ``forward`` hands the CDR bytes the bus already holds to the channel (never re-serialized),
  and only when a client subscribed to it (``has_sinks``);
- per-topic throttles (``live.throttle``); CRITICAL events are never throttled;
- JSON channels with the kernel's state, module services, kernel parameters, the
  connection graph, and (off by default) client publishing through an allow-list.
"""

import json
import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import foxglove
from foxglove import Channel, Schema
from foxglove.websocket import (Capability, ChannelView, Client, ClientChannel,
                                ConnectionGraph, MessageSchema, Parameter, Service,
                                ServiceRequest, ServiceSchema)

from unity_kernel_core.bus.events import Event
from unity_kernel_core.config.documents import loads_json
from unity_kernel_core.config.kernel_config import LiveSettings
from unity_kernel_core.errors import MessageTypeError
from unity_kernel_core.live.delivery import PublishPolicy, Throttle
from unity_kernel_core.live.state import MODULE_COMMANDS, ModuleOperations
from unity_kernel_core.ros import msgdef

_LOG = logging.getLogger('unity_kernel.live.foxglove')

#: Topics of the JSON state channels.
STATE_TOPICS = ('modules', 'tiers', 'mirror', 'llm', 'kernel')
STATE_PREFIX = '/unity_kernel/live/'
SERVICE_PREFIX = '/unity_kernel/modules/'
SUBPROTOCOL = 'foxglove.sdk.v1'

_REQUEST_SCHEMA = {
    'type': 'object',
    'properties': {'name': {'type': 'string', 'description': 'module name (restart, unload)'},
                   'path': {'type': 'string', 'description': 'absolute module path (load)'}}}
_RESPONSE_SCHEMA = {
    'type': 'object',
    'properties': {'success': {'type': 'boolean'}, 'message': {'type': 'string'},
                   'modules': {'type': 'array'}}}


def _json_schema(name: str, schema: Dict[str, Any]) -> Schema:
    return Schema(name=name, encoding='jsonschema', data=json.dumps(schema).encode())


class FoxgloveServer:
    """One ``foxglove-sdk`` WebSocket server with its own SDK context."""

    def __init__(self, settings: LiveSettings, *, node: Any,
                 modules: Callable[[], Optional[ModuleOperations]],
                 graph: Callable[[], Dict[str, Tuple[List[str], List[str]]]],
                 tls: Optional[Tuple[bytes, bytes]] = None,
                 definition: Callable[[str], str] = msgdef.full_definition) -> None:
        self.settings = settings
        self._node = node
        self._modules = modules
        self._graph = graph
        self._definition = definition
        self.throttle = Throttle([(r.pattern, r.max_hz) for r in settings.throttle])
        self.publish_policy = PublishPolicy(settings.client_publish, settings.publish_allow,
                                            settings.publish_allow_safety)
        self._context = foxglove.Context()
        self._channels: Dict[str, Channel] = {}
        self._types: Dict[str, str] = {}
        self._schemas: Dict[str, Optional[Schema]] = {}
        self._lock = threading.Lock()
        self._state_channels = {
            name: Channel(STATE_PREFIX + name, message_encoding='json',
                          context=self._context) for name in STATE_TOPICS}
        self._graph_subscribed = False
        self._client_publishers: Dict[Tuple[int, int], Any] = {}
        self.forwarded = 0
        self.refused_publish = 0
        capabilities = [Capability.Services, Capability.Parameters, Capability.ConnectionGraph]
        if settings.client_publish:
            capabilities.append(Capability.ClientPublish)
        tls_cert, tls_key = tls if tls is not None else (None, None)
        self._server = foxglove.start_server(
            name='unity_kernel', host=settings.foxglove_host, port=settings.foxglove_port,
            capabilities=capabilities, server_listener=_Listener(self),
            supported_encodings=['json', 'cdr'], services=self._services(),
            context=self._context, message_backlog_size=settings.client_backlog,
            tls_cert=tls_cert, tls_key=tls_key)

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
        """Stop serving; close every channel."""
        self._server.stop()
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()
            for publisher in self._client_publishers.values():
                self._node.destroy_publisher(publisher)
            self._client_publishers.clear()

    # -- channels --------------------------------------------------------------------------

    def sync_channels(self, mapped: Dict[str, str]) -> None:
        """Advertise the topics newly mapped (topic -> type) and withdraw those gone."""
        with self._lock:
            for topic in [t for t in self._channels if mapped.get(t) != self._types.get(t)]:
                self._channels.pop(topic).close()
                self._types.pop(topic, None)
            for topic, type_name in mapped.items():
                if topic in self._channels:
                    continue
                schema = self._schema(type_name)
                if schema is None:
                    continue
                self._channels[topic] = Channel(topic, schema=schema, message_encoding='cdr',
                                                context=self._context)
                self._types[topic] = type_name

    def _schema(self, type_name: str) -> Optional[Schema]:
        if type_name not in self._schemas:
            try:
                text = self._definition(type_name)
                self._schemas[type_name] = Schema(name=type_name, encoding='ros2msg',
                                                  data=text.encode())
            except MessageTypeError as exc:
                _LOG.warning('not advertising topics of type %s: %s', type_name, exc)
                self._schemas[type_name] = None
        return self._schemas[type_name]

    def advertised(self) -> Set[str]:
        """Return the topics advertised now."""
        with self._lock:
            return set(self._channels)

    def forward(self, event: Event) -> None:
        """Hand one bus event's CDR to its channel (only when a client subscribed to it)."""
        channel = self._channels.get(event.topic)
        if channel is None or not channel.has_sinks():
            return
        if not self.throttle.allow(event.topic, event.tier, time.monotonic()):
            return
        cdr = event.cdr
        if cdr is None:
            return
        channel.log(cdr, log_time=event.stamp_ns)
        self.forwarded += 1

    def forward_raw(self, topic: str, cdr: bytes, stamp_ns: int) -> None:
        """Hand CDR received outside the bus (``/diagnostics``) to its channel."""
        channel = self._channels.get(topic)
        if channel is not None and channel.has_sinks():
            channel.log(cdr, log_time=stamp_ns)
            self.forwarded += 1

    def publish_state(self, part: str, value: Any) -> None:
        """Log one JSON state message on ``/unity_kernel/live/<part>`` (when subscribed)."""
        channel = self._state_channels[part]
        if channel.has_sinks():
            channel.log(json.dumps(value).encode())

    def publish_graph(self) -> None:
        """Send the connection graph of the mapped topics to clients that asked for it."""
        if not self._graph_subscribed:
            return
        graph = ConnectionGraph()
        for topic, (publishers, subscribers) in self._graph().items():
            graph.set_published_topic(topic, publishers)
            graph.set_subscribed_topic(topic, subscribers)
        for command in ('list',) + MODULE_COMMANDS:
            graph.set_advertised_service(SERVICE_PREFIX + command, ['unity_kernel'])
        self._server.publish_connection_graph(graph)

    # -- services --------------------------------------------------------------------------

    def _services(self) -> List[Service]:
        schema = ServiceSchema(
            'unity_kernel/ModuleCommand',
            request=MessageSchema(encoding='json', schema=_json_schema(
                'unity_kernel/ModuleCommand_Request', _REQUEST_SCHEMA)),
            response=MessageSchema(encoding='json', schema=_json_schema(
                'unity_kernel/ModuleCommand_Response', _RESPONSE_SCHEMA)))
        return [Service(SERVICE_PREFIX + command, schema=schema,
                        handler=self._service_handler(command))
                for command in ('list',) + MODULE_COMMANDS]

    def _service_handler(self, command: str) -> Callable[[ServiceRequest], bytes]:
        def handle(request: ServiceRequest) -> bytes:
            return json.dumps(self.call_service(command, request.payload)).encode()
        return handle

    def call_service(self, command: str, payload: bytes) -> Dict[str, Any]:
        """Answer one module service call (JSON in, JSON out)."""
        modules = self._modules()
        if modules is None:
            return {'success': False, 'message': 'no supervisor in this kernel'}
        if command == 'list':
            return {'success': True, 'message': '', 'modules': modules.list_modules()}
        try:
            body = loads_json(payload or b'{}', max_bytes=64 * 1024)
        except ValueError as exc:  # invalid, too large or too deep (never a RecursionError)
            return {'success': False, 'message': f'request is not JSON: {exc}'}
        if not isinstance(body, dict):
            return {'success': False, 'message': 'request must be a JSON object'}
        arg = body.get('path' if command == 'load' else 'name')
        if not isinstance(arg, str) or not arg:
            key = 'path' if command == 'load' else 'name'
            return {'success': False, 'message': f'{command} needs "{key}" (a string)'}
        ok, message = modules.request(command, arg)
        _LOG.info('foxglove client: modules %s %s: %s', command, arg, message)
        return {'success': ok, 'message': message}

    # -- parameters ------------------------------------------------------------------------

    def get_parameters(self, names: List[str]) -> List[Parameter]:
        """Return the kernel node's parameters (all of them when ``names`` is empty)."""
        node = self._node
        wanted = names or list(node.list_parameters([], 0).names)
        out = []
        for name in wanted:
            if node.has_parameter(name):
                out.append(_fox_parameter(name, node.get_parameter(name).value))
        return out

    def set_parameters(self, parameters: List[Parameter]) -> List[Parameter]:
        """Set kernel parameters as ``ros2 param set`` would (validated); return the values."""
        from rclpy.exceptions import ParameterException
        from rclpy.parameter import Parameter as RosParameter
        node = self._node
        for p in parameters:
            if not node.has_parameter(p.name):
                self._server.publish_status(f'no parameter {p.name!r} on the kernel',
                                            foxglove.websocket.StatusLevel.Warning)
                continue
            value: Any = p.get_value()
            try:
                result = node.set_parameters([RosParameter(p.name, value=value)])[0]
            except (ParameterException, TypeError, ValueError) as exc:
                reason = str(exc)
            else:
                reason = '' if result.successful else result.reason
            if reason:
                self._server.publish_status(f'parameter {p.name} not set: {reason}',
                                            foxglove.websocket.StatusLevel.Warning)
        return self.get_parameters([p.name for p in parameters])

    # -- client publishing -----------------------------------------------------------------

    def client_advertise(self, client: Client, channel: ClientChannel) -> None:
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
            _LOG.warning('foxglove client %d may not publish on %s: %s', client.id,
                         channel.topic, why)
            self._server.publish_status(f'publishing on {channel.topic} refused: {why}',
                                        foxglove.websocket.StatusLevel.Error)
            return
        with self._lock:
            self._client_publishers[(client.id, channel.id)] = self._node.create_publisher(
                msg_type, channel.topic, 10)

    def client_unadvertise(self, client: Client, channel_id: int) -> None:
        """Drop the ROS publisher of a client channel."""
        with self._lock:
            publisher = self._client_publishers.pop((client.id, channel_id), None)
        if publisher is not None:
            self._node.destroy_publisher(publisher)

    def client_message(self, client: Client, channel_id: int, data: bytes) -> None:
        """Publish a client's CDR message on ROS (only on an accepted channel)."""
        publisher = self._client_publishers.get((client.id, channel_id))
        if publisher is None:
            self.refused_publish += 1
            return
        publisher.publish(data)

    def set_graph_subscribed(self, subscribed: bool) -> None:
        """Record whether any client wants the connection graph."""
        self._graph_subscribed = subscribed


def _fox_parameter(name: str, value: Any) -> Parameter:
    if isinstance(value, float):
        return Parameter(name, value=value, type=foxglove.websocket.ParameterType.Float64)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, float) for v in value):
        return Parameter(name, value=list(value),
                         type=foxglove.websocket.ParameterType.Float64Array)
    return Parameter(name, value=list(value) if isinstance(value, tuple) else value)


class _Listener:
    """The SDK's server listener: forwards callbacks to the server object."""

    def __init__(self, server: FoxgloveServer) -> None:
        self._server = server

    def on_subscribe(self, client: Client, channel: ChannelView) -> None:
        _LOG.debug('client %d subscribed to %s', client.id, channel.topic)

    def on_unsubscribe(self, client: Client, channel: ChannelView) -> None:
        _LOG.debug('client %d unsubscribed from %s', client.id, channel.topic)

    def on_client_advertise(self, client: Client, channel: ClientChannel) -> None:
        self._server.client_advertise(client, channel)

    def on_client_unadvertise(self, client: Client, client_channel_id: int) -> None:
        self._server.client_unadvertise(client, client_channel_id)

    def on_message_data(self, client: Client, client_channel_id: int, data: bytes) -> None:
        self._server.client_message(client, client_channel_id, data)

    def on_get_parameters(self, client: Client, param_names: List[str],
                          request_id: Optional[str] = None) -> List[Parameter]:
        return self._server.get_parameters(param_names)

    def on_set_parameters(self, client: Client, parameters: List[Parameter],
                          request_id: Optional[str] = None) -> List[Parameter]:
        return self._server.set_parameters(parameters)

    def on_parameters_subscribe(self, param_names: List[str]) -> None:
        return None

    def on_parameters_unsubscribe(self, param_names: List[str]) -> None:
        return None

    def on_connection_graph_subscribe(self) -> None:
        self._server.set_graph_subscribed(True)

    def on_connection_graph_unsubscribe(self) -> None:
        self._server.set_graph_subscribed(False)

    def on_playback_control_request(self, playback_control_request: Any) -> None:
        return None
