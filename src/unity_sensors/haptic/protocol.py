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
The haptic device line protocol: ASCII lines, each ending in a newline, plain Python (no ROS).

Host to device:

==============================  =============================================================
``HELLO``                       handshake; the device answers ``HELLO <name> <version>``
``FB <id> <type> <intensity>``  feedback: ``sensor_msgs/JoyFeedback`` id, type (0 LED,
                                1 RUMBLE, 2 BUZZER), intensity 0.000..1.000
``STOP``                        all feedback off (sent when the node deactivates or fails)
==============================  =============================================================

Device to host:

===========================================  ================================================
``HELLO <name> <version>``                   handshake answer (version: ``1``)
``F <seq> <fx> <fy> <fz> <tx> <ty> <tz>``    a force/torque reading (N, N m), seq 0..2^32-1
``E <text>``                                 the device reports a fault
===========================================  ================================================

Lines hold printable ASCII (and tabs); control characters (an ``ESC`` that would reach a
terminal through the log) are an error, and so are lines longer than :data:`MAX_LINE` bytes
(a device babbling binary is caught instead of filling memory: :class:`LineBuffer` hands such
a line on cut, and the lines around it still count); blank lines and ``#`` comments are
ignored. The host sends ``HELLO`` only after opening the port, because pyserial flushes input
on open.
"""

import dataclasses
import math
from typing import List, Optional, Tuple, Union

from unity_sensors.errors import SensorError

PROTOCOL_VERSION = 1
MAX_LINE = 256
FEEDBACK_TYPES = {0: 'led', 1: 'rumble', 2: 'buzzer'}
HELLO = b'HELLO\n'
STOP = b'STOP\n'


class HapticProtocolError(SensorError):
    """A line from the device does not follow the protocol."""


@dataclasses.dataclass(frozen=True)
class Reading:
    """One force/torque reading."""

    seq: int
    force: Tuple[float, float, float]
    torque: Tuple[float, float, float]


@dataclasses.dataclass(frozen=True)
class Hello:
    """The device's handshake answer."""

    name: str
    version: int


@dataclasses.dataclass(frozen=True)
class DeviceFault:
    """A fault the device reports."""

    text: str


Message = Union[Reading, Hello, DeviceFault]


@dataclasses.dataclass(frozen=True)
class Feedback:
    """One feedback command (from a ``sensor_msgs/JoyFeedback``)."""

    feedback_id: int
    kind: int
    """0 LED, 1 RUMBLE, 2 BUZZER (``sensor_msgs/JoyFeedback.type``)."""
    intensity: float


def _finite(word: str, line: str) -> float:
    try:
        value = float(word)
    except ValueError:
        raise HapticProtocolError(f'not a number: {word!r} in {line!r}') from None
    if not math.isfinite(value):
        raise HapticProtocolError(f'not a finite number: {word!r} in {line!r}')
    return value


def parse_line(raw: bytes, max_line: int = MAX_LINE) -> Optional[Message]:
    """Parse one line from the device (without or with its newline); None for blank/comment."""
    if len(raw) > max_line:
        raise HapticProtocolError(f'line longer than {max_line} bytes: {raw[:40]!r}...')
    try:
        line = raw.decode('ascii').strip()
    except UnicodeDecodeError:
        raise HapticProtocolError(f'not ASCII: {raw[:40]!r}') from None
    if not line.replace('\t', ' ').isprintable():  # ESC and the like reach logs and terminals
        raise HapticProtocolError(f'control character in {raw[:40]!r}')
    if not line or line.startswith('#'):
        return None
    words = line.split()
    kind, args = words[0], words[1:]
    if kind == 'F':
        if len(args) != 7:
            raise HapticProtocolError(
                f'expected F <seq> <fx> <fy> <fz> <tx> <ty> <tz>, got {line!r}')
        if not args[0].isdigit() or int(args[0]) >= 2 ** 32:
            raise HapticProtocolError(f'bad sequence number {args[0]!r} in {line!r}')
        v = [_finite(w, line) for w in args[1:]]
        return Reading(int(args[0]), (v[0], v[1], v[2]), (v[3], v[4], v[5]))
    if kind == 'HELLO':
        if len(args) != 2 or not args[1].isdigit():
            raise HapticProtocolError(f'expected HELLO <name> <version>, got {line!r}')
        return Hello(args[0], int(args[1]))
    if kind == 'E':
        return DeviceFault(' '.join(args) or 'unspecified device fault')
    raise HapticProtocolError(f'unknown message {kind!r} in {line!r} (expected F, HELLO or E)')


def format_feedback(fb: Feedback) -> bytes:
    """Return the ``FB`` line for one feedback command (intensity clamped to 0..1)."""
    if fb.kind not in FEEDBACK_TYPES:
        raise HapticProtocolError(f'unknown feedback type {fb.kind} (expected 0 LED, '
                                  '1 RUMBLE, 2 BUZZER)')
    if not 0 <= fb.feedback_id <= 255:
        raise HapticProtocolError(f'feedback id {fb.feedback_id} out of range 0..255')
    intensity = min(1.0, max(0.0, fb.intensity)) if math.isfinite(fb.intensity) else 0.0
    return f'FB {fb.feedback_id} {fb.kind} {intensity:.3f}\n'.encode('ascii')


def format_reading(r: Reading) -> bytes:
    """Return the ``F`` line of a reading (what the firmware, or a simulator, sends)."""
    values = ' '.join(f'{v:.6g}' for v in (*r.force, *r.torque))
    return f'F {r.seq} {values}\n'.encode('ascii')


class LineBuffer:
    """
    Split a byte stream into lines, in bounded memory, losing none of the good ones.

    A line longer than ``max_line`` bytes is handed on cut to ``max_line + 1`` bytes (so
    :func:`parse_line` refuses it as too long, in its place among the others) and the rest
    of it, up to its newline, is skipped: a device babbling without newlines costs at most
    ``max_line`` bytes here, and the readings before and after it still come through.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buf = bytearray()
        self._max = max_line
        self._skipping = False
        self.overlong = 0
        """How many lines were longer than ``max_line`` (cut and handed on)."""

    def feed(self, data: bytes) -> List[bytes]:
        """Add bytes; return the complete lines now available (without newlines)."""
        lines = []
        start = 0
        while start < len(data):
            end = data.find(b'\n', start)
            piece = data[start:] if end < 0 else data[start:end]
            if not self._skipping:
                self._buf += piece[:self._max + 1 - len(self._buf)]
                if len(self._buf) > self._max:
                    lines.append(bytes(self._buf))  # cut: parse_line refuses it as too long
                    self._buf.clear()
                    self._skipping = True
                    self.overlong += 1
            if end < 0:
                break
            if self._skipping:
                self._skipping = False
            else:
                lines.append(bytes(self._buf).rstrip(b'\r'))
                self._buf.clear()
            start = end + 1
        return lines

    def clear(self) -> None:
        """Forget any partial line."""
        self._buf.clear()
        self._skipping = False
