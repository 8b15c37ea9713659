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
Fuzz: whatever is in Redis, replay, export, dlq and fleet read it back without falling over.

Anyone who can write to the store can put any key, entry or heartbeat there. What the readers
make of it is a record, a reported bad entry, or a robot shown with the reason; never an
exception, a truncated export, or a control character reaching the terminal. The first
targets run the decoders alone; the last ones write the entries into a real redis-server and
run the store, the MCAP and rosbag2 exporters and the listings over them.
"""

import json
import pathlib
import tempfile
import unicodedata

from hypothesis import example, given, HealthCheck, settings, strategies as st
from mcap.reader import make_reader
import pytest
import redis
import support

from unity_kernel_core.api.audit import dead_letter_rows, format_dead_letters
from unity_kernel_core.api.fleet import format_fleet, format_robot
from unity_kernel_core.api.text import printable
from unity_kernel_core.audit.fleet import FleetRegistry, parse_heartbeat, status_of
from unity_kernel_core.audit.mcap_export import export_mcap
from unity_kernel_core.audit.record import AuditEntryError, AuditRecord, StreamKeys
from unity_kernel_core.audit.record import text_fields
from unity_kernel_core.audit.rosbag2_export import export_rosbag2
from unity_kernel_core.audit.store import AuditStore
from unity_kernel_core.config.kernel_config import QosSettings

pytestmark = pytest.mark.redis

STRING_CDR = b'\x00\x01\x00\x00\x03\x00\x00\x00hi\x00\x00'
field_names = st.sampled_from(['topic', 'type', 'tier', 'seq', 'stamp_ns', 'cdr', 'handler',
                               'error', 'attempts', 'x'])
raw = st.one_of(st.binary(max_size=24), st.text(max_size=24).map(str.encode),
                st.integers(-2 ** 70, 2 ** 70).map(lambda i: str(i).encode()),
                st.sampled_from([b'/t', b'std_msgs/msg/String', STRING_CDR, b'\x1b[2J',
                                 b'\xff\xfe', b'NORMAL', b'1', b'-1', str(2 ** 64).encode()]))
entries = st.dictionaries(field_names, raw, max_size=7)


def _terminal_safe(text, newlines=True):
    """No character a terminal acts on (controls, bidi and other format characters)."""
    return all(ch == '\t' or (newlines and ch == '\n')
               or unicodedata.category(ch) not in ('Cc', 'Cf', 'Zl', 'Zp', 'Cs', 'Co', 'Cn')
               for ch in text)


@given(entries)
@example({'topic': b'/t', 'type': b'std_msgs/msg/String', 'tier': b'NORMAL', 'seq': b'1',
          'stamp_ns': str(2 ** 64).encode(), 'cdr': STRING_CDR})
@example({'topic': b'/t', 'type': b'std_msgs/msg/String', 'tier': b'NORMAL', 'seq': b'1',
          'stamp_ns': b'-1', 'cdr': STRING_CDR})
def test_an_entry_is_a_record_in_range_or_a_named_error(fields):
    try:
        record = AuditRecord.from_entry('1-1', fields, where='unity:topic:/t')
    except AuditEntryError as exc:
        assert 'unity:topic:/t entry 1-1' in str(exc)
        return
    assert 0 <= record.stamp_ns < 2 ** 63 and 0 <= record.seq < 2 ** 64
    assert record.topic.startswith('/')
    listed = text_fields(fields)
    assert set(listed) <= {k for k in fields if k != 'cdr'}


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=12)
heartbeats = st.one_of(
    st.binary(max_size=64),
    st.dictionaries(st.sampled_from(['robot_id', 'state', 'host', 'version', 'pid',
                                     'last_seen_ms', 'modules', 'mirror', 'error']),
                    json_values, max_size=6).map(lambda d: json.dumps(d).encode()),
    st.integers(1, 5000).map(lambda n: b'[' * n + b']' * n),
    st.integers(1, 5000).map(lambda n: b'{"a":' * n + b'1' + b'}' * n))


@given(st.text(max_size=12), heartbeats)
@example('r1', b'[' * 100_000 + b']' * 100_000)
@example('r1', b'{"host": "\\u001b]0;owned\\u0007\\u001b[2J", "modules": [{"name": "\\u202e"}]}')
@example('r1', b'{"mirror": {"queue_depth": "x", "journal_pending": 1e999}, '
               b'"last_seen_ms": 1e999, "modules": [{"state": []}]}')
def test_a_heartbeat_is_shown_with_its_robot_and_never_a_terminal_escape(robot, value):
    record = parse_heartbeat(robot, value)
    status = status_of(robot, record, 10 ** 13, 15.0)
    for text in (format_fleet([status]), format_robot(status)):
        assert _terminal_safe(text), text
    json.dumps(status.as_dict())


@given(st.text(max_size=40))
def test_printable_leaves_no_control_or_format_character(text):
    shown = printable(text)
    assert _terminal_safe(shown, newlines=False)
    assert shown == text or '\\' in shown


@pytest.fixture(scope='module')
def store_server(tmp_path_factory):
    server = support.RedisServer(tmp_path_factory.mktemp('redis'))
    server.start()
    yield server
    server.stop()


keys_raw = st.one_of(st.sampled_from([b'/t', b'/a/b', b'/\xff\xfe', b'/\x1b[2J', b'x']),
                     st.binary(min_size=1, max_size=8))


# Each example starts servers or subscriptions: 3 in 10 of the profile's examples.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture],
          max_examples=max(1, settings.default.max_examples * 3 // 10))
@given(st.lists(st.tuples(keys_raw, entries), max_size=6),
       st.lists(st.tuples(st.sampled_from([b'kernel', b'llm', b'\xff']), entries), max_size=4),
       st.dictionaries(st.binary(min_size=1, max_size=6), heartbeats, max_size=3))
def test_whatever_is_in_redis_the_readers_report_it_and_write_whole_files(
        store_server, topics, letters, fleet):
    client = redis.Redis.from_url(store_server.url)
    client.flushall()
    keys = StreamKeys('unity')
    for n, (topic, fields) in enumerate(topics):
        key = keys.topic('').encode() + topic
        client.delete(key)  # the last of two entries for one key decides what it holds
        if fields:
            client.xadd(key, fields, id=f'{n + 1}-1')
        else:
            client.set(key, b'no stream')
        client.sadd(keys.streams, key)
    for n, (name, fields) in enumerate(letters):
        key = keys.dead_letters if name == b'kernel' else b'unity:' + name + b':deadletters'
        if fields:
            client.xadd(key, fields, id=f'{n + 1}-1')
    for robot, value in fleet.items():
        client.hset('unity:fleet', robot, value)

    store = AuditStore(client, keys)
    bad, errors = [], []
    records = list(store.read(on_bad=bad.append))
    with tempfile.TemporaryDirectory() as folder:
        out = pathlib.Path(folder) / 'out.mcap'
        report = export_mcap(iter(records), out, on_error=errors.append)
        with open(out, 'rb') as stream:
            messages = list(make_reader(stream).iter_messages())
        assert len(messages) == report.sent and report.sent + report.skipped == len(records)
        bag = pathlib.Path(folder) / 'bag'
        export_rosbag2(iter(records), bag, lambda _t: QosSettings(), on_error=errors.append)
        assert (bag / 'metadata.yaml').is_file()
        assert sorted(p.name for p in pathlib.Path(folder).iterdir()) == ['bag', 'out.mcap']
    assert _terminal_safe(format_dead_letters(dead_letter_rows(store)))
    statuses = FleetRegistry(client, 'unity').statuses(15.0)
    assert _terminal_safe(format_fleet(statuses))
    for status in statuses:
        assert _terminal_safe(format_robot(status))
