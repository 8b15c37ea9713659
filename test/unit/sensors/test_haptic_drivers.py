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

"""The haptic drivers without a device: the simulated one, and evdev over a stand-in device."""

import errno
import os

import pytest

from unity_sensors.errors import DeviceLostError, DeviceNotFoundError, SensorConfigError
from unity_sensors.haptic.drivers import EvdevDriver, SimulatedDriver
from unity_sensors.haptic.protocol import Feedback


def test_simulated_driver_streams_and_reacts_to_rumble():
    driver = SimulatedDriver(200.0)
    driver.start()
    before = [r for _ in range(5) for r in driver.read(0.1)]
    driver.send([Feedback(0, 1, 1.0)])
    after = [r for _ in range(5) for r in driver.read(0.1)]
    assert before and after
    assert before[-1].force[2] == pytest.approx(9.81) and after[-1].force[2] == \
        pytest.approx(19.62)
    assert list(driver.feedback) == [Feedback(0, 1, 1.0)]
    driver.close()
    with pytest.raises(DeviceLostError):
        driver.read(0.1)


class FakeEvdevDevice:
    """Stands in for evdev.InputDevice: /dev/uinput does not exist on these machines."""

    name = 'fake glove'

    def __init__(self, ff=True) -> None:
        from evdev import ecodes
        self.rfd, self.wfd = os.pipe()
        self.fd = self.rfd
        self._caps = {ecodes.EV_FF: [ecodes.FF_RUMBLE]} if ff else {}
        self.events: list = []
        self.uploaded: list = []
        self.written: list = []
        self.erased: list = []
        self.gone = False

    def capabilities(self):
        return self._caps

    def push(self, *events):
        self.events.extend(events)
        os.write(self.wfd, b'x')

    def read(self):
        if self.gone:
            raise OSError(errno.ENODEV, 'No such device')
        os.read(self.rfd, 1)
        events, self.events = self.events, []
        return events

    def upload_effect(self, effect):
        self.uploaded.append((effect.type, effect.id, effect.u.ff_rumble_effect.strong_magnitude))
        return 5 if effect.id == -1 else effect.id

    def write(self, etype, code, value):
        self.written.append((etype, code, value))

    def erase_effect(self, effect_id):
        self.erased.append(effect_id)

    def close(self):
        os.close(self.rfd)
        os.close(self.wfd)


def test_evdev_driver_reads_axes_and_plays_rumble(tmp_path):
    from evdev import ecodes, InputEvent
    path = tmp_path / 'event7'
    path.write_text('')
    dev = FakeEvdevDevice()
    driver = EvdevDriver(str(path), scale=0.5, open_device=lambda p: dev)
    driver.start()
    assert driver.describe() == f'evdev:{path} (fake glove)'
    dev.push(InputEvent(0, 0, ecodes.EV_ABS, ecodes.ABS_X, 10),
             InputEvent(0, 0, ecodes.EV_ABS, ecodes.ABS_RZ, -4),
             InputEvent(0, 0, ecodes.EV_SYN, ecodes.SYN_REPORT, 0))
    readings = driver.read(1.0)
    assert len(readings) == 1
    assert readings[0].force == (5.0, 0.0, 0.0) and readings[0].torque == (0.0, 0.0, -2.0)
    driver.send([Feedback(1, 1, 0.5), Feedback(2, 0, 1.0)])   # LED: not force feedback
    driver.send([Feedback(1, 1, 0.0)])
    assert dev.uploaded == [(ecodes.FF_RUMBLE, -1, 32768), (ecodes.FF_RUMBLE, 5, 0)]
    assert dev.written == [(ecodes.EV_FF, 5, 1), (ecodes.EV_FF, 5, 0)]
    driver.stop_feedback()
    assert dev.erased == [5]
    dev.gone = True
    dev.push()
    with pytest.raises(DeviceLostError, match='No such device'):
        driver.read(1.0)
    driver.close()


def test_evdev_driver_refuses_a_device_without_force_feedback(tmp_path):
    path = tmp_path / 'event3'
    path.write_text('')
    dev = FakeEvdevDevice(ff=False)
    with pytest.raises(SensorConfigError, match='has no FF_RUMBLE force feedback'):
        EvdevDriver(str(path), open_device=lambda p: dev).start()
    with pytest.raises(DeviceNotFoundError, match='device not found: /dev/input/nope'):
        EvdevDriver('/dev/input/nope').start()


class FakeSerial:
    """Stands in for serial.Serial: answers HELLO with what ``script`` says, read by read."""

    def __init__(self, script):
        self.script = list(script)
        self.timeout = 0.05
        self.sent = []

    @property
    def in_waiting(self):
        return len(self.script[0]) if self.script else 0

    def read(self, size):
        return self.script.pop(0) if self.script and self.sent else b''

    def write(self, data):
        self.sent.append(data)

    def flush(self):
        pass

    def close(self):
        pass


def test_a_device_babbling_before_its_handshake_still_handshakes(tmp_path):
    """Regression: an over-long line before HELLO failed the start instead of being noise."""
    from unity_sensors.haptic.drivers import SerialDriver
    port = tmp_path / 'ttyFAKE'
    port.write_text('')
    fake = FakeSerial([b'\xff' * 3000, b'\nboot noise\nHELLO glove 1\n',
                       b'F 1 0 0 9.8 0 0 0\n' + b'#' * 900 + b'\nF 2 0 0 9.9 0 0 0\n'])
    driver = SerialDriver(str(port), handshake_timeout_s=2.0,
                          open_port=lambda *args, **kwargs: fake)
    driver.start()
    assert driver.device_name == 'glove'
    assert [r.seq for r in driver.read(0.05)] == [1, 2]
    assert driver.bad_lines == 1 and 'line longer' in driver.last_bad_line
