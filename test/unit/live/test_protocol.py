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

"""The Foxglove protocol codec: the spec's layouts, and every field of every client op checked."""

import json
import struct

import pytest

from unity_kernel_core.live import protocol
from unity_kernel_core.live.protocol import (Advertise, Bare, ClientChannel, decode_text,
                                             GetParameters, ProtocolError, SetParameters,
                                             Subscribe, Unadvertise, Unsubscribe)


def _op(op, **fields):
    return json.dumps({'op': op, **fields})


def test_binary_frames_follow_the_spec_layout():
    frame = protocol.message_data(7, 123456789, b'\x00\x01cdr')
    assert frame[0] == 0x01 and struct.unpack_from('<IQ', frame, 1) == (7, 123456789)
    assert frame[13:] == b'\x00\x01cdr'
    answer = protocol.service_call_response(3, 9, 'json', b'{}')
    assert struct.unpack_from('<BIII', answer) == (0x03, 3, 9, 4) and answer[13:] == b'json{}'
    call = protocol.parse_binary(struct.pack('<BIII', 0x02, 3, 9, 4) + b'json{"a":1}')
    assert call == protocol.ServiceCall(3, 9, 'json', b'{"a":1}')
    data = protocol.parse_binary(struct.pack('<BI', 0x01, 5) + b'payload')
    assert data == protocol.ClientMessage(5, b'payload')


def test_malformed_client_messages_are_protocol_errors_with_a_reason():
    for frame, reason in ((b'', 'empty'), (b'\x02\x01', 'truncated'), (b'\x09', 'unknown'),
                          (struct.pack('<BIII', 2, 1, 1, 99), 'encoding longer')):
        with pytest.raises(ProtocolError, match=reason):
            protocol.parse_binary(frame)
    for text, reason in (('nope', 'not JSON'), ('[1]', 'object'), ('[' * 100000, 'not JSON')):
        with pytest.raises(ProtocolError, match=reason):
            protocol.parse_text(text)


def test_json_messages_carry_the_spec_fields():
    info = json.loads(protocol.server_info('k', ['services'], ['json', 'cdr'], '42'))
    assert info == {'op': 'serverInfo', 'name': 'k', 'capabilities': ['services'],
                    'supportedEncodings': ['json', 'cdr'], 'metadata': {}, 'sessionId': '42'}
    channel = protocol.ChannelInfo(1, '/a', 'cdr', 'std_msgs/msg/String', 'string data',
                                   'ros2msg')
    assert json.loads(protocol.advertise([channel]))['channels'] == [
        {'id': 1, 'topic': '/a', 'encoding': 'cdr', 'schemaName': 'std_msgs/msg/String',
         'schema': 'string data', 'schemaEncoding': 'ros2msg'}]
    values = json.loads(protocol.parameter_values(
        [('b', True), ('f', 1.5), ('fa', (1.0, 2.0)), ('raw', b'AB'), ('i', [1, 2])], 'r'))
    assert values['id'] == 'r' and values['parameters'] == [
        {'name': 'b', 'value': True}, {'name': 'f', 'value': 1.5, 'type': 'float64'},
        {'name': 'fa', 'value': [1.0, 2.0], 'type': 'float64_array'},
        {'name': 'raw', 'value': 'QUI=', 'type': 'byte_array'}, {'name': 'i', 'value': [1, 2]}]
    first = protocol.Graph({'/a': ('/n1',)}, {'/a': ('/n2',)}, {'/s': ('k',)})
    second = protocol.Graph({'/b': ('/n1',)}, {}, {'/s': ('k',)})
    update = json.loads(protocol.connection_graph_update(second, first))
    assert update['publishedTopics'] == [{'name': '/b', 'publisherIds': ['/n1']}]
    assert update['removedTopics'] == ['/a'] and update['advertisedServices'] == []
    assert json.loads(protocol.connection_graph_update(first, None))['advertisedServices'] == [
        {'name': '/s', 'providerIds': ['k']}]


def test_every_client_op_decodes_to_a_typed_request():
    assert decode_text(_op('subscribe', subscriptions=[{'id': 0, 'channelId': 2 ** 32 - 1}])) \
        == Subscribe(((0, 2 ** 32 - 1),))
    assert decode_text(_op('unsubscribe', subscriptionIds=[1, 2])) == Unsubscribe((1, 2))
    assert decode_text(_op('advertise', channels=[
        {'id': 1, 'topic': '/a', 'encoding': 'cdr', 'schemaName': 'std_msgs/msg/String'}])) \
        == Advertise((ClientChannel(1, '/a', 'cdr', 'std_msgs/msg/String'),))
    assert decode_text(_op('unadvertise', channelIds=[1])) == Unadvertise((1,))
    assert decode_text(_op('getParameters', parameterNames=['a'], id='r')) == \
        GetParameters(('a',), 'r')
    assert decode_text(_op('getParameters')) == GetParameters((), None)
    assert decode_text(_op('setParameters', parameters=[
        {'name': 'f', 'value': 1, 'type': 'float64'}, {'name': 'l', 'value': [1, 2]},
        {'name': 'b', 'value': 'QUI=', 'type': 'byte_array'}, {'name': 's', 'value': 'x'}])) \
        == SetParameters((('f', 1.0), ('l', [1, 2]), ('b', b'AB'), ('s', 'x')), None)
    for op in ('subscribeConnectionGraph', 'unsubscribeConnectionGraph',
               'subscribeParameterUpdates'):
        assert decode_text(_op(op)) == Bare(op)


