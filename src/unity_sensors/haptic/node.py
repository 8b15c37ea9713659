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
The haptic node (``haptic`` executable): force/touch readings in, feedback commands out.

Readings from the driver (``drivers``: ``serial``, ``evdev`` or ``simulated``) are
published as ``geometry_msgs/WrenchStamped`` on ``~/wrench`` (sensor-data QoS). Feedback
commands arrive as ``sensor_msgs/JoyFeedbackArray`` on ``feedback_topic``, which must lie
under ``/safety/``: the kernel's topic rules map ``/safety/**`` to the CRITICAL tier (reliable,
never dropped, handled first), so every feedback command is on the kernel's CRITICAL path and
in its event stream; the node subscribes reliably too. Feedback is applied only while
active; deactivation, errors and shutdown send ``STOP`` to the device first.

No reading within ``stale_timeout_s`` (default 1 s) is a stale device: reported on
``/diagnostics`` and the node goes through ``on_error`` to ``unconfigured``.

Parameters: ``driver`` (``simulated``), ``port``, ``baud``, ``handshake_timeout_s``,
``evdev_path``, ``evdev_scale``, ``rate_hz`` (simulated), ``feedback_topic``, ``frame_id``
and the :class:`SensorNode` ones.
"""

import sys
import threading
from typing import Any, List, Optional

from geometry_msgs.msg import WrenchStamped
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JoyFeedbackArray

from unity_kernel_core.ros import callbacks
from unity_kernel_core.ros.parameters import in_range, ParamSpec
from unity_sensors.errors import SensorConfigError, SensorError
from unity_sensors.haptic.drivers import EvdevDriver, HapticDriver, SerialDriver
from unity_sensors.haptic.drivers import SimulatedDriver
from unity_sensors.haptic.protocol import Feedback, Reading
from unity_sensors.sensor_node import run_node, sensor_qos, SensorNode

SAFETY_PREFIX = '/safety/'
FEEDBACK_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                          history=HistoryPolicy.KEEP_LAST)
"""Reliable like the kernel's CRITICAL tier: feedback commands are not dropped."""


def make_driver(kind: str, node: 'SensorNode') -> HapticDriver:
    """Build the driver a ``driver`` parameter names (nothing is opened)."""
    p = node.get_parameter
    if kind == 'serial':
        return SerialDriver(str(p('port').value), int(p('baud').value),
                            float(p('handshake_timeout_s').value))
    if kind == 'evdev':
        return EvdevDriver(str(p('evdev_path').value), float(p('evdev_scale').value))
    if kind == 'simulated':
        return SimulatedDriver(float(p('rate_hz').value))
    raise SensorConfigError(f"unknown haptic driver {kind!r}: expected 'serial', 'evdev' or "
                            "'simulated'")


PARAMETERS = [
    ParamSpec('driver', 'simulated', 'Device driver: serial, evdev or simulated.'),
    ParamSpec('port', '/dev/ttyUSB0', "Serial driver: the device's port."),
    ParamSpec('baud', 115200, 'Serial driver: baud rate.',
              check=in_range(0, 4_000_000, unit=' baud')),
    ParamSpec('handshake_timeout_s', 2.0, "Serial driver: seconds to wait for the device's "
              'HELLO.', check=in_range(0, 60, unit=' s')),
    ParamSpec('evdev_path', '/dev/input/event0', 'Evdev driver: the input device.'),
    ParamSpec('evdev_scale', 1.0, 'Evdev driver: axis value to newtons.',
              check=in_range(-1e6, 1e6, low_open=False)),
    ParamSpec('rate_hz', 100.0, 'Simulated driver: readings per second.',
              check=in_range(0, 10_000, unit=' Hz')),
    ParamSpec('feedback_topic', '/safety/haptic/feedback', 'Feedback commands '
              '(JoyFeedbackArray), under /safety/ so the kernel handles them CRITICAL.'),
]


