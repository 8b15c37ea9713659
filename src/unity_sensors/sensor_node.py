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
The base of the sensor nodes: one lifecycle pattern, one capture thread, one diagnostics shape.

A sensor node derives from :class:`SensorNode` and fills in a few hooks; the base owns the
lifecycle, the threads, the counters, ``/diagnostics`` and the error state::

    class Thermometer(SensorNode):
        sensor_name = 'thermometer'

        def configure_sensor(self) -> None:          # configure: parameters, publishers;
            self.port = self.declare_parameter('port', '/dev/ttyUSB0').value
            self.pub = self.create_lifecycle_publisher(Temperature, '~/temp', sensor_qos())

        def open_sensor(self) -> None:               # activate: open the device (may raise
            self.dev = open_thermometer(self.port)   # DeviceNotFoundError: activation fails)

        def read_sample(self) -> Optional[float]:    # capture thread: block briefly, return a
            return self.dev.read(timeout=0.1)        # sample or None; DeviceLostError: reopen

        def handle_sample(self, celsius: float) -> None:  # publish thread: convert, publish
            self.pub.publish(Temperature(temperature=celsius))

        def close_sensor(self) -> None:              # deactivate / error: release the device
            self.dev.close()

    def main(args=None) -> int:
        return run_node(Thermometer, args)

What the base does:

- ``configure`` calls :meth:`configure_sensor` (read and check parameters, create
  publishers: nothing expensive, no device); a :class:`SensorError` fails the transition with
  its message in the log. ``cleanup`` calls :meth:`cleanup_sensor` and destroys the publishers.
- ``activate`` calls :meth:`open_sensor`, activates the lifecycle publishers and starts a
  :class:`~unity_sensors.capture.CaptureWorker`: a capture thread calling :meth:`read_sample`
  and a publish thread calling :meth:`handle_sample`, joined by a bounded drop-oldest queue
  (``queue_size`` parameter), so the executor never blocks on the device. A device that is
  lost while active (:class:`DeviceLostError` from ``read_sample``) is closed and reopened
  with backoff (:meth:`open_sensor` again) until it is back. Sources that push samples from
  a callback set ``use_capture_thread = False`` and call ``self.worker.put(sample)``.
- ``deactivate`` stops the threads and calls :meth:`close_sensor`.
- Faults (any other exception in a thread, or no sample within :meth:`stale_deadline_s`,
  by default the ``stale_timeout_s`` parameter) put the
  node in the lifecycle error state: the executor runs a deactivate transition that returns
  ERROR, ``on_error`` releases everything and the node ends up ``unconfigured``, which the
  kernel's supervisor sees and acts on (restart with backoff). :meth:`fail` does the same
  from a subclass.
- ``/diagnostics`` (``diagnostic_msgs/DiagnosticArray``) every ``diagnostics_period_s``: one
  status ``<node>: <sensor_name>`` with the lifecycle state, captured/published/dropped/late/
  errors/reopens counts, rates, the age of the last sample and :meth:`sensor_diagnostics`;
  OK, WARN (samples dropped or late since the last report) or ERROR (reconnecting, stale,
  faulted).
- Parameters are declared from specs (``self.declare_specs([ParamSpec(...)])``, see
  :mod:`unity_kernel_core.ros.parameters`): live ones are checked by their spec and by
  :meth:`check_parameter` (return an error text to reject) and applied by
  :meth:`parameters_changed` (called after they are set); those read at configure are
  refused while configured; ``autostart`` is read-only.
- Common parameters: ``frame_id``, ``queue_size``, ``stale_timeout_s`` (0: off),
  ``diagnostics_period_s``, ``autostart`` (configure and activate on start, for use without
  the kernel).
