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
The Foxglove WebSocket protocol (``foxglove.websocket.v1``): encoding and decoding, no I/O.

Server messages are built as JSON text (``serverInfo``, ``status``, ``advertise``, ...) or as
binary frames (``messageData``, ``serviceCallResponse``); client messages are parsed from
text (``subscribe``, ``advertise``, ``getParameters``, ...) or binary frames
(``clientMessageData``, ``serviceCallRequest``). Malformed client input raises
``ProtocolError`` with a one-line reason, never anything else. Spec:
https://github.com/foxglove/ws-protocol/blob/main/docs/spec.md
"""

import base64
import dataclasses
import enum
import json
import struct
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from unity_kernel_core.errors import UnityKernelError

#: Subprotocols offered, preferred first: the spec's name (the Foxglove app,
#: ``@foxglove/ws-protocol``) and the one foxglove-sdk servers and clients use.
SUBPROTOCOLS = ('foxglove.websocket.v1', 'foxglove.sdk.v1')

MESSAGE_DATA = 0x01
SERVICE_CALL_RESPONSE = 0x03
CLIENT_MESSAGE_DATA = 0x01
SERVICE_CALL_REQUEST = 0x02

_MESSAGE_HEAD = struct.Struct('<BIQ')
_SERVICE_HEAD = struct.Struct('<BIII')
_CLIENT_HEAD = struct.Struct('<BI')


class ProtocolError(UnityKernelError):
    """A client sent something the protocol does not allow (the reason says what)."""


class StatusLevel(enum.IntEnum):
    """Levels of a ``status`` message."""

    INFO = 0
    WARNING = 1
    ERROR = 2


@dataclasses.dataclass(frozen=True)
class ChannelInfo:
    """One server channel as advertised."""

    channel_id: int
    topic: str
    encoding: str
    schema_name: str
    schema: str
    schema_encoding: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        """Return the channel's entry of an ``advertise`` message."""
        out: Dict[str, Any] = {'id': self.channel_id, 'topic': self.topic,
                               'encoding': self.encoding, 'schemaName': self.schema_name,
                               'schema': self.schema}
        if self.schema_encoding is not None:
            out['schemaEncoding'] = self.schema_encoding
        return out


@dataclasses.dataclass(frozen=True)
class ServiceInfo:
    """One service as advertised: JSON schemas for the request and the response."""

    service_id: int
    name: str
    type_name: str
    request_schema_name: str
    request_schema: str
    response_schema_name: str
    response_schema: str
    encoding: str = 'json'
    schema_encoding: str = 'jsonschema'

    def to_json(self) -> Dict[str, Any]:
        """Return the service's entry of ``advertiseServices`` (both spec generations)."""
        def part(name: str, schema: str) -> Dict[str, str]:
            return {'encoding': self.encoding, 'schemaName': name,
                    'schemaEncoding': self.schema_encoding, 'schema': schema}
        return {'id': self.service_id, 'name': self.name, 'type': self.type_name,
                'request': part(self.request_schema_name, self.request_schema),
                'response': part(self.response_schema_name, self.response_schema),
                'requestSchema': self.request_schema, 'responseSchema': self.response_schema}


@dataclasses.dataclass(frozen=True)
class ClientChannel:
    """A channel a client advertised to publish on."""

    channel_id: int
    topic: str
    encoding: str
    schema_name: str


@dataclasses.dataclass(frozen=True)
class ClientMessage:
    """A ``clientMessageData`` frame: a message on one of the client's channels."""

    channel_id: int
    data: bytes


@dataclasses.dataclass(frozen=True)
class ServiceCall:
    """A ``serviceCallRequest`` frame."""

    service_id: int
    call_id: int
    encoding: str
    payload: bytes


@dataclasses.dataclass(frozen=True)
class Graph:
    """The connection graph: topic -> publisher ids, topic -> subscriber ids, services."""

    published: Dict[str, Tuple[str, ...]]
    subscribed: Dict[str, Tuple[str, ...]]
    services: Dict[str, Tuple[str, ...]]


# -- server -> client --------------------------------------------------------------------------


def _dump(msg: Dict[str, Any]) -> str:
    return json.dumps(msg, separators=(',', ':'))


def server_info(name: str, capabilities: Sequence[str], encodings: Sequence[str],
                session_id: str) -> str:
    """Return the ``serverInfo`` message a client gets first."""
    msg: Dict[str, Any] = {'op': 'serverInfo', 'name': name, 'capabilities': list(capabilities),
                           'metadata': {}, 'sessionId': session_id}
    if encodings:
        msg['supportedEncodings'] = list(encodings)
    return _dump(msg)


