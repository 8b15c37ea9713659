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
text (``decode_text``: ``subscribe``, ``advertise``, ``getParameters``, ... as typed requests,
every field checked: ids are uint32, names bounded strings, parameter values what a ROS
parameter can hold, lists and messages bounded) or binary frames (``parse_binary``:
``clientMessageData``, ``serviceCallRequest``). Malformed client input raises
``ProtocolError`` with a one-line reason, never anything else. Spec:
https://github.com/foxglove/ws-protocol/blob/main/docs/spec.md
"""

import base64
import binascii
import dataclasses
import enum
import json
import struct
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

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

#: Bounds on what a client may send (beyond them: ``ProtocolError``).
MAX_TEXT_BYTES = 1 << 20        # one JSON message
MAX_ITEMS = 4096                # entries of one list (subscriptions, ids, names, values)
MAX_NAME = 1024                 # a topic, parameter name, encoding or request id
MAX_STRING_VALUE = 65536        # a string parameter value
UINT32_MAX = 2 ** 32 - 1
INT64 = (-2 ** 63, 2 ** 63 - 1)
#: Ops a client may send that carry no fields.
BARE_OPS = ('subscribeConnectionGraph', 'unsubscribeConnectionGraph')
#: Ops this server answers with a status saying it does not offer them.
UNOFFERED_OPS = ('subscribeParameterUpdates', 'unsubscribeParameterUpdates')


@dataclasses.dataclass(frozen=True)
class Subscribe:
    """``subscribe``: ``(subscription id, channel id)`` pairs."""

    pairs: Tuple[Tuple[int, int], ...]


@dataclasses.dataclass(frozen=True)
class Unsubscribe:
    """``unsubscribe``: subscription ids."""

    subscription_ids: Tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Advertise:
    """A client's ``advertise``: the channels it means to publish on."""

    channels: Tuple[ClientChannel, ...]


@dataclasses.dataclass(frozen=True)
class Unadvertise:
    """A client's ``unadvertise``: channel ids."""

    channel_ids: Tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class GetParameters:
    """``getParameters``: names (empty: all) and the request id to answer with."""

    names: Tuple[str, ...]
    request_id: Optional[str]


@dataclasses.dataclass(frozen=True)
class SetParameters:
    """``setParameters``: ``(name, value)`` pairs (typed values decoded) and the request id."""

    settings: Tuple[Tuple[str, Any], ...]
    request_id: Optional[str]


@dataclasses.dataclass(frozen=True)
class Bare:
    """An op without fields (``subscribeConnectionGraph``...) or one this server does not offer."""

    op: str


ClientRequest = Union[Subscribe, Unsubscribe, Advertise, Unadvertise, GetParameters,
                      SetParameters, Bare]


def clip(text: str, limit: int = 80) -> str:
    """Return client-given ``text`` fit for a message: printable, at most ``limit`` characters."""
    out = ''.join(c if c.isprintable() else '?' for c in text[:limit])
    return out + ('...' if len(text) > limit else '')


def parse_text(text: Union[str, bytes]) -> Dict[str, Any]:
    """Return a client's JSON message (an object with a string ``op``), size-bounded."""
    if len(text) > MAX_TEXT_BYTES:
        raise ProtocolError(f'JSON message of {len(text)} bytes (at most {MAX_TEXT_BYTES})')
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f'message is not JSON: {clip(str(exc))}') from None
    if not isinstance(msg, dict) or not isinstance(msg.get('op'), str):
        raise ProtocolError('a JSON message must be an object with a string "op"')
    return msg


def decode_text(text: Union[str, bytes]) -> ClientRequest:
    """Return a client's JSON message as a request, every field checked."""
    msg = parse_text(text)
    op = msg['op']
    decoder = _DECODERS.get(op)
    if decoder is not None:
        return decoder(msg)
    if op in BARE_OPS or op in UNOFFERED_OPS:
        return Bare(op)
    raise ProtocolError(f'unsupported op {clip(op)!r}')


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


def _list(msg: Dict[str, Any], key: str) -> List[Any]:
    values = msg.get(key)
    if not isinstance(values, list):
        raise ProtocolError(f'{msg["op"]}: "{key}" must be a list')
    if len(values) > MAX_ITEMS:
        raise ProtocolError(f'{msg["op"]}: "{key}" has {len(values)} entries (at most '
                            f'{MAX_ITEMS})')
    return values


