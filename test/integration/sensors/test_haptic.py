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
"""The haptic serial driver over a real pty, and the node as a process (the rest: unit)."""

import errno
import json
import os
import select
import threading
import time
import tty

from geometry_msgs.msg import WrenchStamped
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JoyFeedback, JoyFeedbackArray
import sensor_support
from sensor_support import start_kernel_with_module, start_node, wait_state
from std_msgs.msg import String
import support

from unity_sensors.errors import DeviceNotFoundError, SensorError
from unity_sensors.haptic.drivers import SerialDriver
from unity_sensors.haptic.protocol import Feedback, format_reading, LineBuffer, Reading
from unity_sensors.sensor_node import sensor_qos

READING = Reading(0, (1.5, -2.0, 9.81), (0.1, 0.2, 0.3))


class Firmware:
    """The device end of a real pty pair, playing the firmware: answers HELLO, streams F."""

    def __init__(self, period_s: float = 0.02, answer_hello: bool = True) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.period_s = period_s
        self.answer_hello = answer_hello
        self.streaming = threading.Event()
        self.paused = threading.Event()
        self.received: list = []
        self.seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def _run(self) -> None:
        buf = LineBuffer(4096)
        next_send = time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.005)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError as exc:
                    if exc.errno == errno.EIO:  # nobody has the port open right now
                        time.sleep(0.01)
                        continue
                    raise
                for line in buf.feed(data):
                    self.received.append(line.decode())
                    if line == b'HELLO' and self.answer_hello:
                        self.write(b'HELLO testfw 1\n')
                        self.streaming.set()
            if self.streaming.is_set() and not self.paused.is_set() and \
                    time.monotonic() >= next_send:
                self.seq += 1
                self.write(format_reading(Reading(self.seq, READING.force, READING.torque)))
                next_send = time.monotonic() + self.period_s

    def lines(self, prefix: str) -> list:
        return [line for line in list(self.received) if line.startswith(prefix)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def firmware():
    fw = Firmware()
    yield fw
    fw.close()


def test_serial_driver_handshakes_reads_and_writes_over_a_real_pty(firmware):
    driver = SerialDriver(firmware.port, handshake_timeout_s=5)
    driver.start()
    assert driver.device_name == 'testfw' and firmware.received[0] == 'HELLO'
    readings = []
    support.wait_for(lambda: readings.extend(driver.read(0.1)) or len(readings) >= 3, 10,
                     message='readings')
    assert readings[0].force == READING.force and readings[0].torque == READING.torque
    assert [r.seq for r in readings] == list(range(readings[0].seq,
                                                   readings[0].seq + len(readings)))
    driver.send([Feedback(1, 1, 0.25), Feedback(3, 0, 1.0)])
    driver.stop_feedback()
    support.wait_for(lambda: firmware.lines('STOP'), 5, message='STOP at the firmware')
    assert firmware.lines('FB') == ['FB 1 1 0.250', 'FB 3 0 1.000']
    firmware.write(b'garbage line\n')
    support.wait_for(lambda: driver.read(0.1) is not None and driver.bad_lines, 5,
                     message='the bad line counted')
    assert "unknown message 'garbage'" in driver.last_bad_line
    firmware.write(b'E motor stalled\n')
    with pytest.raises(SensorError, match='the device reports a fault: motor stalled'):
        for _ in range(50):
            driver.read(0.1)
    driver.close()


def test_serial_driver_errors_are_clear():
    with pytest.raises(DeviceNotFoundError, match='^device not found: /dev/ttyNOPE$'):
        SerialDriver('/dev/ttyNOPE').start()
    silent = Firmware(answer_hello=False)
    try:
        with pytest.raises(SensorError, match=f'no handshake answer from {silent.port} '
                                              'within 0.3 s'):
            SerialDriver(silent.port, handshake_timeout_s=0.3).start()
    finally:
        silent.close()


# -- the node, as a process ------------------------------------------------------------------

def start_haptic(processes, ros_env, tmp_path, *params):
    return start_node(processes, ros_env, tmp_path, 'unity_sensors.haptic.node', *params)


def bring_up(probe, activate=True):
    return sensor_support.bring_up(probe, 'haptic', activate=activate)


def feedback(*items):
    return JoyFeedbackArray(array=[JoyFeedback(type=t, id=i, intensity=x) for t, i, x in items])


RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


@pytest.mark.ros
def test_serial_haptic_publishes_wrenches_and_writes_feedback_to_the_device(
        processes, ros_env, tmp_path, probe, firmware):
    start_haptic(processes, ros_env, tmp_path, 'driver:=serial', f'port:={firmware.port}',
                 'frame_id:=glove')
    wrenches = probe.collect('/haptic/wrench', WrenchStamped, sensor_qos(100))
    pub = probe.node.create_publisher(JoyFeedbackArray, '/safety/haptic/feedback', RELIABLE)
    assert bring_up(probe)
    assert firmware.received[0] == 'HELLO'
    support.wait_for(lambda: len(wrenches) >= 5, 20, message='wrenches')
    w = wrenches[-1]
    assert w.header.frame_id == 'glove'
    assert (w.wrench.force.x, w.wrench.force.y, w.wrench.force.z) == READING.force
    assert (w.wrench.torque.x, w.wrench.torque.y, w.wrench.torque.z) == READING.torque
    support.wait_for(lambda: pub.get_subscription_count() > 0, 10, message='subscriber')
    pub.publish(feedback((JoyFeedback.TYPE_RUMBLE, 1, 0.5), (JoyFeedback.TYPE_LED, 0, 1.0)))
    support.wait_for(lambda: firmware.lines('FB'), 10, message='feedback at the device')
    assert firmware.lines('FB') == ['FB 1 1 0.500', 'FB 0 0 1.000']
    assert probe.change_state('haptic', 'deactivate')
    assert firmware.received[-1] == 'STOP'   # feedback off before the port is released
    pub.publish(feedback((JoyFeedback.TYPE_RUMBLE, 1, 0.9)))   # inactive: refused
    time.sleep(0.5)
    assert firmware.lines('FB') == ['FB 1 1 0.500', 'FB 0 0 1.000']


@pytest.mark.ros
def test_stale_device_is_reported_and_the_node_goes_to_error(processes, ros_env, tmp_path,
                                                             probe, firmware):
    proc = start_haptic(processes, ros_env, tmp_path, 'driver:=serial',
                        f'port:={firmware.port}', 'stale_timeout_s:=0.5')
    wrenches = probe.collect('/haptic/wrench', WrenchStamped, sensor_qos(100))
    assert bring_up(probe)
    support.wait_for(lambda: len(wrenches) >= 3, 20, message='wrenches')
    firmware.paused.set()   # the device stops talking
    wait_state(probe, 'haptic', 'unconfigured')
    out = proc.wait_output('error state (from')
    assert 'no data from the device for 0.5 s' in out
    assert firmware.received[-1] == 'STOP'
    firmware.paused.clear()
    assert bring_up(probe)   # the kernel (here the probe) can bring it back


@pytest.mark.ros
@pytest.mark.parametrize('params,transition,message', [
    (['driver:=serial', 'port:=/dev/ttyNOPE'], 'activate', 'device not found: /dev/ttyNOPE'),
    (['feedback_topic:=/haptic/feedback'], 'configure',
     "feedback_topic '/haptic/feedback' must be under /safety/"),
    (['driver:=usb'], 'configure', "unknown haptic driver 'usb'"),
    # regression: reached pyserial, whose ValueError rclpy made an error without a word
    (['driver:=serial', 'baud:=-5'], 'configure', 'baud must be in (0, 4e+06] baud, got -5'),
    (['rate_hz:=0.0'], 'configure', 'rate_hz must be in (0, 10000] Hz, got 0.0'),
])
def test_bad_parameters_fail_with_a_clear_error(processes, ros_env, tmp_path, probe, params,
                                                transition, message):
    proc = start_haptic(processes, ros_env, tmp_path, *params)
    wait_state(probe, 'haptic', 'unconfigured')
    if transition == 'activate':
        assert probe.change_state('haptic', 'configure')
    assert not probe.change_state('haptic', transition)
    proc.wait_output(message)
    assert proc.proc.poll() is None


@pytest.mark.ros
def test_kernel_runs_haptic_as_a_module_and_feedback_is_critical(processes, ros_env, tmp_path,
                                                                 probe, firmware):
    echo = probe.collect('/unity_kernel/events', String)
    wrenches = probe.collect('/haptic/wrench', WrenchStamped, sensor_qos(100))
    start_kernel_with_module(processes, ros_env, tmp_path, 'haptic',
                             {'driver': 'serial', 'port': firmware.port}, event_echo=True)
    support.wait_for(lambda: len(wrenches) >= 3, 60, message='the kernel to activate haptic')
    pub = probe.node.create_publisher(JoyFeedbackArray, '/safety/haptic/feedback', RELIABLE)
    events = []

    def critical_feedback():
        events.extend(json.loads(m.data) for m in echo[len(events):])
        return [e for e in events if e['topic'] == '/safety/haptic/feedback']
    # keep sending until the kernel has mapped the topic (it scans the graph periodically)
    for i in range(100):
        pub.publish(feedback((JoyFeedback.TYPE_RUMBLE, 2, 0.25)))
        if critical_feedback():
            break
        time.sleep(0.2)
    seen = critical_feedback()
    assert seen and all(e['tier'] == 'CRITICAL' for e in seen)
    assert seen[0]['type'] == 'sensor_msgs/msg/JoyFeedbackArray'
    support.wait_for(lambda: 'FB 2 1 0.250' in firmware.lines('FB'), 10,
                     message='the feedback at the device')