def status(level: StatusLevel, message: str) -> str:
    """Return a ``status`` message."""
    return _dump({'op': 'status', 'level': int(level), 'message': message})


def advertise(channels: Iterable[ChannelInfo]) -> str:
    """Return an ``advertise`` message for ``channels``."""
    return _dump({'op': 'advertise', 'channels': [c.to_json() for c in channels]})


def unadvertise(channel_ids: Iterable[int]) -> str:
    """Return an ``unadvertise`` message."""
    return _dump({'op': 'unadvertise', 'channelIds': list(channel_ids)})


def advertise_services(services: Iterable[ServiceInfo]) -> str:
    """Return an ``advertiseServices`` message."""
    return _dump({'op': 'advertiseServices', 'services': [s.to_json() for s in services]})


def parameter_values(parameters: Sequence[Tuple[str, Any]], request_id: Optional[str]) -> str:
    """Return ``parameterValues`` for ``(name, value)`` pairs (typed as the spec asks)."""
    msg: Dict[str, Any] = {'op': 'parameterValues',
                           'parameters': [parameter_json(n, v) for n, v in parameters]}
    if request_id is not None:
        msg['id'] = request_id
    return _dump(msg)


def parameter_json(name: str, value: Any) -> Dict[str, Any]:
    """Return one parameter's entry: floats as ``float64``, bytes as base64 ``byte_array``."""
    if isinstance(value, float):
        return {'name': name, 'value': value, 'type': 'float64'}
    if isinstance(value, (bytes, bytearray)):
        return {'name': name, 'value': base64.b64encode(bytes(value)).decode(),
                'type': 'byte_array'}
    if isinstance(value, (list, tuple)):
        items = list(value)
        if items and all(isinstance(v, float) for v in items):
            return {'name': name, 'value': items, 'type': 'float64_array'}
        return {'name': name, 'value': items}
    return {'name': name, 'value': value}


def connection_graph_update(graph: Graph, previous: Optional[Graph]) -> str:
    """Return a ``connectionGraphUpdate`` from ``previous`` (None: the whole graph)."""
    def changed(now: Dict[str, Tuple[str, ...]], before: Dict[str, Tuple[str, ...]]) -> \
            List[Tuple[str, Tuple[str, ...]]]:
        return [(k, v) for k, v in sorted(now.items()) if before.get(k) != v]
    old = previous or Graph({}, {}, {})
    topics_before = set(old.published) | set(old.subscribed)
    topics_now = set(graph.published) | set(graph.subscribed)
    return _dump({
        'op': 'connectionGraphUpdate',
        'publishedTopics': [{'name': k, 'publisherIds': list(v)}
                            for k, v in changed(graph.published, old.published)],
        'subscribedTopics': [{'name': k, 'subscriberIds': list(v)}
                             for k, v in changed(graph.subscribed, old.subscribed)],
        'advertisedServices': [{'name': k, 'providerIds': list(v)}
                               for k, v in changed(graph.services, old.services)],
        'removedTopics': sorted(topics_before - topics_now),
        'removedServices': sorted(set(old.services) - set(graph.services))})


def service_call_failure(service_id: int, call_id: int, message: str) -> str:
    """Return a ``serviceCallFailure`` message."""
    return _dump({'op': 'serviceCallFailure', 'serviceId': service_id, 'callId': call_id,
                  'message': message})


def message_data(subscription_id: int, log_time_ns: int, payload: bytes) -> bytes:
    """Return a binary ``messageData`` frame (the payload is sent as it is)."""
    return _MESSAGE_HEAD.pack(MESSAGE_DATA, subscription_id, log_time_ns) + payload


def service_call_response(service_id: int, call_id: int, encoding: str,
                          payload: bytes) -> bytes:
    """Return a binary ``serviceCallResponse`` frame."""
    enc = encoding.encode()
    return _SERVICE_HEAD.pack(SERVICE_CALL_RESPONSE, service_id, call_id, len(enc)) + enc + \
        payload


# -- client -> server --------------------------------------------------------------------------


def parse_text(text: Union[str, bytes]) -> Dict[str, Any]:
    """Return a client's JSON message (an object with a string ``op``)."""
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f'message is not JSON: {exc}') from None
    if not isinstance(msg, dict) or not isinstance(msg.get('op'), str):
        raise ProtocolError('a JSON message must be an object with a string "op"')
    return msg


