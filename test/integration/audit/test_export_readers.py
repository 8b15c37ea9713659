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
Exports read by other people's readers: Foxglove's (under Node) and ``rosbags``.

A trail of every sample type (``test/ros_samples.py``) is written into Redis as the mirror
writes it, exported with ``unity-kernel export``, and read back: every schema parses, every
message decodes to what was stored, topics, types and counts are the trail's.
"""

import base64
import collections

import pytest
from rclpy.serialization import deserialize_message, serialize_message
import redis
import ros_samples
import support
import yaml

from unity_kernel_core.audit.record import AuditRecord, StreamKeys
from unity_kernel_core.config.kernel_config import parse_config

pytestmark = pytest.mark.ros  # the CLI child process imports rclpy (ROS_DOMAIN_ID of its own)

ROUNDS = 4
START_NS = 1_764_000_000_000_000_000


@pytest.fixture
def sample_trail(redis_server):
    """Write ROUNDS of every sample type into Redis; return the records in global order."""
    client = redis.Redis.from_url(redis_server.url)
    keys = StreamKeys('unity')
    records = []
    seq = 0
    for i in range(ROUNDS):
        for type_name in ros_samples.SAMPLE_TYPES:
            seq += 1
            topic = ros_samples.topic_of(type_name)
            if type_name.endswith('/Image'):
                topic = '/sensors/camera/image_raw'  # the HIGH tier: best effort
            stamp = START_NS + seq * 1_000_000 + 17
            record = AuditRecord(topic, type_name, 'NORMAL', seq, stamp,
                                 serialize_message(ros_samples.sample(type_name, i)),
                                 f'{stamp // 1_000_000}-{seq}')
            client.xadd(keys.topic(topic), record.fields(), id=record.entry_id)
            client.sadd(keys.streams, keys.topic(topic))
            records.append((record, i))
    return records


def _expected_plain(record, i):
    return ros_samples.plain(ros_samples.roundtrip(ros_samples.sample(record.type_name, i)))


def _check_foxglove_read(run, records):
    """Every schema parsed, every message decoded to what was stored, in order."""
    assert run.returncode == 0, (run.events[-2:], run.stderr[-2000:])
    [header] = run.of('header')
    assert header['profile'] == 'ros2'
    schemas = run.of('schema')
    assert {s['name'] for s in schemas} == set(ros_samples.SAMPLE_TYPES)
    assert [s for s in schemas if not s['ok']] == []
    channels = {c['topic']: c for c in run.of('channel')}
    assert {t: c['schemaName'] for t, c in channels.items()} == {
        r.topic: r.type_name for r, _i in records}
    assert {c['messageEncoding'] for c in channels.values()} == {'cdr'}
    [stats] = run.of('statistics')
    assert stats['messageCount'] == len(records)
    assert stats['channelMessageCounts'] == dict(collections.Counter(r.topic for r, _ in records))
    messages = run.of('message')
    assert len(messages) == len(records)
    for message, (record, i) in zip(messages, records):
        assert 'error' not in message, message
        assert (message['topic'], int(message['logTime']), int(message['publishTime'])) == (
            record.topic, record.stamp_ns, record.stamp_ns)
        assert base64.b64decode(message['data']) == record.cdr
        assert message['decoded'] == _expected_plain(record, i), record.topic
    assert run.of('stream') == [{'event': 'stream', 'messages': len(records), 'ended': True}]
    return channels


def test_mcap_export_reads_in_foxglove(sample_trail, redis_server, ros_env, tmp_path,
                                       foxglove_js):
    out = tmp_path / 'trail.mcap'
    result = support.cli(ros_env, 'export', '--url', redis_server.url, '-o', str(out))
    assert result.returncode == 0, result.stderr
    assert f'wrote {len(sample_trail)} event(s)' in result.stdout
    _check_foxglove_read(foxglove_js.mcap(out), sample_trail)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('.')] == []


def test_rosbag2_export_reads_as_a_rosbag2_bag(sample_trail, redis_server, ros_env, tmp_path,
                                               foxglove_js):
    from rosbags.interfaces import QosDurability, QosHistory, QosReliability
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import get_typestore, get_types_from_msg, Stores

    bag = tmp_path / 'trail'
    result = support.cli(ros_env, 'export', '--url', redis_server.url, '--format', 'rosbag2',
                         '-o', str(bag))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in bag.iterdir()) == ['metadata.yaml', 'trail_0.mcap']
    info = yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert (info['version'], info['storage_identifier'], info['relative_file_paths']) == (
        9, 'mcap', ['trail_0.mcap'])
    stamps = [r.stamp_ns for r, _i in sample_trail]
    assert info['starting_time'] == {'nanoseconds_since_epoch': min(stamps)}
    assert info['duration'] == {'nanoseconds': max(stamps) - min(stamps)}
    assert info['files'] == [{'path': 'trail_0.mcap', 'starting_time': info['starting_time'],
                              'duration': info['duration'], 'message_count': len(sample_trail)}]

    routes = parse_config('').routes
    typestore = get_typestore(Stores.EMPTY)
    with Reader(bag) as reader:
        assert reader.message_count == len(sample_trail)
        assert reader.start_time == min(stamps) and reader.end_time == max(stamps) + 1
        counts = collections.Counter(r.topic for r, _i in sample_trail)
        assert {c.topic: (c.msgtype, c.msgcount) for c in reader.connections} == {
            r.topic: (r.type_name, counts[r.topic]) for r, _i in sample_trail}
        for connection in reader.connections:
            qos = routes(connection.topic).qos
            [profile] = connection.ext.offered_qos_profiles
            assert (profile.reliability, profile.durability, profile.history,
                    profile.depth) == (QosReliability[qos.reliability.upper()],
                                       QosDurability[qos.durability.upper()],
                                       QosHistory[qos.history.upper()], qos.depth)
            assert connection.ext.serialization_format == 'cdr'
            # the bag's own definitions, parsed by rosbags: no type store of ours
            typestore.register(get_types_from_msg(connection.msgdef.data, connection.msgtype))
        assert {routes(c.topic).qos.reliability for c in reader.connections} == {
            'reliable', 'best_effort'}
        read = [(c.topic, t, typestore.deserialize_cdr(raw, c.msgtype), raw)
                for c, t, raw in reader.messages()]
    assert len(read) == len(sample_trail)
    for (topic, stamp, message, raw), (record, i) in zip(read, sample_trail):
        assert (topic, stamp, raw) == (record.topic, record.stamp_ns, record.cdr)
        assert ros_samples.rosbags_plain(message) == _expected_plain(record, i), topic

    run = foxglove_js.mcap(bag / 'trail_0.mcap')
    channels = _check_foxglove_read(run, sample_trail)
    for topic, channel in channels.items():
        assert channel['metadata']['topic_type_hash'] == ''
        [offered] = yaml.safe_load(channel['metadata']['offered_qos_profiles'])
        assert offered['reliability'] == routes(topic).qos.reliability
    [metadata] = run.of('metadata')
    assert metadata['name'] == 'rosbag2'
    assert yaml.safe_load(metadata['metadata']['serialized_metadata']) == info


def test_rosbag2_export_refuses_an_existing_folder_and_leaves_nothing_behind(
        sample_trail, redis_server, ros_env, tmp_path):
    bag = tmp_path / 'bag'
    bag.mkdir()
    result = support.cli(ros_env, 'export', '--url', redis_server.url, '--format', 'rosbag2',
                         '-o', str(bag))
    assert result.returncode == 2 and 'already exists' in result.stderr
    assert list(bag.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('.')] == []


def test_a_record_the_readers_cannot_take_is_skipped_not_written(redis_server, ros_env,
                                                                 tmp_path):
    client = redis.Redis.from_url(redis_server.url)
    keys = StreamKeys('unity')
    good = serialize_message(ros_samples.sample('std_msgs/msg/String', 0))
    rows = [('/t', 'std_msgs/msg/String', good), ('/t', 'std_msgs/msg/Bool',
                                                  serialize_message(
                                                      ros_samples.sample('std_msgs/msg/Bool', 0))),
            ('/t', 'std_msgs/msg/String', good[:3])]
    for seq, (topic, type_name, cdr) in enumerate(rows, start=1):
        client.xadd(keys.topic(topic),
                    AuditRecord(topic, type_name, 'NORMAL', seq, seq, cdr).fields(), id=f'1-{seq}')
    client.sadd(keys.streams, keys.topic('/t'))
    result = support.cli(ros_env, 'export', '--url', redis_server.url, '--format', 'rosbag2',
                         '-o', str(tmp_path / 'bag'))
    assert result.returncode == 1
    assert 'wrote 1 event(s)' in result.stdout and 'skipped 2' in result.stdout
    assert '/t is in the bag as std_msgs/msg/String, this entry is std_msgs/msg/Bool' in \
        result.stderr
    assert 'cannot decode 3 bytes as std_msgs/msg/String' in result.stderr
    from rosbags.rosbag2 import Reader
    with Reader(tmp_path / 'bag') as reader:
        assert [(c.topic, c.msgtype, c.msgcount) for c in reader.connections] == [
            ('/t', 'std_msgs/msg/String', 1)]
    assert deserialize_message(good, ros_samples.message_class('std_msgs/msg/String'))