class HapticNode(SensorNode):
    """A lifecycle haptic device driver."""

    sensor_name = 'haptic'
    default_stale_timeout_s = 1.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('haptic', **kwargs)
        self.declare_specs(PARAMETERS)
        self.driver: Optional[HapticDriver] = None
        self._wrench_pub: Optional[Any] = None
        self._feedback_sub: Optional[Any] = None
        self._last_seq: Optional[int] = None
        self._feedback_lock = threading.Lock()
        self.feedback_sent = 0
        self.feedback_refused = 0

    # -- SensorNode hooks ------------------------------------------------------------------

    def configure_sensor(self) -> None:
        topic = str(self.get_parameter('feedback_topic').value)
        if not topic.startswith(SAFETY_PREFIX):
            raise SensorConfigError(
                f'feedback_topic {topic!r} must be under {SAFETY_PREFIX} so that the kernel '
                'handles feedback commands at the CRITICAL tier')
        if float(self.get_parameter('stale_timeout_s').value) <= 0:
            raise SensorConfigError('stale_timeout_s must be > 0 for a haptic device')
        self.driver = make_driver(str(self.get_parameter('driver').value), self)
        self._wrench_pub = self.create_lifecycle_publisher(WrenchStamped, '~/wrench',
                                                           sensor_qos())
        self._feedback_sub = callbacks.subscribe(self, JoyFeedbackArray, topic,
                                                 self._on_feedback, FEEDBACK_QOS)

    def open_sensor(self) -> None:
        assert self.driver is not None
        self.driver.start()
        self._last_seq = None

    def read_sample(self) -> Optional[List[Reading]]:
        assert self.driver is not None
        readings = self.driver.read(0.1)
        for r in readings:
            if self._last_seq is not None:
                gap = (r.seq - self._last_seq - 1) % 2 ** 32
                if 0 < gap < 2 ** 31:
                    self.counters.add(dropped=gap)  # lost between device and host
            self._last_seq = r.seq
        return readings or None

    def handle_sample(self, readings: List[Reading]) -> None:
        stamp = self.get_clock().now().to_msg()
        for r in readings:
            msg = WrenchStamped()
            msg.header.stamp = stamp
            msg.header.frame_id = self.frame_id
            msg.wrench.force.x, msg.wrench.force.y, msg.wrench.force.z = r.force
            msg.wrench.torque.x, msg.wrench.torque.y, msg.wrench.torque.z = r.torque
            if self._wrench_pub is not None:
                self._wrench_pub.publish(msg)

    def close_sensor(self) -> None:
        driver = self.driver
        if driver is None:
            return
        with self._feedback_lock:
            try:
                driver.stop_feedback()
            except SensorError as exc:
                self.get_logger().warning(f'could not stop feedback on close: {exc}')
            driver.close()

    def cleanup_sensor(self) -> None:
        if self._feedback_sub is not None:
            self.destroy_subscription(self._feedback_sub)
            self._feedback_sub = None
        if self._wrench_pub is not None:
            self.destroy_lifecycle_publisher(self._wrench_pub)
            self._wrench_pub = None
        self.driver = None

    def describe_source(self) -> str:
        return self.driver.describe() if self.driver is not None else \
            str(self.get_parameter('driver').value)

    def sensor_diagnostics(self) -> dict:
        driver = self.driver
        return {'driver': self.describe_source(), 'feedback_sent': self.feedback_sent,
                'feedback_refused': self.feedback_refused,
                'bad_lines': driver.bad_lines if driver else 0,
                'last_bad_line': driver.last_bad_line if driver else ''}

    # -- feedback --------------------------------------------------------------------------

    def _on_feedback(self, msg: JoyFeedbackArray) -> None:
        commands = [Feedback(int(f.id), int(f.type), float(f.intensity)) for f in msg.array]
        driver = self.driver
        worker = self.worker
        if self.state_label != 'active' or driver is None or \
                (worker is not None and worker.reconnecting):
            self.feedback_refused += len(commands)
            self.get_logger().warning(f'{len(commands)} feedback command(s) refused '
                                      f'({self.state_label}, device '
                                      f'{"reconnecting" if worker else "closed"})')
            return
        try:
            with self._feedback_lock:
                driver.send(commands)
        except SensorError as exc:
            self.feedback_refused += len(commands)
            self.counters.error(exc)
            self.get_logger().error(f'feedback not delivered: {exc}')
            return
        self.feedback_sent += len(commands)


def main(args: Optional[List[str]] = None) -> int:
    """Run the haptic node (``ros2 run unity_kernel haptic``)."""
    return run_node(HapticNode, args)


if __name__ == '__main__':
    sys.exit(main())