def _uint32(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= UINT32_MAX:
        raise ProtocolError(f'{what} must be an integer from 0 to {UINT32_MAX}, got '
                            f'{clip(repr(value), 40)}')
    return value


def _name(value: Any, what: str, empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME or (not value and not empty):
        raise ProtocolError(f'{what} must be a string of 1 to {MAX_NAME} characters')
    return value


def _ids(msg: Dict[str, Any], key: str) -> Tuple[int, ...]:
    return tuple(_uint32(v, f'{msg["op"]}: each of "{key}"') for v in _list(msg, key))


def _request_id(msg: Dict[str, Any]) -> Optional[str]:
    value = msg.get('id')
    return None if value is None else _name(value, f'{msg["op"]}: "id"', empty=True)


def _subscribe(msg: Dict[str, Any]) -> Subscribe:
    pairs = []
    for sub in _list(msg, 'subscriptions'):
        if not isinstance(sub, dict):
            raise ProtocolError('subscribe: each subscription must be an object with integer '
                                '"id" and "channelId"')
        pairs.append((_uint32(sub.get('id'), 'subscribe: "id"'),
                      _uint32(sub.get('channelId'), 'subscribe: "channelId"')))
    return Subscribe(tuple(pairs))


def _advertise(msg: Dict[str, Any]) -> Advertise:
    channels = []
    for ch in _list(msg, 'channels'):
        if not isinstance(ch, dict):
            raise ProtocolError('advertise: each channel must be an object with "id", "topic" '
                                'and "encoding"')
        topic = _name(ch.get('topic'), 'advertise: "topic"')
        if not topic.startswith('/'):
            raise ProtocolError(f'advertise: topic {clip(topic)!r} must start with "/"')
        schema_name = ch.get('schemaName', '')
        channels.append(ClientChannel(
            _uint32(ch.get('id'), 'advertise: "id"'), topic,
            _name(ch.get('encoding'), 'advertise: "encoding"'),
            _name(schema_name, 'advertise: "schemaName"', empty=True)))
    return Advertise(tuple(channels))


def _parameter_names(msg: Dict[str, Any]) -> Tuple[str, ...]:
    if msg.get('parameterNames') is None:
        return ()
    return tuple(_name(n, f'{msg["op"]}: each of "parameterNames"')
                 for n in _list(msg, 'parameterNames'))


def _set_parameters(msg: Dict[str, Any]) -> SetParameters:
    out = []
    for p in _list(msg, 'parameters'):
        if not isinstance(p, dict):
            raise ProtocolError('setParameters: each parameter must be an object with a '
                                'string "name"')
        name = _name(p.get('name'), 'setParameters: "name"')
        out.append((name, parameter_value(name, p.get('value'), p.get('type'))))
    return SetParameters(tuple(out), _request_id(msg))


def parameter_value(name: str, value: Any, kind: Any) -> Any:
    """
    Return a ``setParameters`` value as a ROS parameter can hold it, or raise ProtocolError.

    ``kind`` (the spec's ``type``) decodes ``float64``, ``float64_array`` and base64
    ``byte_array``; otherwise a bool, an int64, a float, a string, or a list of one of them.
    """
    what = f'setParameters: {clip(name)}'
    try:
        if kind == 'float64':
            return float(value)
        if kind == 'float64_array':
            return [float(v) for v in _bounded(value, what)]
        if kind == 'byte_array':
            return base64.b64decode(value, validate=True)
    except (TypeError, ValueError, OverflowError, binascii.Error) as exc:
        raise ProtocolError(f'{what}: not a {kind}: {clip(str(exc))}') from None
    if kind is not None:
        raise ProtocolError(f'{what}: unknown type {clip(repr(kind), 40)}')
    if isinstance(value, list):
        items = [_scalar(v, what) for v in _bounded(value, what)]
        if len({type(v) for v in items}) > 1:
            raise ProtocolError(f'{what}: a list must hold values of one type')
        return items
    return _scalar(value, what)


def _bounded(value: Any, what: str) -> List[Any]:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise ProtocolError(f'{what}: expected a list of at most {MAX_ITEMS} values')
    return value


def _scalar(value: Any, what: str) -> Any:
    if isinstance(value, bool) or isinstance(value, float):
        return value
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            raise ProtocolError(f'{what}: {clip(str(value), 30)} is out of the int64 range')
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING_VALUE:
            raise ProtocolError(f'{what}: a string of at most {MAX_STRING_VALUE} characters')
        return value
    raise ProtocolError(f'{what}: a ROS parameter holds a bool, integer, float, string or a '
                        f'list of one of them, not {type(value).__name__}')


_DECODERS: Dict[str, Callable[[Dict[str, Any]], ClientRequest]] = {
    'subscribe': _subscribe,
    'unsubscribe': lambda msg: Unsubscribe(_ids(msg, 'subscriptionIds')),
    'advertise': _advertise,
    'unadvertise': lambda msg: Unadvertise(_ids(msg, 'channelIds')),
    'getParameters': lambda msg: GetParameters(_parameter_names(msg), _request_id(msg)),
    'setParameters': _set_parameters,
}
