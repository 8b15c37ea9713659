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
Fuzz: any message a Foxglove client sends is a request, or a ProtocolError with a reason.

Targets: JSON ops (drawn from the ops the spec defines with fields of any JSON value, and
any text) and binary frames (the two client opcodes with any header and payload, and any
bytes), each through the decoder and through the dispatcher a connection uses (the channel
registry, a read-only and an authorized peer, stand-in handlers). Properties: nothing but
``ProtocolError`` is raised; every frame queued for a peer is one the server can send (so
no later send fails, as a subscription id of 2**32 once did); a peer without the token never
reaches a mutating handler; every queued status is short.
"""

import asyncio
import json
import struct

from hypothesis import given, strategies as st

from unity_kernel_core.bus.events import Tier
from unity_kernel_core.live import protocol
from unity_kernel_core.live.dispatch import Dispatcher, Handlers, Service
from unity_kernel_core.live.outbox import Outbox
from unity_kernel_core.live.protocol import ProtocolError
from unity_kernel_core.live.registry import ChannelRegistry, Peer

OPS = ['subscribe', 'unsubscribe', 'advertise', 'unadvertise', 'getParameters',
       'setParameters', 'subscribeConnectionGraph', 'unsubscribeConnectionGraph',
       'subscribeParameterUpdates', 'unsubscribeParameterUpdates', 'explode']
KEYS = ['subscriptions', 'subscriptionIds', 'channels', 'channelIds', 'parameterNames',
        'parameters', 'id', 'channelId', 'topic', 'encoding', 'schemaName', 'name', 'value',
        'type']

_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
              st.floats(allow_nan=False), st.text(max_size=20),
              st.sampled_from([0, 1, 2 ** 32 - 1, 2 ** 32, -1, 'float64', 'byte_array',
                               'float64_array', 'QUI=', '/a', 'cdr'])),
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(st.sampled_from(KEYS), children, max_size=5)),
    max_leaves=30)


class _Handlers(Handlers):
    """Records mutating calls; parameters, graph and publishing on."""

    parameters = True
    connection_graph = True

    def __init__(self):
        self.mutations = []

    def get_parameters(self, names):
        return [(n, 1.0) for n in names][:3]

    def set_parameters(self, values):
        self.mutations.append(('set', values))
        return list(values), []

    def client_advertise(self, client_id, channel):
        self.mutations.append(('advertise', channel))
        return None

    def client_message(self, client_id, channel_id, data):
        return True


async def _call(fn, *args):
    return fn(*args)


LOOP = asyncio.new_event_loop()  # one for every example (a new loop each costs more)


def _world():
    registry = ChannelRegistry()
    registry.add_channel('/a', 'cdr', 'std_msgs/msg/String', 'string data', 'ros2msg')
    handlers = _Handlers()
    restarts = []

    def restart(payload):
        restarts.append(payload)
        return b'{}'
    services = [Service('/list', 't', '{}', '{}', lambda _p: b'[]', mutating=False),
                Service('/restart', 't', '{}', '{}', restart)]
    dispatcher = Dispatcher(registry, handlers, services, True, _call)
    peers = [Peer(i, 'x', Outbox(64, 100000), i == 2, lambda _r: None) for i in (1, 2)]
    for peer in peers:
        registry.join(peer, protocol.server_info('k', [], [], '1'))
    return registry, dispatcher, handlers, restarts, peers


def _handle(dispatcher, peer, message):
    try:
        LOOP.run_until_complete(dispatcher.handle(peer, message))
    except ProtocolError as exc:
        assert len(str(exc)) < 400


def _drain(peer):
    """Check every frame queued for ``peer`` is sendable and every status short."""
    while True:
        item = peer.outbox.pop()
        if item is None:
            return
        assert isinstance(item, (str, bytes))
        if isinstance(item, str):
            msg = json.loads(item)
            if msg['op'] == 'status':
                assert len(msg['message']) < 400


def _drive(message):
    """Handle ``message`` from a read-only peer, then from the owner; check both."""
    registry, dispatcher, handlers, restarts, (reader, owner) = _world()
    _handle(dispatcher, reader, message)
    assert handlers.mutations == [] and restarts == [] and not reader.channels
    _handle(dispatcher, owner, message)
    assert len(restarts) <= 1
    for channel_id in set(reader.subscriptions.values()) | set(owner.subscriptions.values()):
        registry.send(channel_id, b'\x00\x01\x00\x00', 1, Tier.CRITICAL)  # never raises
    for peer in (reader, owner):
        _drain(peer)


@given(op=st.sampled_from(OPS), fields=st.dictionaries(st.sampled_from(KEYS), _json,
                                                       max_size=4))
def test_any_json_op_is_a_request_or_a_protocol_error(op, fields):
    text = json.dumps({'op': op, **fields})
    try:
        protocol.decode_text(text)
    except ProtocolError:
        pass
    _drive(text)


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300).map(
    lambda b: b.decode('latin-1'))))
def test_any_text_is_a_request_or_a_protocol_error(text):
    _drive(text)


@given(st.one_of(
    st.binary(max_size=200),
    st.tuples(st.sampled_from([1, 2]), st.integers(0, 2 ** 32 - 1),
              st.integers(0, 2 ** 32 - 1), st.integers(0, 2 ** 32 - 1),
              st.binary(max_size=50)).map(
        lambda t: struct.pack('<BIII', *t[:4]) + t[4]),
    st.tuples(st.integers(0, 3), st.sampled_from([b'json', b'xml', b'']),
              st.binary(max_size=50)).map(
        lambda t: struct.pack('<BIII', 2, t[0], 7, len(t[1])) + t[1] + t[2])))
def test_any_binary_frame_is_a_request_or_a_protocol_error(frame):
    try:
        protocol.parse_binary(frame)
    except ProtocolError:
        pass
    _drive(frame)