@pytest.mark.parametrize('text, reason', [
    # ids are uint32: 2**32 once starved every other client of the channel
    (_op('subscribe', subscriptions=[{'id': 2 ** 32, 'channelId': 1}]), 'from 0 to'),
    (_op('subscribe', subscriptions=[{'id': -1, 'channelId': 1}]), 'from 0 to'),
    (_op('subscribe', subscriptions=[{'id': 1, 'channelId': 2 ** 64}]), 'from 0 to'),
    (_op('subscribe', subscriptions=[{'id': True, 'channelId': 1}]), 'from 0 to'),
    (_op('subscribe', subscriptions=[{'id': 1.0, 'channelId': 1}]), 'from 0 to'),
    (_op('subscribe', subscriptions=[{'id': 'x'}]), 'from 0 to'),
    (_op('subscribe', subscriptions=[1]), 'must be an object'),
    (_op('subscribe', subscriptions={}), 'must be a list'),
    (_op('subscribe', subscriptions=[{'id': i, 'channelId': 1} for i in range(5000)]),
     'at most 4096'),
    (_op('unsubscribe', subscriptionIds=[2 ** 40]), 'from 0 to'),
    (_op('unsubscribe'), 'must be a list'),
    (_op('unadvertise', channelIds=['1']), 'from 0 to'),
    (_op('advertise', channels=[{'id': 1, 'topic': 'a', 'encoding': 'cdr'}]), 'start with'),
    (_op('advertise', channels=[{'id': 1, 'topic': '', 'encoding': 'cdr'}]), 'string of 1'),
    (_op('advertise', channels=[{'id': 1, 'topic': '/a' * 600, 'encoding': 'cdr'}]),
     'string of 1'),
    (_op('advertise', channels=[{'id': 1, 'topic': '/a', 'encoding': 7}]), 'encoding'),
    (_op('advertise', channels=[{'id': 1, 'topic': '/a', 'encoding': 'cdr',
                                 'schemaName': ['x']}]), 'schemaName'),
    (_op('getParameters', parameterNames='a'), 'must be a list'),
    (_op('getParameters', parameterNames=[1]), 'parameterNames'),
    (_op('getParameters', id=5), '"id"'),
    (_op('setParameters', parameters=[{'name': 'a', 'value': 'x', 'type': 'float64'}]),
     'not a float64'),
    (_op('setParameters', parameters=[{'name': 'a', 'value': 'x', 'type': 'byte_array'}]),
     'not a byte_array'),
    (_op('setParameters', parameters=[{'name': 'a', 'value': 1, 'type': 'int128'}]),
     'unknown type'),
    (_op('setParameters', parameters=[{'name': 'a', 'value': 2 ** 63}]), 'int64'),
    (_op('setParameters', parameters=[{'name': 'a', 'value': None}]), 'not NoneType'),
    (_op('setParameters', parameters=[{'name': 'a', 'value': {'b': 1}}]), 'not dict'),
    (_op('setParameters', parameters=[{'name': 'a', 'value': [1, 'x']}]), 'one type'),
    (_op('setParameters', parameters=[{'name': 'a', 'value': [[1]]}]), 'not list'),
    (_op('setParameters', parameters=[{'name': 'a', 'value': 'x' * 70000}]), 'at most'),
    (_op('setParameters', parameters=[{'value': 1}]), '"name"'),
    (_op('explode'), 'unsupported op'),
    (_op('x' * 10000), 'unsupported op'),
    ('{"op": "subscribe", "subscriptions": [' + ' ' * (1 << 20) + ']}', 'at most'),
])
def test_every_field_of_every_op_is_checked(text, reason):
    with pytest.raises(ProtocolError, match=reason) as info:
        decode_text(text)
    assert len(str(info.value)) < 300  # a reason, never an echo of the input


def test_clip_keeps_messages_short_and_printable():
    assert protocol.clip('abc') == 'abc'
    assert protocol.clip('\x1b[31mred\n' + 'x' * 200) == '?[31mred?' + 'x' * 71 + '...'