"""

import logging
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data, QoSProfile

from unity_kernel_core.common.backoff import ExponentialBackoff
from unity_kernel_core.ros import callbacks, lifecycle_base
from unity_kernel_core.ros.diagnostics import ERROR, OK, status, WARN
from unity_kernel_core.ros.lifecycle_base import ManagedLifecycleNode
from unity_kernel_core.ros.parameters import Applies, ParamSpec
from unity_sensors.capture import CaptureWorker, Counters
from unity_sensors.errors import SensorConfigError, SensorError, StaleDeviceError

_LOG = logging.getLogger('unity_kernel.sensors')


def sensor_qos(depth: int = 5) -> QoSProfile:
    """Return the sensor-data QoS (best effort, volatile, keep last ``depth``)."""
    profile = QoSProfile(depth=depth)
    profile.reliability = qos_profile_sensor_data.reliability
    profile.durability = qos_profile_sensor_data.durability
    profile.history = qos_profile_sensor_data.history
    return profile


def _at_least(low: float, note: str = '', strict: bool = False) -> Callable[[Any], Optional[str]]:
    def check(value: Any) -> Optional[str]:
        if float(value) > low or (not strict and float(value) == low):
            return None
        return f'must be {">" if strict else ">="} {low:g}{note}, got {value}'
    return check


def common_parameters(node_name: str, stale_timeout_s: float) -> List[ParamSpec]:
    """Return the parameters every sensor node has."""
    return [
        ParamSpec('frame_id', node_name, 'header.frame_id of the published messages.',
                  Applies.LIVE),
        ParamSpec('queue_size', 2, 'Bound of the queue between the capture and publish '
                  'threads (drop-oldest), >= 1.', Applies.CONFIGURE, _at_least(1)),
        ParamSpec('stale_timeout_s', float(stale_timeout_s), 'Seconds the device may stay '
                  'silent while active before the node goes to the error state; 0: no '
                  'deadline.', Applies.LIVE, _at_least(0, ' (0: no deadline)')),
        ParamSpec('diagnostics_period_s', 1.0, 'Seconds between /diagnostics reports, > 0.',
                  Applies.LIVE, _at_least(0, strict=True)),
        ParamSpec('autostart', False, 'Configure and activate at start (for use without the '
                  'kernel).', Applies.START),
    ]


class SensorNode(ManagedLifecycleNode):
    """A lifecycle sensor node: subclasses implement the ``*_sensor`` and ``*_sample`` hooks."""

    shutdown_message = 'shutting down: releasing the device'
    exit_when_finalized = True

    sensor_name = 'sensor'
    """Short name used in diagnostics and thread names."""
    use_capture_thread = True
    """False for sources that push samples themselves (``self.worker.put``)."""
    default_stale_timeout_s = 0.0
    """Default of the ``stale_timeout_s`` parameter (0: no deadline)."""

    def __init__(self, node_name: str, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.declare_specs(common_parameters(node_name, self.default_stale_timeout_s))
        self.counters = Counters()
        self.worker: Optional[CaptureWorker] = None
        self._fault: Optional[BaseException] = None
        self._fault_lock = threading.Lock()
        self._failing = False
        self._diag_pub: Optional[Any] = None
        self._diag_timer: Optional[Any] = None
        self._watch_timer: Optional[Any] = None
        self._prev: Dict[str, Any] = {}
        self._prev_time = time.monotonic()
        self._activated_at = 0.0

    # -- hooks for subclasses ----------------------------------------------------------------

    def configure_sensor(self) -> None:
        """Read and check parameters, create publishers (raise SensorError when invalid)."""

    def open_sensor(self) -> None:
        """Open the device (raise DeviceNotFoundError / SensorError when it cannot be)."""

    def read_sample(self) -> Any:
        """Return the next sample, or None when none arrived yet (capture thread; brief)."""
        raise NotImplementedError

    def handle_sample(self, sample: Any) -> None:
        """Convert and publish one sample (publish thread)."""
        raise NotImplementedError

    def close_sensor(self) -> None:
        """Release the device (must not raise when it is already gone)."""

    def cleanup_sensor(self) -> None:
        """Release what :meth:`configure_sensor` made (lifecycle publishers are destroyed)."""

    def sensor_diagnostics(self) -> Dict[str, object]:
        """Return extra key/values for the diagnostics status."""
        return {}

    def stale_deadline_s(self) -> float:
        """Return how long the device may stay silent while active (0: no deadline)."""
        return float(self.get_parameter('stale_timeout_s').value)

    def parameters_changed(self, params: List[Parameter]) -> None:
        """Apply parameters that were just set while configured (executor thread)."""

    # -- helpers for subclasses ----------------------------------------------------------------

    @property
    def frame_id(self) -> str:
        """Return the ``frame_id`` parameter."""
        return str(self.get_parameter('frame_id').value)

    def fail(self, exc: BaseException) -> None:
        """Put the node into the lifecycle error state (any thread; acted on by the executor)."""
        with self._fault_lock:
            if self._fault is None:
                self._fault = exc
        self.counters.error(exc)

    # -- lifecycle -------------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._check_common_parameters()
            self.configure_sensor()
        except SensorError as exc:
            self.get_logger().error(f'configure failed: {exc}')
            self._release(cleanup=True)
            return TransitionCallbackReturn.FAILURE
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        period = float(self.get_parameter('diagnostics_period_s').value)
        self._diag_timer = callbacks.timer(self, period, self._publish_diagnostics)
        self._watch_timer = callbacks.timer(self, 0.1, self._watch)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._fault_lock:
            self._fault = None
        self._failing = False
        self.counters.reset()
        try:
            self.open_sensor()
        except SensorError as exc:
            self.get_logger().error(f'activate failed: {exc}')
            self.counters.error(exc)
            return TransitionCallbackReturn.FAILURE
        result = super().on_activate(state)
        self.worker = CaptureWorker(
            f'{self.get_name()}-{self.sensor_name}', self.handle_sample,
            read=self.read_sample if self.use_capture_thread else None,
            reopen=self.open_sensor, close=self.close_sensor, on_fault=self.fail,
            counters=self.counters, queue_size=int(self.get_parameter('queue_size').value),
            backoff=ExponentialBackoff(0.1, 2.0))
        self._activated_at = time.monotonic()
        self.worker.start()
        self.get_logger().info(f'active: {self.describe_source()}')
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_worker()
        self._close_quietly()
        result = super().on_deactivate(state)
        if self._failing:
            return TransitionCallbackReturn.ERROR
        return result

    def halt(self) -> None:
        """Stop the threads and release the device (shutdown, error)."""
        self._stop_worker()
        self._close_quietly()

    def release(self) -> None:
        """Release what configure made: timers, publishers, :meth:`cleanup_sensor`."""
        self._release(cleanup=True)
        self._failing = False

    def error_message(self, state: LifecycleState) -> str:
        """Return the error line: the fault, and that the device is released."""
        reason = self._fault or 'a transition failed'
        return (f'error state (from {state.label}): {reason}; releasing the device, going to '
                'unconfigured')

    def on_exit(self) -> None:
        """Stop the threads and release the device when the process ends."""
        self.stop()

    def describe_source(self) -> str:
        """Return a one-line description of what the sensor reads (for the log)."""
        return self.sensor_name

    def stop(self) -> None:
        """Stop the threads and release the device (process exit without a transition)."""
        self._stop_worker()
        self._close_quietly()

    # -- internals -------------------------------------------------------------------------

    def _check_common_parameters(self) -> None:
        issues = self.parameter_issues()
        if issues:
            raise SensorConfigError('; '.join(issues))

    def _stop_worker(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None and not worker.stop():
            self.get_logger().error('capture threads did not stop within 5 s')

    def _close_quietly(self) -> None:
        try:
            self.close_sensor()
        except Exception as exc:  # the device may be gone; say so and go on
            self.get_logger().warning(f'closing the device: {exc}')

    def _release(self, cleanup: bool) -> None:
        if cleanup:
            try:
                self.cleanup_sensor()
            except Exception as exc:  # keep releasing the rest, but say so
                self.get_logger().error(f'cleanup failed: {exc}')
        for timer in (self._diag_timer, self._watch_timer):
            if timer is not None:
                self.destroy_timer(timer)
        self._diag_timer = self._watch_timer = None
        if self._diag_pub is not None:
            self.destroy_publisher(self._diag_pub)
            self._diag_pub = None

    def _watch(self) -> None:
        """Turn faults and staleness into the error state (executor thread)."""
        if self.state_label != 'active' or self._failing:
            return
        stale = self.stale_deadline_s()
        if stale > 0 and self._fault is None:
            last = self.counters.last_sample or self._activated_at
            if time.monotonic() - last > stale:
                self.fail(StaleDeviceError(f'no data from the device for {stale:g} s '
                                           '(stale deadline)'))
        if self._fault is not None:
            self.get_logger().error(f'{self.sensor_name} fault: {self._fault}')
            self._failing = True
            self._publish_diagnostics()
            self.trigger_deactivate()

    def _publish_diagnostics(self) -> None:
        if self._diag_pub is None:
            return
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status.append(self.diagnostic_status())
        self._diag_pub.publish(array)

    def diagnostic_status(self) -> DiagnosticStatus:
        """Return this sensor's diagnostics status now."""
        now = time.monotonic()
        snap = self.counters.snapshot()
        prev, self._prev = self._prev, snap
        dt, self._prev_time = max(1e-6, now - self._prev_time), now
        values: Dict[str, object] = {'state': self.state_label}
        for key in ('captured', 'published', 'dropped', 'late', 'errors', 'reopens'):
            values[key] = snap[key]
        values['rate_hz'] = f'{(snap["published"] - prev.get("published", 0)) / dt:.1f}'
        age = now - snap['last_sample'] if snap['last_sample'] is not None else None
        values['last_sample_age_s'] = f'{age:.3f}' if age is not None else 'never'
        values['last_error'] = snap['last_error']
        values['callback_errors'] = callbacks.ERRORS.total
        values.update(self.sensor_diagnostics())
        worker = self.worker
        problems = []
        level = OK
        if self._fault is not None:
            level, problems = ERROR, [f'fault: {self._fault}']
        elif worker is not None and worker.reconnecting:
            level, problems = ERROR, [f'device lost, reopening: {snap["last_error"]}']
        else:
            for key in ('dropped', 'late'):
                delta = snap[key] - prev.get(key, 0)
                if delta > 0:
                    level = WARN
                    problems.append(f'{delta} {key}')
        if self.state_label != 'active' and level == OK:
            problems = [self.state_label]
        message = '; '.join(problems) if problems else f'active, {values["rate_hz"]} Hz'
        return status(f'{self.get_name()}: {self.sensor_name}', level, message, values,
                      hardware_id=self.describe_source())

    def apply_parameters(self, params: List[Parameter]) -> None:
        """Apply live parameters while configured: the base's, then :meth:`parameters_changed`."""
        if self.state_label not in ('inactive', 'active'):
            return  # set before configure: configure reads them
        if any(p.name == 'diagnostics_period_s' for p in params) and \
                self._diag_timer is not None:
            period_s = float(self.get_parameter('diagnostics_period_s').value)
            self._diag_timer.timer_period_ns = int(period_s * 1e9)
        try:
            self.parameters_changed(params)
        except SensorError as exc:
            self.get_logger().error(f'applying {", ".join(p.name for p in params)}: {exc}')
            self.fail(exc)


def run_node(factory: Callable[[], SensorNode], args: Optional[List[str]] = None) -> int:
    """
    Run a sensor node until Ctrl-C or shutdown (the body of a console script's ``main``).

    With ``autostart:=true`` the node configures and activates itself (for use without the
    kernel); the return value is 1 when that fails. SIGINT/SIGTERM run the shutdown
    transition once (threads stopped, device released) while the ROS context is still up,
    repeats are ignored (:mod:`unity_kernel_core.ros.lifecycle_base`); a node shut down over
    its lifecycle service exits, so that ``ros2 launch`` can respawn it. A node class with
    ``LARGE_MESSAGES = True`` (the camera) gets the DDS transport for messages larger than
    Fast DDS's default shared-memory segment.
    """
    return lifecycle_base.run(factory, args,
                              large_messages=getattr(factory, 'LARGE_MESSAGES', False))


if __name__ == '__main__':  # pragma: no cover - the base is not a node on its own
    sys.exit('sensor_node is a base class; run camera, audio or haptic')