def parse_binary(frame: bytes) -> Union[ClientMessage, ServiceCall]:
    """Return a client's binary message (``clientMessageData`` or ``serviceCallRequest``)."""
    if not frame:
        raise ProtocolError('empty binary message')
    op = frame[0]
    try:
        if op == CLIENT_MESSAGE_DATA:
            _op, channel_id = _CLIENT_HEAD.unpack_from(frame)
            return ClientMessage(channel_id, bytes(frame[_CLIENT_HEAD.size:]))
        if op == SERVICE_CALL_REQUEST:
            _op, service_id, call_id, enc_len = _SERVICE_HEAD.unpack_from(frame)
            start = _SERVICE_HEAD.size
            if start + enc_len > len(frame):
                raise ProtocolError('serviceCallRequest: encoding longer than the message')
            encoding = bytes(frame[start:start + enc_len]).decode('utf-8', 'replace')
            return ServiceCall(service_id, call_id, encoding, bytes(frame[start + enc_len:]))
    except struct.error:
        raise ProtocolError(f'binary message 0x{op:02x} is truncated') from None
    raise ProtocolError(f'unknown binary opcode 0x{op:02x}')


def _ints(msg: Dict[str, Any], key: str) -> List[int]:
    values = msg.get(key)
    if not isinstance(values, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ProtocolError(f'{msg["op"]}: "{key}" must be a list of integers')
    return values


def subscriptions(msg: Dict[str, Any]) -> List[Tuple[int, int]]:
    """Return ``(subscription id, channel id)`` pairs of a ``subscribe`` message."""
    subs = msg.get('subscriptions')
    if not isinstance(subs, list):
        raise ProtocolError('subscribe: "subscriptions" must be a list')
    out = []
    for sub in subs:
        if not isinstance(sub, dict) or not isinstance(sub.get('id'), int) or \
                not isinstance(sub.get('channelId'), int):
            raise ProtocolError('subscribe: each subscription needs integer "id" and '
                                '"channelId"')
        out.append((sub['id'], sub['channelId']))
    return out


def subscription_ids(msg: Dict[str, Any]) -> List[int]:
    """Return the ids of an ``unsubscribe`` message."""
    return _ints(msg, 'subscriptionIds')


def channel_ids(msg: Dict[str, Any]) -> List[int]:
    """Return the ids of a client's ``unadvertise`` message."""
    return _ints(msg, 'channelIds')


def client_channels(msg: Dict[str, Any]) -> List[ClientChannel]:
    """Return the channels of a client's ``advertise`` message."""
    channels = msg.get('channels')
    if not isinstance(channels, list):
        raise ProtocolError('advertise: "channels" must be a list')
    out = []
    for ch in channels:
        if not isinstance(ch, dict) or not isinstance(ch.get('id'), int) or not all(
                isinstance(ch.get(k), str) for k in ('topic', 'encoding')):
            raise ProtocolError('advertise: each channel needs "id", "topic" and "encoding"')
        out.append(ClientChannel(ch['id'], ch['topic'], ch['encoding'],
                                 str(ch.get('schemaName', ''))))
    return out


def parameter_names(msg: Dict[str, Any]) -> List[str]:
    """Return the names of ``getParameters`` (empty: all)."""
    names = msg.get('parameterNames', [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ProtocolError(f'{msg["op"]}: "parameterNames" must be a list of strings')
    return names


def parameter_settings(msg: Dict[str, Any]) -> List[Tuple[str, Any]]:
    """Return ``(name, value)`` pairs of ``setParameters`` (typed values decoded)."""
    params = msg.get('parameters')
    if not isinstance(params, list):
        raise ProtocolError('setParameters: "parameters" must be a list')
    out = []
    for p in params:
        if not isinstance(p, dict) or not isinstance(p.get('name'), str):
            raise ProtocolError('setParameters: each parameter needs a string "name"')
        value: Any = p.get('value')
        kind = p.get('type')
        try:
            if kind == 'float64':
                value = float(value)
            elif kind == 'float64_array':
                value = [float(v) for v in value]
            elif kind == 'byte_array':
                value = base64.b64decode(value, validate=True)
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f'setParameters: {p["name"]}: not a {kind}: {exc}') from None
        out.append((p['name'], value))
    return out


def request_id(msg: Dict[str, Any]) -> Optional[str]:
    """Return a request's ``id`` when it is a string."""
    value = msg.get('id')
    return value if isinstance(value, str) else None
