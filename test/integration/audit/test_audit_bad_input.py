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

"""Bad entries in the streams: clear errors naming the entry, nothing crashes, the rest works."""


from mcap.reader import make_reader
import pytest
from rclpy.serialization import serialize_message
import redis
from std_msgs.msg import String
import support

from unity_kernel_core.audit.batch_writer import BatchWriter
from unity_kernel_core.audit.consumer import AuditConsumer
from unity_kernel_core.audit.journal import Journal
from unity_kernel_core.audit.mirror import MirrorWriter
from unity_kernel_core.audit.record import AuditRecord, StreamKeys
from unity_kernel_core.audit.redis_connection import connect
from unity_kernel_core.bus.event_bus import EventBus
from unity_kernel_core.config.kernel_config import parse_config
from unity_kernel_core.ros import message_types

pytestmark = pytest.mark.redis

GOOD = [serialize_message(String(data=f'g{i}')) for i in range(3)]


def good_fields(topic, i, cdr, type_name='std_msgs/msg/String'):
    return AuditRecord(topic, type_name, 'NORMAL', i, 10**18 + i, cdr).fields()


@pytest.fixture
def bad_trail(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    keys = StreamKeys('unity')
    entries = {
        '/good': [good_fields('/good', i, c) for i, c in enumerate(GOOD)],
        '/bad/truncated': [good_fields('/bad/truncated', 9, GOOD[0][:5])],
        '/bad/unknown_type': [good_fields('/bad/unknown_type', 10, GOOD[0],
                                          'nope_msgs/msg/Missing')],
        '/bad/type_name': [good_fields('/bad/type_name', 11, GOOD[0], 'not a type')],
        '/bad/malformed': [{'junk': 'yes'}, {'topic': '/bad/malformed', 'seq': 'x'}],
    }
    for n, (topic, rows) in enumerate(entries.items()):
        for j, fields in enumerate(rows):
            client.xadd(keys.topic(topic), fields, id=f'{1000 + n}-{j}')
        client.sadd(keys.streams, keys.topic(topic))
    client.set(keys.topic('/bad/not_a_stream'), 'oops')
    client.sadd(keys.streams, keys.topic('/bad/not_a_stream'))
    return client


@pytest.mark.ros
def test_replay_and_export_skip_bad_entries_with_clear_errors(bad_trail, redis_server,
                                                              ros_env, tmp_path):
    dry = support.cli(ros_env, 'replay', '--url', redis_server.url, '--dry-run')
    assert dry.returncode == 1
    assert 'entry 1004-0: missing field(s)' in dry.stderr
    assert 'entry 1004-1: missing field(s)' in dry.stderr
    assert 'unity:topic:/bad/not_a_stream: cannot read it as a stream' in dry.stderr
    assert '7 event(s) would be sent' not in dry.stderr
    result = support.cli(ros_env, 'replay', '--url', redis_server.url, '--fast')
    assert result.returncode == 1, result.stderr
    assert 'replayed 3 event(s), skipped 6' in result.stdout
    assert 'cannot decode 5 bytes as std_msgs/msg/String' in result.stderr
    assert "Python package 'nope_msgs' is not installed" in result.stderr
    assert "malformed ROS type name 'not a type'" in result.stderr
    out = tmp_path / 'x.mcap'
    exported = support.cli(ros_env, 'export', '--url', redis_server.url, '-o', str(out))
    assert exported.returncode == 1
    assert 'wrote 3 event(s)' in exported.stdout
    assert 'Traceback' not in result.stderr + exported.stderr + dry.stderr
    bad_range = support.cli(ros_env, 'export', '--url', redis_server.url, '--from', 'yesterday',
                            '-o', str(out))
    assert bad_range.returncode == 2 and "bad range limit 'yesterday'" in bad_range.stderr


def test_consumer_acknowledges_and_reports_malformed_entries(bad_trail, redis_server):
    bad, handled = [], []
    consumer = AuditConsumer(redis.Redis.from_url(redis_server.url), StreamKeys('unity'),
                             'g', 'c1', '/**', on_bad=lambda k, i, e: bad.append((k, i)))
    consumer.poll(handled.append)
    assert ('unity:topic:/bad/not_a_stream', '') in bad
    bad.clear()
    handled.clear()
    consumer = AuditConsumer(redis.Redis.from_url(redis_server.url), StreamKeys('unity'),
                             'g1', 'c1', '/good', on_bad=lambda k, i, e: bad.append((k, i)))
    while consumer.poll(handled.append):
        pass
    assert [r.cdr for r in handled] == GOOD
    consumer = AuditConsumer(redis.Redis.from_url(redis_server.url), StreamKeys('unity'),
                             'g2', 'c1', '/bad/malformed',
                             on_bad=lambda k, i, e: bad.append((k, i)))
    consumer.poll(handled.append)
    consumer.poll(handled.append)
    assert bad == [('unity:topic:/bad/malformed', '1004-0'),
                   ('unity:topic:/bad/malformed', '1004-1')]
    assert bad_trail.xpending('unity:topic:/bad/malformed', 'g2')['pending'] == 0


def test_a_consumer_skips_a_stream_name_that_is_not_utf8_and_goes_on(bad_trail, redis_server):
    """Regression: a non-UTF-8 member of the stream set raised out of every poll."""
    bad_trail.sadd('unity:streams', b'unity:topic:/bad\xff')
    bad, handled = [], []
    consumer = AuditConsumer(redis.Redis.from_url(redis_server.url), StreamKeys('unity'),
                             'g3', 'c1', '/good', on_bad=lambda k, i, e: bad.append((k, e)))
    while consumer.poll(handled.append):
        pass
    consumer.poll(handled.append)
    assert [r.cdr for r in handled] == GOOD
    assert bad == [('unity:topic:/bad\\xff', 'its name is not UTF-8')]


def test_mirror_keeps_going_past_a_key_of_the_wrong_type_and_non_ros_payloads(
        tmp_path, redis_server):
    client = redis.Redis.from_url(redis_server.url)
    client.set('unity:topic:/taken', 'not a stream')
    config = parse_config(f'redis: {{url: "{redis_server.url}", flush_interval_ms: 2}}')
    writer = MirrorWriter(BatchWriter(config.redis, config.routes, StreamKeys('unity'),
                          Journal(tmp_path / 'j', 1 << 20), lambda: connect(config.redis)))
    bus = EventBus(codec=message_types.CDR)
    bus.start()
    writer.start()
    bus.add_tap(writer.offer)
    bus.publish('/taken', 'std_msgs/msg/String', cdr=GOOD[0])
    bus.publish('/plain', 'python/dict', {'not': 'ros'})
    bus.publish('/fine', 'std_msgs/msg/String', String(data='made in the writer'))
    support.wait_for(lambda: client.xlen('unity:topic:/fine') == 1, 10, message='/fine')
    writer.stop(5)
    bus.stop()
    snap = writer.snapshot()
    assert snap['rejected'] == 1 and snap['unencodable'] == 1 and snap['journaled'] == 0
    [(entry_id, fields)] = client.xrange('unity:topic:/fine')
    assert AuditRecord.from_entry(entry_id, fields).cdr == serialize_message(
        String(data='made in the writer'))


def _string_entry(topic, seq, stamp_ns):
    fields = good_fields(topic, seq, GOOD[0])
    fields['stamp_ns'] = str(stamp_ns)
    return fields


@pytest.mark.ros
def test_replay_and_export_report_a_stream_name_that_is_not_utf8(redis_server, ros_env,
                                                                 tmp_path):
    client = redis.Redis.from_url(redis_server.url)
    keys = StreamKeys('unity')
    client.xadd(keys.topic('/good'), good_fields('/good', 1, GOOD[0]), id='1-1')
    bad_key = keys.topic('').encode() + b'/\xff\xfe'
    client.xadd(bad_key, good_fields('/x', 2, GOOD[1]), id='1-2')
    client.sadd(keys.streams, keys.topic('/good'), bad_key)
    for args in (['replay', '--dry-run'], ['export', '-o', str(tmp_path / 'x.mcap')],
                 ['export', '--format', 'rosbag2', '-o', str(tmp_path / 'bag')]):
        result = support.cli(ros_env, *args, '--url', redis_server.url)
        assert result.returncode == 1, (args, result.stderr)
        assert 'unity:topic:/\\xff\\xfe: stream key is not UTF-8 text' in result.stderr
        assert 'Traceback' not in result.stderr
    assert 'wrote 1 event(s)' in result.stdout


@pytest.mark.ros
def test_export_skips_an_out_of_range_stamp_and_writes_a_whole_file(redis_server, ros_env,
                                                                    tmp_path):
    client = redis.Redis.from_url(redis_server.url)
    keys = StreamKeys('unity')
    stamps = [10**18, 2**64, -1, 2**63, 10**18 + 1]
    for seq, stamp in enumerate(stamps, start=1):
        client.xadd(keys.topic('/t'), _string_entry('/t', seq, stamp), id=f'1-{seq}')
    client.sadd(keys.streams, keys.topic('/t'))
    out = tmp_path / 'trail.mcap'
    out.write_bytes(b'an older export')
    result = support.cli(ros_env, 'export', '--url', redis_server.url, '-o', str(out))
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert 'wrote 2 event(s)' in result.stdout and 'skipped 3' in result.stdout
    for stamp in (2**64, -1, 2**63):
        assert f'stamp_ns {stamp} is out of range' in result.stderr
    with open(out, 'rb') as stream:
        assert [m.log_time for _s, _c, m in make_reader(stream).iter_messages()] == [
            10**18, 10**18 + 1]
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in ('.mcap', '.partial')) == [
        'trail.mcap']


