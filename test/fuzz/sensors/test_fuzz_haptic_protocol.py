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
Fuzz: any bytes a serial haptic device sends, cut anywhere, are readings or counted bad lines.

The line protocol's two decoders (``LineBuffer`` splitting the byte stream, ``parse_line``
reading a line) never raise anything but HapticProtocolError, never hold more than a line's
bound, and lose no good line to a bad one beside it.
"""

import math

from hypothesis import example, given, strategies as st

from unity_sensors.haptic.protocol import DeviceFault, format_reading, HapticProtocolError
from unity_sensors.haptic.protocol import Hello, LineBuffer, MAX_LINE, parse_line, Reading

finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
readings = st.builds(lambda seq, v: Reading(seq, tuple(v[:3]), tuple(v[3:])),
                     st.integers(0, 2 ** 32 - 1), st.lists(finite, min_size=6, max_size=6))
words = st.sampled_from([b'F', b'HELLO', b'E', b'#', b'FB', b'1', b'-0', b'nan', b'inf',
                         b'1e999', b'4294967296', b'1_0', b'\x1b[2J', b'\xff', b'\t', b'\r'])
garbage = st.one_of(st.binary(max_size=600),
                    st.lists(words, max_size=10).map(b' '.join))


def _checked(raw):
    try:
        message = parse_line(raw)
    except HapticProtocolError as exc:
        assert str(exc)
        return 'bad'
    assert message is None or isinstance(message, (Reading, Hello, DeviceFault))
    if isinstance(message, Reading):
        assert 0 <= message.seq < 2 ** 32
        assert all(math.isfinite(v) for v in (*message.force, *message.torque))
    if isinstance(message, DeviceFault):
        assert message.text.isprintable()
    return message


@given(garbage)
@example(b'F ' + b'1' * 300)
@example(b'E \x1b]0;title\x07')
@example(b'HELLO glove 99999999999999999999999999')
def test_any_line_is_a_message_or_a_protocol_error(raw):
    _checked(raw)


@given(st.lists(st.one_of(readings, garbage.map(lambda g: g + b'\n'), garbage), max_size=8),
       st.lists(st.integers(1, 700), min_size=1, max_size=8))
@example([Reading(1, (0.0, 0.0, 9.8), (0.0, 0.0, 0.0)), b'\x00' * 300], [1000])
def test_any_stream_cut_anywhere_keeps_every_good_reading(pieces, cuts):
    stream, sent = b'', []
    for piece in pieces:
        if isinstance(piece, Reading):
            if not stream or stream.endswith(b'\n'):
                sent.append(piece)  # starts a line of its own: must come through
            piece = format_reading(piece)
        stream += piece
    buf, lines, pos, i = LineBuffer(), [], 0, 0
    while pos < len(stream):  # as the port delivers it: in reads of any size
        size = cuts[i % len(cuts)]
        lines += buf.feed(stream[pos:pos + size])
        pos, i = pos + size, i + 1
        assert len(buf._buf) <= MAX_LINE + 1
    assert all(len(line) <= MAX_LINE + 1 for line in lines)
    got = [m for m in map(_checked, lines) if isinstance(m, Reading)]
    for reading in sent:
        assert parse_line(format_reading(reading)) in got
