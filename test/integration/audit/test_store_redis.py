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

"""Reading the trail back from Redis: topic patterns, global order, paging, dead letters."""

import pytest
import redis

from unity_kernel_core.audit.record import AuditError, AuditRecord, StreamKeys
from unity_kernel_core.audit.store import AuditStore


@pytest.mark.redis
def test_read_merges_topics_in_global_order_within_a_range_and_pattern(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    keys = StreamKeys('unity')
    for seq, topic in enumerate(['/a/x', '/b', '/a/y', '/a/x', '/b', '/a/y'], start=1):
        record = AuditRecord(topic, 'std_msgs/msg/String', 'NORMAL', seq, seq * 10**6, b'x')
        client.xadd(keys.topic(topic), record.fields(), id=f'{1000 + seq // 3}-{seq}')
        client.sadd(keys.streams, keys.topic(topic))
    store = AuditStore(client, keys)
    assert store.topics('/a/*') == ['/a/x', '/a/y']
    assert [r.seq for r in store.read()] == [1, 2, 3, 4, 5, 6]
    assert [r.seq for r in store.read(pattern='/a/**')] == [1, 3, 4, 6]
    assert [r.seq for r in store.read('1001', '1001')] == [3, 4, 5]
    assert [r.seq for r in store.read('1000-2', '1001-4', '/a/**')] == [3, 4]


@pytest.mark.redis
def test_read_pages_through_long_streams(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    keys = StreamKeys('unity')
    pipe = client.pipeline(transaction=False)
    for seq in range(1, 2501):
        record = AuditRecord('/long', 'std_msgs/msg/String', 'NORMAL', seq, seq, b'x')
        pipe.xadd(keys.topic('/long'), record.fields(), id=f'5000-{seq}')
    pipe.sadd(keys.streams, keys.topic('/long'))
    pipe.execute()
    assert [r.seq for r in AuditStore(client, keys).read()] == list(range(1, 2501))


def test_dead_letters_of_every_stream_under_the_prefix_are_found_and_told_apart(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    letter = {'topic': '/a', 'type': 'std_msgs/msg/String', 'tier': 'NORMAL', 'seq': '1',
              'stamp_ns': '1', 'cdr': b'\x00\x01\x00\x00\x01\x00\x00\x00\x00'}
    for key in ('unity:deadletters', 'unity:llm:deadletters', 'other:deadletters'):
        client.xadd(key, letter, id='5-1')
    client.xadd('unity:llm:deadletters', letter, id='6-1')
    client.xadd('unity:topic:/x/deadletters', letter, id='5-1')  # a topic stream, not one
    client.set('unity:notes:deadletters', 'not a stream')
    store = AuditStore(client, StreamKeys('unity'))
    assert store.dead_letter_streams() == {'kernel': 'unity:deadletters',
                                           'llm': 'unity:llm:deadletters'}
    assert [(r['stream'], r['id']) for r in store.dead_letters()] == [
        ('kernel', '5-1'), ('llm', '5-1'), ('llm', '6-1')]
    assert [r['id'] for r in store.dead_letters(stream='llm', count=1)] == ['5-1']
    assert store.dead_letter('6-1').topic == '/a'
    with pytest.raises(AuditError, match='more than one stream.*give --stream'):
        store.dead_letter('5-1')
    with pytest.raises(AuditError, match='more than one stream'):
        store.drop_dead_letters(['5-1'])
    with pytest.raises(AuditError, match='no dead letter 7-1'):
        store.dead_letter('7-1')
    assert store.drop_dead_letters(['5-1', '7-1'], stream='llm') == 1
    assert client.xlen('unity:deadletters') == 1 and client.xlen('unity:llm:deadletters') == 1
    assert store.drop_dead_letters(['5-1', '6-1']) == 2
    assert client.xlen('other:deadletters') == 1