@pytest.mark.ros
def test_fleet_list_and_status_show_a_deeply_nested_heartbeat_as_bad(redis_server, ros_env):
    client = redis.Redis.from_url(redis_server.url)
    client.hset('unity:fleet', 'deep', '[' * 100_000 + ']' * 100_000)
    client.hset('unity:fleet', 'huge', '"' + 'x' * (1 << 20) + '"')
    client.hset('unity:fleet', b'\xff', '{"state": "active"}')
    listed = support.cli(ros_env, 'fleet', '--url', redis_server.url, 'list')
    assert listed.returncode == 0 and 'Traceback' not in listed.stderr, listed.stderr
    assert {line.split()[0] for line in listed.stdout.splitlines()[1:]} == {
        'deep', 'huge', '\\xff'}
    status = support.cli(ros_env, 'fleet', '--url', redis_server.url, 'status', 'deep')
    assert status.returncode == 0, status.stderr
    assert 'bad heartbeat: nested deeper than 16 levels' in status.stdout
    status = support.cli(ros_env, 'fleet', '--url', redis_server.url, 'status', 'huge',
                         '--json')
    assert 'larger than the limit of 262144 bytes' in status.stdout


@pytest.mark.ros
def test_dlq_list_shows_control_characters_as_escapes(redis_server, ros_env):
    client = redis.Redis.from_url(redis_server.url)
    letter = good_fields('/a', 1, GOOD[0])
    letter.update({'handler': 'h\x1b]0;owned\x07', 'error': 'boom\x1b[2J\x1b[H\u202egnp.exe',
                   'attempts': '3', 'topic': '/a\r\x1b[1A'})
    client.xadd('unity:deadletters', letter, id='5-1')
    client.xadd('unity:llm:deadletters', {'topic': b'/b', 'error': b'\xff\x1b'}, id='6-1')
    listed = support.cli(ros_env, 'dlq', '--url', redis_server.url, 'list')
    assert listed.returncode == 0, listed.stderr
    assert not any(ch in listed.stdout for ch in '\x1b\x07\r\u202e')
    assert 'boom\\x1b[2J\\x1b[H\\u202egnp.exe' in listed.stdout
    assert '/a\\x0d\\x1b[1A' in listed.stdout and 'h\\x1b]0;owned\\x07' in listed.stdout
    assert '\\xff\\x1b' in listed.stdout  # a byte that is not UTF-8 is escaped as well
    as_json = support.cli(ros_env, 'dlq', '--url', redis_server.url, 'list', '--json')
    assert '\x1b' not in as_json.stdout and '\\u001b' in as_json.stdout
