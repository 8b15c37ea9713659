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
Haptic device drivers behind one interface: serial (line protocol), evdev, simulated.

:class:`HapticDriver` is what the node uses: ``start`` opens and handshakes, ``read`` returns
the readings that arrived (waiting at most ``timeout``), ``send`` writes feedback,
``stop_feedback`` turns all feedback off, ``close`` releases the device. A missing device is
:class:`DeviceNotFoundError`; a device that goes away while open is :class:`DeviceLostError`
(the node reopens it with backoff). No ROS here.
"""

import collections
import errno
import math
import os
import select
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

from evdev import ecodes, ff, InputDevice
import serial

from unity_sensors.errors import DeviceLostError, DeviceNotFoundError, SensorConfigError
from unity_sensors.errors import SensorError
from unity_sensors.haptic.protocol import DeviceFault, Feedback, format_feedback
from unity_sensors.haptic.protocol import HapticProtocolError, HELLO, Hello, LineBuffer
from unity_sensors.haptic.protocol import parse_line, PROTOCOL_VERSION, Reading, STOP


class HapticDriver:
    """The interface of every haptic driver."""

    kind = 'driver'

    def __init__(self) -> None:
        self.device_name = ''
        self.bad_lines = 0
        self.last_bad_line = ''

    def start(self) -> None:
        """Open the device (and handshake)."""

    def read(self, timeout: float) -> List[Reading]:
        """Return the readings that arrived, waiting at most ``timeout`` seconds."""
        raise NotImplementedError

    def send(self, feedback: Sequence[Feedback]) -> None:
        """Apply feedback commands."""
        raise NotImplementedError

    def stop_feedback(self) -> None:
        """Turn every feedback output off."""

    def close(self) -> None:
        """Release the device (idempotent, never raises for a vanished device)."""

    def describe(self) -> str:
        """Return a short description for logs and diagnostics."""
        return self.kind


class SerialDriver(HapticDriver):
    """A device on a serial port speaking :mod:`unity_sensors.haptic.protocol`."""

    kind = 'serial'

    def __init__(self, port: str, baud: int = 115200, handshake_timeout_s: float = 2.0,
                 open_port: Callable[..., Any] = serial.Serial) -> None:
        super().__init__()
        self.port = port
        self.baud = baud
        self.handshake_timeout_s = handshake_timeout_s
        self._open_port = open_port
        self._ser: Optional[Any] = None
        self._lines = LineBuffer()
        self._write_lock = threading.Lock()

    def start(self) -> None:
        if not os.path.exists(self.port):
            raise DeviceNotFoundError(self.port)
        try:
            # opening flushes the input: nothing the device sent before counts
            self._ser = self._open_port(self.port, self.baud, timeout=0.05, write_timeout=0.5)
        except (serial.SerialException, OSError) as exc:
            raise DeviceNotFoundError(self.port, str(exc)) from None
        self._lines.clear()
        try:
            self._handshake()
        except SensorError:
            self.close()
            raise

    def _handshake(self) -> None:
        self._write(HELLO)
        deadline = time.monotonic() + self.handshake_timeout_s
        while time.monotonic() < deadline:
            for raw in self._read_lines(0.05):
                try:
                    message = parse_line(raw)
                except HapticProtocolError:
                    continue  # noise before the handshake
                if isinstance(message, Hello):
                    if message.version != PROTOCOL_VERSION:
                        raise SensorConfigError(
                            f'{self.port}: device {message.name} speaks protocol version '
                            f'{message.version}, this driver speaks {PROTOCOL_VERSION}')
                    self.device_name = message.name
                    return
        raise SensorError(f'no handshake answer from {self.port} within '
                          f'{self.handshake_timeout_s:g} s (sent HELLO, expected '
                          f'"HELLO <name> {PROTOCOL_VERSION}")')

    def _read_lines(self, timeout: float) -> List[bytes]:
        ser = self._ser
        if ser is None:
            raise DeviceLostError(f'{self.port} is not open')
        try:
            if ser.timeout != timeout:  # setting it reconfigures the port: only on change
                ser.timeout = timeout
            data = ser.read(max(1, ser.in_waiting))
        except (serial.SerialException, OSError) as exc:
            raise DeviceLostError(f'{self.port}: {exc}') from None
        return self._lines.feed(data) if data else []

    def read(self, timeout: float) -> List[Reading]:
        readings = []
        for raw in self._read_lines(timeout):
            try:
                message = parse_line(raw)
            except HapticProtocolError as exc:
                self._bad(str(exc))
                continue
            if isinstance(message, Reading):
                readings.append(message)
            elif isinstance(message, DeviceFault):
                raise SensorError(f'{self.port}: the device reports a fault: {message.text}')
        return readings

    def _bad(self, text: str) -> None:
        self.bad_lines += 1
        self.last_bad_line = text

    def _write(self, data: bytes) -> None:
        ser = self._ser
        if ser is None:
            raise DeviceLostError(f'{self.port} is not open')
        try:
            with self._write_lock:
                ser.write(data)
                ser.flush()
        except (serial.SerialException, OSError) as exc:  # SerialTimeoutException included
            raise DeviceLostError(f'{self.port}: write failed: {exc}') from None

    def send(self, feedback: Sequence[Feedback]) -> None:
        self._write(b''.join(format_feedback(fb) for fb in feedback))

    def stop_feedback(self) -> None:
        if self._ser is not None:
            self._write(STOP)

    def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass  # the port is already gone

    def describe(self) -> str:
        return f'serial:{self.port}' + (f' ({self.device_name})' if self.device_name else '')


class SimulatedDriver(HapticDriver):
    """A device for development: a slowly turning force, raised by rumble feedback."""

    kind = 'simulated'

    def __init__(self, rate_hz: float = 100.0, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        super().__init__()
        if not rate_hz > 0:
            raise SensorConfigError(f'rate_hz must be > 0, got {rate_hz}')
        self.period_s = 1.0 / rate_hz
        self.device_name = 'simulated'
        self.feedback: Deque[Feedback] = collections.deque(maxlen=100)
        self._clock = clock
        self._seq = 0
        self._rumble = 0.0
        self._open = False
        self._next = 0.0

    def start(self) -> None:
        self._open = True
        self._next = self._clock()

    def read(self, timeout: float) -> List[Reading]:
        if not self._open:
            raise DeviceLostError('simulated device is closed')
        wait = self._next - self._clock()
        if wait > timeout:
            time.sleep(timeout)
            return []
        if wait > 0:
            time.sleep(wait)
        self._next = max(self._next + self.period_s, self._clock() - self.period_s)
        t = self._seq * self.period_s
        self._seq = (self._seq + 1) % 2 ** 32
        fz = 9.81 * (1.0 + self._rumble)
        return [Reading(self._seq, (math.sin(t), math.cos(t), fz), (0.0, 0.0, 0.1 * math.sin(t)))]

    def send(self, feedback: Sequence[Feedback]) -> None:
        for fb in feedback:
            format_feedback(fb)  # same validation as a real device
            self.feedback.append(fb)
            if fb.kind == 1:
                self._rumble = min(1.0, max(0.0, fb.intensity))

    def stop_feedback(self) -> None:
        self._rumble = 0.0

    def close(self) -> None:
        self._open = False


_ABS_FORCE = ('ABS_X', 'ABS_Y', 'ABS_Z')
_ABS_TORQUE = ('ABS_RX', 'ABS_RY', 'ABS_RZ')


class EvdevDriver(HapticDriver):
    """
    An evdev input device with force feedback (a joystick, a haptic glove's kernel driver).

    Readings come from absolute axes (``ABS_X/Y/Z`` force, ``ABS_RX/RY/RZ`` torque, times
    ``scale``), one per ``SYN_REPORT``; rumble and buzzer feedback become ``FF_RUMBLE``
    effects uploaded once per feedback id and played with the requested magnitude.
    """

    kind = 'evdev'

    def __init__(self, path: str, scale: float = 1.0,
                 open_device: Optional[Callable[[str], Any]] = None) -> None:
        super().__init__()
        self.path = path
        self.scale = scale
        self._open_device = open_device
        self._dev: Optional[Any] = None
        self._axes: Dict[int, float] = {}
        self._effects: Dict[int, int] = {}
        self._seq = 0

    def start(self) -> None:
        if not os.path.exists(self.path):
            raise DeviceNotFoundError(self.path)
        try:
            dev = (self._open_device or InputDevice)(self.path)
        except OSError as exc:
            raise DeviceNotFoundError(self.path, exc.strerror or str(exc)) from None
        ff = dev.capabilities().get(ecodes.EV_FF, [])
        if ecodes.FF_RUMBLE not in ff:
            dev.close()
            raise SensorConfigError(f'{self.path} ({dev.name}) has no FF_RUMBLE force '
                                    'feedback')
        self.device_name = str(dev.name)
        self._dev = dev
        self._axes = {}
        self._effects = {}

    def read(self, timeout: float) -> List[Reading]:
        dev = self._dev
        if dev is None:
            raise DeviceLostError(f'{self.path} is not open')
        try:
            ready, _, _ = select.select([dev.fd], [], [], timeout)
            if not ready:
                return []
            events = list(dev.read())
        except BlockingIOError:
            return []
        except OSError as exc:
            if exc.errno in (errno.ENODEV, errno.EBADF, errno.EIO):
                raise DeviceLostError(f'{self.path}: {exc.strerror}') from None
            raise
        readings = []
        for ev in events:
            if ev.type == ecodes.EV_ABS:
                self._axes[ev.code] = float(ev.value) * self.scale
            elif ev.type == ecodes.EV_SYN and ev.code == ecodes.SYN_REPORT:
                self._seq = (self._seq + 1) % 2 ** 32
                readings.append(Reading(self._seq, self._vector(_ABS_FORCE),
                                        self._vector(_ABS_TORQUE)))
        return readings

    def _vector(self, names: Tuple[str, str, str]) -> Tuple[float, float, float]:
        x, y, z = (self._axes.get(getattr(ecodes, n), 0.0) for n in names)
        return (x, y, z)

    def send(self, feedback: Sequence[Feedback]) -> None:
        dev = self._dev
        if dev is None:
            raise DeviceLostError(f'{self.path} is not open')
        for fb in feedback:
            format_feedback(fb)  # same validation as the serial protocol
            if fb.kind == 0:
                continue  # LEDs are not force feedback
            magnitude = int(round(min(1.0, max(0.0, fb.intensity)) * 0xFFFF))
            effect = ff.Effect(ecodes.FF_RUMBLE, self._effects.get(fb.feedback_id, -1), 0,
                               ff.Trigger(0, 0), ff.Replay(0xFFFF, 0),
                               ff.EffectType(ff_rumble_effect=ff.Rumble(magnitude, magnitude)))
            try:
                self._effects[fb.feedback_id] = dev.upload_effect(effect)
                dev.write(ecodes.EV_FF, self._effects[fb.feedback_id], 1 if magnitude else 0)
            except OSError as exc:
                raise DeviceLostError(f'{self.path}: force feedback failed: {exc}') from None

    def stop_feedback(self) -> None:
        dev = self._dev
        if dev is None:
            return
        for effect_id in self._effects.values():
            try:
                dev.write(ecodes.EV_FF, effect_id, 0)
                dev.erase_effect(effect_id)
            except OSError:
                pass  # the device is gone: nothing is playing any more
        self._effects = {}

    def close(self) -> None:
        dev, self._dev = self._dev, None
        if dev is not None:
            try:
                dev.close()
            except OSError:
                pass

    def describe(self) -> str:
        return f'evdev:{self.path}' + (f' ({self.device_name})' if self.device_name else '')
