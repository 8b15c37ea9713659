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

"""The audit verbs' logic without Redis: argument checks, robot keys, outputs, dead letters."""

import os

import pytest

from unity_kernel_core.api import audit
from unity_kernel_core.config.kernel_config import parse_config
from unity_kernel_core.errors import AuditError, PatternError


@pytest.mark.parametrize('bound', ['-', '+', '1700000000000', '1700000000000-5',
                                   '2026-12-06T10:00:00Z'])
def test_a_range_bound_in_any_accepted_form_passes(bound):
    audit.check_bound(bound)


@pytest.mark.parametrize('bound', ['yesterday', '12-ab', '', '99999999999999999999999999'])
def test_a_bad_range_bound_is_an_audit_error(bound):
    with pytest.raises(AuditError):
        audit.check_bound(bound)


def test_topic_patterns_are_checked_as_the_bus_reads_them():
    audit.check_pattern('/cam/**')
    audit.check_pattern('/safety/*')
    with pytest.raises(PatternError, match="'\\*\\*\\*' is not a valid wildcard"):
        audit.check_pattern('/a/***')


def test_robot_keys_take_a_ros_name_or_the_configs_robot():
    config = parse_config('kernel: {robot_id: r1}\n')
    assert audit.robot_keys(config, None).prefix == config.redis.stream_prefix
    assert '{r1}' in audit.robot_keys(config, None).dead_letters
    assert '{r2}' in audit.robot_keys(config, 'r2').dead_letters
    with pytest.raises(AuditError, match="robot id 'bad name!': expected a ROS name"):
        audit.robot_keys(config, 'bad name!')


def test_open_client_without_any_redis_says_how_to_get_one(tmp_path):
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{state_dir: {tmp_path / "state"}}}\nredis: {{url: null}}\n')
    with pytest.raises(AuditError, match='no Redis to read from: pass --url'):
        audit.open_client(config)


def test_check_output_refuses_what_cannot_be_written_in_the_format(tmp_path):
    assert audit.check_output(tmp_path / 'out.mcap', 'mcap') is None
    assert 'does not exist' in audit.check_output(tmp_path / 'no' / 'out.mcap', 'mcap')
    assert 'is a folder' in audit.check_output(tmp_path, 'mcap')
    fifo = tmp_path / 'fifo'
    os.mkfifo(fifo)
    assert 'not a regular file' in audit.check_output(fifo, 'mcap')
    assert audit.check_output(tmp_path / 'bag', 'rosbag2') is None
    (tmp_path / 'bag').mkdir()
    assert 'already exists' in audit.check_output(tmp_path / 'bag', 'rosbag2')


class FakeStore:
    """The part of an AuditStore the dead-letter functions use."""

    def __init__(self, rows):
        self.rows = rows
        self.dropped_streams = []

    def dead_letters(self, count=None, stream=None):
        rows = [r for r in self.rows if stream is None or r['stream'] == stream]
        return iter(rows[:count] if count else rows)

    def drop_all_dead_letters(self, stream=None):
        self.dropped_streams.append(stream)
        return len([r for r in self.rows if stream is None or r['stream'] == stream])


ROWS = [
    {'id': '1-1', 'stream': 'kernel', 'topic': '/a', 'handler': 'h', 'attempts': '3',
     'error': 'ValueError: boom', 'traceback': 'Traceback ...'},
    {'id': '2-1', 'stream': 'llm', 'topic': '/llm/request', 'handler': 'llm_bridge',
     'attempts': '2', 'error': 'no model answered\x1b[2J', 'traceback': ''},
]


def test_dead_letter_rows_leave_the_traceback_out_and_pass_count_and_stream():
    rows = audit.dead_letter_rows(FakeStore(ROWS))
    assert [r['id'] for r in rows] == ['1-1', '2-1'] and all('traceback' not in r for r in rows)
    assert [r['id'] for r in audit.dead_letter_rows(FakeStore(ROWS), stream='llm')] == ['2-1']
    assert len(audit.dead_letter_rows(FakeStore(ROWS), count=1)) == 1


def test_drop_all_dead_letters_drops_through_the_store():
    store = FakeStore(ROWS)
    assert audit.drop_all_dead_letters(store) == 2
    assert audit.drop_all_dead_letters(store, 'llm') == 1
    assert store.dropped_streams == [None, 'llm']


def test_dead_letters_are_an_aligned_table_with_control_characters_escaped():
    text = audit.format_dead_letters(audit.dead_letter_rows(FakeStore(ROWS)))
    lines = text.splitlines()
    assert lines[0].split() == ['ID', 'STREAM', 'TOPIC', 'HANDLER', 'ATTEMPTS', 'ERROR']
    assert lines[1].index('/a') == lines[2].index('/llm/request') == lines[0].index('TOPIC')
    assert '\x1b' not in text and 'no model answered\\x1b[2J' in text
    assert audit.format_dead_letters([]).split() == lines[0].split()
