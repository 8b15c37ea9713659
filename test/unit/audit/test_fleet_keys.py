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

"""Robot identity and the key layout: unchanged without a robot id, one cluster slot with one."""

import pytest
from redis.crc import key_slot

from unity_kernel_core.audit.fleet import RobotStatus, status_of
from unity_kernel_core.audit.record import AuditError, StreamKeys
from unity_kernel_core.config.kernel_config import parse_config
from unity_kernel_core.errors import ConfigError
from unity_llm_bridge.memory import RedisStore


def test_without_a_robot_id_the_keys_are_the_single_robot_layout_byte_for_byte():
    keys = StreamKeys.of(parse_config(''))
    assert keys == StreamKeys('unity')
    assert [keys.topic('/safety/estop'), keys.streams, keys.meta, keys.dead_letters,
            keys.dead_letter_stream('llm'), RedisStore(None, 'unity').key('chat')] == [
        'unity:topic:/safety/estop', 'unity:streams', 'unity:meta', 'unity:deadletters',
        'unity:llm:deadletters', 'unity:llm:memory:chat']


def test_with_a_robot_id_every_key_carries_it_as_one_hash_tag():
    keys = StreamKeys.of(parse_config('kernel: {robot_id: scout_7}'))
    written = [keys.topic('/safety/estop'), keys.topic('/a/b'), keys.streams, keys.meta,
               keys.dead_letters, keys.dead_letter_stream('llm'),
               RedisStore(None, 'unity', 'scout_7').key('chat')]
    assert written == [
        'unity:{scout_7}:topic:/safety/estop', 'unity:{scout_7}:topic:/a/b',
        'unity:{scout_7}:streams', 'unity:{scout_7}:meta', 'unity:{scout_7}:deadletters',
        'unity:{scout_7}:llm:deadletters', 'unity:{scout_7}:llm:memory:chat']
    assert len({key_slot(k.encode()) for k in written}) == 1  # one slot: one node per batch
    assert keys.topic_of('unity:{scout_7}:topic:/a/b') == '/a/b'
    assert keys.dead_letter_name('unity:{scout_7}:llm:deadletters') == 'llm'
    assert keys.fleet == 'unity:fleet'


def test_a_robot_never_reads_another_robots_keys_as_its_own():
    robot, other, single = StreamKeys('unity', 'a'), StreamKeys('unity', 'b'), StreamKeys('unity')
    for reader, key in ((robot, other.topic('/x')), (single, robot.topic('/x')),
                        (robot, single.topic('/x'))):
        with pytest.raises(AuditError):
            reader.topic_of(key)
    with pytest.raises(AuditError):
        single.dead_letter_name(robot.dead_letter_stream('llm'))
    with pytest.raises(AuditError):
        robot.dead_letter_name(other.dead_letters)


@pytest.mark.parametrize('robot_id', ['1robot', 'a__b', 'a-b', 'a{b}', 'a:b', '_a', 'x' * 65])
def test_a_robot_id_breaking_the_ros_naming_rules_is_a_config_error(robot_id):
    with pytest.raises(ConfigError, match='kernel.robot_id'):
        parse_config(f'kernel: {{robot_id: "{robot_id}"}}')


def test_robot_id_and_cluster_come_from_the_environment_too():
    config = parse_config('', environ={'UNITY_ROBOT_ID': 'r2', 'UNITY_REDIS_CLUSTER': 'true',
                                       'UNITY_REDIS_URL': 'redis://127.0.0.1:7000/0'})
    assert config.kernel.robot_id == 'r2' and config.redis.cluster
    assert config.redis.replicas_to_wait == 1
    assert parse_config('').redis.replicas_to_wait == 0
    with pytest.raises(ConfigError, match='UNITY_ROBOT_ID'):
        parse_config('', environ={'UNITY_ROBOT_ID': 'no way'})


@pytest.mark.parametrize('text, expected', [
    ('redis: {cluster: true, url: "redis://h:1/0"}', 'needs kernel.robot_id'),
    ('kernel: {robot_id: r}\nredis: {cluster: true}', 'needs redis.url'),
    ('kernel: {robot_id: r}\nredis: {cluster: true, url: "unix:///x.sock"}', 'unix socket'),
    ('kernel: {robot_id: r}\nredis: {cluster: true, url: "redis://h:1/0", '
     'cluster_nodes: ["h"]}', 'host:port'),
])
def test_cluster_settings_that_cannot_work_are_config_errors(text, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_config(text)


def test_a_robot_turns_stale_when_its_heartbeat_is_older_than_the_limit():
    record = {'robot_id': 'a', 'state': 'active', 'last_seen_ms': 10_000,
              'modules': [{'name': 'm1', 'state': 'active'}, {'name': 'm2', 'state': 'failed'}],
              'mirror': {'queue_depth': 3, 'journal_pending': 40}}
    fresh = status_of('a', record, 14_000, stale_after_s=5)
    assert (fresh.state, fresh.stale, fresh.modules_up, len(fresh.modules),
            fresh.mirror_lag) == ('active', False, 1, 2, 43)
    stale = status_of('a', record, 15_001, stale_after_s=5)
    assert (stale.state, stale.stale, stale.age_s) == ('stale', True, 5.001)
    stopped = status_of('a', dict(record, state='stopped'), 99_000, stale_after_s=5)
    assert stopped.state == 'stopped'  # it said goodbye: not stale
    assert isinstance(stopped, RobotStatus)


def test_the_llm_bridge_takes_robot_id_and_cluster_from_the_robots_environment():
    from unity_llm_bridge.config import BridgeSettings
    from unity_llm_bridge.memory import connect_store
    bridge = BridgeSettings(redis_url='redis://127.0.0.1:1/0')
    client, keys = connect_store(bridge, environ={'UNITY_ROBOT_ID': 'r5'})
    assert keys.dead_letter_stream('llm') == 'unity:{r5}:llm:deadletters'
    assert type(client).__name__ == 'Redis'
    _client, keys = connect_store(bridge.model_copy(update={'robot_id': 'own'}),
                                  environ={'UNITY_ROBOT_ID': 'r5'})
    assert keys.robot_id == 'own'
    assert connect_store(bridge, environ={})[1] == StreamKeys('unity')
    with pytest.raises(AuditError, match='UNITY_ROBOT_ID'):
        connect_store(bridge, environ={'UNITY_ROBOT_ID': 'a-b'})
    with pytest.raises(AuditError, match='Redis Cluster'):  # nothing listens on port 1
        connect_store(bridge, environ={'UNITY_REDIS_CLUSTER': 'true'})
    assert type(connect_store(bridge, environ={'UNITY_REDIS_CLUSTER': 'off'})[0]).__name__ == \
        'Redis'
    # regression: any other word was read as false, where the kernel refuses it
    with pytest.raises(AuditError, match="UNITY_REDIS_CLUSTER='sure': expected true or false"):
        connect_store(bridge, environ={'UNITY_REDIS_CLUSTER': 'sure'})
