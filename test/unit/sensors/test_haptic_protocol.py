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

"""The haptic device's line protocol: readings, handshake, faults, feedback, line bounds."""

import pytest

from unity_sensors.haptic.protocol import DeviceFault, Feedback, format_feedback
from unity_sensors.haptic.protocol import format_reading, Hello, LineBuffer, parse_line
from unity_sensors.haptic.protocol import HapticProtocolError, Reading

READING = Reading(0, (1.5, -2.0, 9.81), (0.1, 0.2, 0.3))


def test_protocol_parses_readings_handshake_and_faults():
    assert parse_line(b'F 7 1.5 -2 9.81 0.1 0.2 0.3\r\n') == \
        Reading(7, (1.5, -2.0, 9.81), (0.1, 0.2, 0.3))
    assert parse_line(b'HELLO glove 1') == Hello('glove', 1)
    assert parse_line(b'E over temperature') == DeviceFault('over temperature')
    assert parse_line(b'') is None and parse_line(b'# boot log') is None
    assert parse_line(format_reading(READING)) == READING


@pytest.mark.parametrize('line,message', [
    (b'F 1 2 3', 'expected F <seq>'),
    (b'F 1 nan 0 0 0 0 0', "not a finite number: 'nan'"),
    (b'F x 0 0 0 0 0 0', "bad sequence number 'x'"),
    (b'F 1 0 0 zero 0 0 0', "not a number: 'zero'"),
    (b'\xff\xfe', 'not ASCII'),
    (b'Q 1', "unknown message 'Q'"),
    (b'F ' + b'1' * 300, 'line longer than 256 bytes'),
])
def test_protocol_rejects_malformed_lines_naming_the_problem(line, message):
    with pytest.raises(HapticProtocolError, match=message):
        parse_line(line)


def test_feedback_lines_are_clamped_and_validated():
    assert format_feedback(Feedback(1, 1, 0.5)) == b'FB 1 1 0.500\n'
    assert format_feedback(Feedback(2, 2, 7.0)) == b'FB 2 2 1.000\n'
    assert format_feedback(Feedback(0, 0, float('nan'))) == b'FB 0 0 0.000\n'
    with pytest.raises(HapticProtocolError, match='unknown feedback type 9'):
        format_feedback(Feedback(0, 9, 0.1))


def test_line_buffer_joins_chunks_and_bounds_a_runaway_line():
    buf = LineBuffer(16)
    assert buf.feed(b'F 1 ') == []
    assert buf.feed(b'2\nHEL') == [b'F 1 2']
    assert buf.feed(b'LO\r\n') == [b'HELLO']
    assert buf.feed(b'x' * 40) == [b'x' * 17]  # handed on cut: parse_line refuses it
    with pytest.raises(HapticProtocolError, match='line longer than 16 bytes'):
        parse_line(b'x' * 17, max_line=16)
    assert buf.feed(b'tail of it\nok\n') == [b'ok']
    assert buf.overlong == 1


def test_a_runaway_line_loses_none_of_the_readings_around_it():
    """Regression: the readings before an over-long line in one read were dropped with it."""
    good = format_reading(READING)
    buf = LineBuffer()
    first = buf.feed(good + b'\x00' * 5000)  # the runaway line's newline not yet read
    then = buf.feed(b'\x00' * 5000 + b'\n' + good)
    assert len(first) == 2 and parse_line(first[0]) == READING
    with pytest.raises(HapticProtocolError, match='line longer'):
        parse_line(first[1])
    assert then == [good.rstrip(b'\n')] and parse_line(then[0]) == READING


def test_control_characters_from_the_device_are_refused_not_logged():
    with pytest.raises(HapticProtocolError, match='control character'):
        parse_line(b'E \x1b[2J\x1b]0;owned\x07')
    assert parse_line(b'E\tover temperature\r') == DeviceFault('over temperature')
