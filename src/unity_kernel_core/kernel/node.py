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
The kernel node: a lifecycle node that wires config, bus, intake and components together.

- configure: load and validate the config, start the bus, build the components
- activate: map topics from the ROS graph into the bus (and keep doing so as topics appear)
- deactivate: stop intake; what is queued is still handled
- cleanup / shutdown: drain the bus, flush and release the components

Run it with ``ros2 run unity_kernel kernel --ros-args -p config_file:=PATH -p autostart:=true``.
"""

import importlib
import json
import logging
import pathlib
import sys
import threading
from typing import Any, Dict, List, Optional

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.logging import LoggingSeverity
from rclpy.parameter import Parameter
from std_msgs.msg import String

from unity_kernel_core import native
from unity_kernel_core.bus.event_bus import EventBus, TierStats
from unity_kernel_core.bus.events import Event, Tier
from unity_kernel_core.common import os_scheduling
from unity_kernel_core.component import ComponentFactory, KernelComponent, KernelContext
from unity_kernel_core.config.kernel_config import KernelConfig, load_config, Scheduling
from unity_kernel_core.config.watch import ConfigWatcher
from unity_kernel_core.errors import ConfigError
from unity_kernel_core.kernel.diagnostics import intake_status, kernel_status
from unity_kernel_core.paths import (ensure_private_dir, lock_state_dir, private_umask,
                                     resolve_path, StateDirError, StateDirInUse,
                                     StateDirLock)
from unity_kernel_core.ros import callbacks, lifecycle_base, message_types
from unity_kernel_core.ros.diagnostics import status_markers
from unity_kernel_core.ros.lifecycle_base import ManagedLifecycleNode
from unity_kernel_core.ros.parameters import Applies, in_range, one_of, ParamSpec

_LOG = logging.getLogger('unity_kernel.kernel')

#: Components built on configure, in order ("module:factory"; a factory may return None).
COMPONENT_FACTORIES: List[str] = [
    'unity_kernel_core.audit.mirror:create',
    'unity_kernel_core.supervision.supervisor:create',
    'unity_kernel_core.audit.fleet:create',
    'unity_kernel_core.live.view:create',
]

CONFIG_CHANGED_TOPIC = '/unity_kernel/config_changed'
STATUS_MARKERS_TOPIC = '/unity_kernel/status_markers'
STATUS_FRAME = 'unity_kernel'
"""The kernel's diagnostics as rviz text markers in this frame (``config/unity_kernel.rviz``)."""

LOG_LEVELS = {'debug': LoggingSeverity.DEBUG, 'info': LoggingSeverity.INFO,
              'warn': LoggingSeverity.WARN, 'error': LoggingSeverity.ERROR,
              'fatal': LoggingSeverity.FATAL}
PY_LOG_LEVELS = {'debug': logging.DEBUG, 'info': logging.INFO, 'warn': logging.WARNING,
                 'error': logging.ERROR, 'fatal': logging.CRITICAL}


def parameters(config_file: str = '') -> List[ParamSpec]:
    """Return the kernel node's parameters: what each means and when it applies."""
    return [
        ParamSpec('config_file', config_file,
                  'Kernel config file (YAML or JSON), read at configure; empty: the built-in '
                  'defaults. Edits to the file are hot-reloaded while configured (tiers and '
                  'redis apply at the next lifecycle cleanup + configure, which re-reads it).',
                  Applies.START),
        ParamSpec('autostart', False, 'Configure and activate at start (the modules with it).',
                  Applies.START),
        ParamSpec('spawn_modules', True,
                  "Start the node modules' processes (true) or drive nodes someone else "
                  'started (false: ros2 launch starts them).', Applies.START),
        ParamSpec('diagnostics_period_s', 0.0,
                  "Seconds between /diagnostics reports; 0: the config's "
                  'kernel.diagnostics_period_s.', Applies.LIVE,
                  in_range(0, 3600, zero="the config's value", unit=' s')),
        ParamSpec('discovery_period_s', 0.0,
                  "Seconds between scans of the ROS graph for topics to map; 0: the config's "
                  'kernel.discovery_period_s.', Applies.LIVE,
                  in_range(0, 60, zero="the config's value", unit=' s')),
        ParamSpec('log_level', 'info', "Severity of the kernel's log (and its modules').",
                  Applies.LIVE, one_of(*LOG_LEVELS), constraints=', '.join(LOG_LEVELS)),
    ]


def _load_factory(spec: str) -> ComponentFactory:
    module_name, _, attr = spec.partition(':')
    return getattr(importlib.import_module(module_name), attr)


class KernelNode(ManagedLifecycleNode):
    """The UnityKernel lifecycle node."""

    shutdown_message = 'shutting down: draining the bus'

    def __init__(self, node_name: str = 'unity_kernel', *,
                 config_file: 'str | pathlib.Path | None' = None, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.declare_specs(parameters(str(config_file or '')))
        self._set_log_level(str(self.get_parameter('log_level').value))
        self.config: Optional[KernelConfig] = None
        self.config_path: Optional[pathlib.Path] = None
        self.bus: Optional[EventBus] = None
        self.intake: Optional[Any] = None
        self.components: List[KernelComponent] = []
        self._diag_pub: Optional[Any] = None
        self._markers_pub: Optional[Any] = None
        self._diag_timer: Optional[Any] = None
        self._discovery_timer: Optional[Any] = None
        self._echo_pub: Optional[Any] = None
        self._echo_sub: Optional[Any] = None
        self._watcher: Optional[ConfigWatcher] = None
        self._pending_config: Optional[KernelConfig] = None
        self._pending_lock = threading.Lock()
        self._loaded: Optional[KernelConfig] = None
        """The config as read from the file (before the parameters' overrides)."""
        self._prev_stats: Optional[Dict[Tier, TierStats]] = None
        self._prev_intake: Optional[Dict[str, Any]] = None
        self._prev_callback_errors = 0
        self._critical_scheduling = Scheduling()
        """The CRITICAL threads' OS scheduling as applied at the last configure."""
        self._state_lock: Optional[StateDirLock] = None
        """The state directory's lock, held from configure to cleanup."""

    # -- lifecycle -------------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        bad = self.parameter_issues()
        for text in bad:
            self.get_logger().error(f'parameter {text}')
        if bad:
            return TransitionCallbackReturn.FAILURE
        path_param = self.get_parameter('config_file').value
        try:
            # a path, or package://<package>/<path> as ROS users write it
            self.config_path = resolve_path(path_param, None) if path_param else None
            self._loaded = load_config(self.config_path)
        except ConfigError as exc:
            for issue in exc.issues:
                self.get_logger().error(f'config: {issue}')
            return TransitionCallbackReturn.FAILURE
        except FileNotFoundError as exc:  # package://<package>/... of a package not installed
            self.get_logger().error(f'config: {exc}')
            return TransitionCallbackReturn.FAILURE
        config = self._apply_parameter_overrides(self._loaded)
        self.config = config
        try:
            private_umask()
            state_dir = ensure_private_dir(config.kernel.state_dir)
            self._state_lock = lock_state_dir(state_dir)  # one kernel per state dir
        except StateDirInUse as exc:
            self.get_logger().error(str(exc))
            return TransitionCallbackReturn.FAILURE
        except StateDirError as exc:
            self.get_logger().error(f'config: kernel.{exc}')
            return TransitionCallbackReturn.FAILURE
        from unity_kernel_core.intake import native_intake
        # the kernel owns its process: bound how long CRITICAL threads wait for the lock
        sys.setswitchinterval(config.kernel.switch_interval_ms / 1000.0)
        path, why = native_intake.intake_path(config)
        if why:
            self.get_logger().warning(f'{why}: the Python intake takes DDS messages')
        # the native intake numbers messages with the native producer: the bus does too
        producer = native.core().Producer() if path == 'native' else None  # type: ignore
        self.bus = EventBus(config.policies(), classifier=config.routes.tier,
                            codec=message_types.CDR, sequencer=producer)
        self.bus.start()
        self._critical_scheduling = config.kernel.critical_scheduling
        try:  # the CRITICAL workers now; the CRITICAL intake's thread once it is made
            for tid in self.bus.thread_ids(Tier.CRITICAL):
                self._schedule_critical(tid)
        except os_scheduling.SchedulingError as exc:
            self.get_logger().error(f'config: kernel.critical_scheduling: {exc}')
            self._teardown()
            return TransitionCallbackReturn.FAILURE
        if producer is not None:
            self.intake = native_intake.NativeIntake(
                self, self.bus, config, producer, critical_thread=self._schedule_critical_intake)
        else:
            from unity_kernel_core.intake.intake_node import Intake
            self.intake = Intake(self, self.bus, config,
                                 critical_thread=self._schedule_critical_intake)
        context = KernelContext(node=self, bus=self.bus, config=config,
                                config_path=self.config_path, state_dir=state_dir,
                                components=self.components,
                                mapped_topics=self._mapped_topics)
        try:
            for spec in COMPONENT_FACTORIES:
                component = _load_factory(spec)(context)
                if component is not None:
                    self.components.append(component)
        except Exception as exc:  # report which component failed, then undo
            self.get_logger().error(f'configure failed building components: {exc}')
            self._teardown()
            return TransitionCallbackReturn.FAILURE
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        try:
            from visualization_msgs.msg import MarkerArray
            self._markers_pub = self.create_publisher(MarkerArray, STATUS_MARKERS_TOPIC, 10)
        except ImportError as exc:  # the kernel runs without it; say why rviz shows nothing
            self.get_logger().warning(f'no status markers for rviz on {STATUS_MARKERS_TOPIC}: '
                                      f'visualization_msgs cannot be imported ({exc})')
        self._diag_timer = callbacks.timer(self, config.kernel.diagnostics_period_s,
                                           self._publish_diagnostics)
        if config.kernel.event_echo_topic:
            self._echo_pub = self.create_publisher(String, config.kernel.event_echo_topic, 1000)
            self._echo_sub = self.bus.subscribe('/**', self._echo, name='event_echo')
        if self.config_path is not None:
            self._watcher = ConfigWatcher(self.config_path, self._queue_config)
            self._watcher.start()
        self.get_logger().info(
            f'configured from {self.config_path or "built-in defaults"}: '
            f'{len(config.topics)} topic rules, components: '
            f'{", ".join(c.name for c in self.components) or "none"}')
        return TransitionCallbackReturn.SUCCESS

    def _schedule_critical(self, tid: int) -> None:
        """Give a CRITICAL thread ``kernel.critical_scheduling`` as of the last configure."""
        critical = self._critical_scheduling
        if not critical.is_default:
            os_scheduling.apply(critical.nice, critical.policy, critical.priority, tid)

    def _schedule_critical_intake(self, tid: int) -> None:
        """Schedule the CRITICAL intake's thread, made after configure (where it was permitted)."""
        try:
            self._schedule_critical(tid)
        except os_scheduling.SchedulingError as exc:  # permitted at configure; say what changed
            self.get_logger().error(f'kernel.critical_scheduling: the CRITICAL intake thread: '
                                    f'{exc}')

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        assert self.config is not None
        for component in self.components:
            component.activate()
        self._discovery_timer = callbacks.timer(self, self.config.kernel.discovery_period_s,
                                                self._discover)
        self._discover()
        self.get_logger().info('active: mapping topics into the bus')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_intake()
        self.get_logger().info('inactive: intake stopped, queued events are still handled')
        return super().on_deactivate(state)

    def halt(self) -> None:
        """Stop intake when active (shutdown, error): queued events are still handled."""
        if self._discovery_timer is not None:
            self._stop_intake()

    def release(self) -> None:
        """Drain the bus, flush and release the components (cleanup, shutdown, error)."""
        self._teardown()

    def apply_parameters(self, params: List[Parameter]) -> None:
        """Apply the log level and the diagnostics and discovery periods at once."""
        names = {p.name for p in params}
        if 'log_level' in names:
            self._set_log_level(str(self.get_parameter('log_level').value))
        if names & {'diagnostics_period_s', 'discovery_period_s'} and \
                self._loaded is not None and self.config is not None:
            self.config = self._apply_parameter_overrides(self.config)
            self._retime()
            k = self.config.kernel
            self.get_logger().info(f'diagnostics every {k.diagnostics_period_s:g} s, discovery '
                                   f'every {k.discovery_period_s:g} s')

    # -- internals -------------------------------------------------------------------------

    def _set_log_level(self, name: str) -> None:
        severity = LOG_LEVELS[name.lower()]
        self.get_logger().set_level(severity)
        logging.getLogger('unity_kernel').setLevel(PY_LOG_LEVELS[name.lower()])

    def _retime(self) -> None:
        """Give the diagnostics and discovery timers the config's periods (from now on)."""
        assert self.config is not None
        k = self.config.kernel
        for timer, period_s in ((self._diag_timer, k.diagnostics_period_s),
                                (self._discovery_timer, k.discovery_period_s)):
            if timer is not None and timer.timer_period_ns != int(period_s * 1e9):
                timer.timer_period_ns = int(period_s * 1e9)

    def _apply_parameter_overrides(self, config: KernelConfig) -> KernelConfig:
        """Return ``config`` with the periods the parameters set (0: the loaded file's)."""
        loaded = (self._loaded or config).kernel
        updates: Dict[str, Any] = {}
        for name in ('diagnostics_period_s', 'discovery_period_s'):
            value = self.get_parameter(name).value
            updates[name] = float(value) if value and value > 0 else getattr(loaded, name)
        if self.get_parameter('autostart').value:
            updates['autostart'] = True
        return config.model_copy(update={'kernel': config.kernel.model_copy(update=updates)})

    def _stop_intake(self) -> None:
        if self._discovery_timer is not None:
            self.destroy_timer(self._discovery_timer)
            self._discovery_timer = None
        if self.intake is not None:
            self.intake.clear()
        for component in reversed(self.components):
            component.deactivate()

    def _teardown(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        for component in reversed(self.components):
            try:
                component.cleanup()
            except Exception as exc:  # keep tearing the rest down, but say so
                self.get_logger().error(f'cleanup of {component.name} failed: {exc}')
        if self.bus is not None:
            assert self.config is not None
            left = self.bus.stop(drain=True, timeout=self.config.kernel.shutdown_timeout_s)
            if left:
                self.get_logger().error(f'{left} queued event(s) were not handled in time')
            self.bus = None
        self.components = []
        for timer in (self._diag_timer, self._discovery_timer):
            if timer is not None:
                self.destroy_timer(timer)
        self._diag_timer = self._discovery_timer = None
        for pub in (self._diag_pub, self._echo_pub, self._markers_pub):
            if pub is not None:
                self.destroy_publisher(pub)
        self._diag_pub = self._echo_pub = self._markers_pub = None
        self._echo_sub = None
        if self.intake is not None:
            self.intake.close()
        self.intake = None
        self._prev_stats = None
        if self._state_lock is not None:
            self._state_lock.release()
            self._state_lock = None

    def _mapped_topics(self) -> Dict[str, str]:
        intake = self.intake
        return {t: p.type_name for t, p in intake.mapped.items()} if intake is not None else {}

    def _discover(self) -> None:
        self._apply_pending_config()
        if self.intake is not None:
            self.intake.sync()

    def _echo(self, event: Event) -> None:
        pub = self._echo_pub
        if pub is not None:
            pub.publish(String(data=json.dumps({
                'seq': event.seq, 'topic': event.topic, 'type': event.type_name,
                'tier': event.tier.name, 'stamp_ns': event.stamp_ns})))

    def _queue_config(self, config: KernelConfig) -> None:
        # called on the watcher's thread: applied on the executor thread
        with self._pending_lock:
            self._pending_config = config

    def _apply_pending_config(self) -> None:
        with self._pending_lock:
            config, self._pending_config = self._pending_config, None
        if config is None or self.config is None or self.bus is None:
            return
        old = self.config
        self._loaded = config
        config = self._apply_parameter_overrides(config)
        changed = sorted(k for k in KernelConfig.model_fields
                         if getattr(old, k) != getattr(config, k))
        if config.tiers != old.tiers:
            self.get_logger().warning(
                'tier settings changed: they take effect at the next configure')
        if config.kernel.critical_scheduling != old.kernel.critical_scheduling:
            self.get_logger().warning(
                'kernel.critical_scheduling changed: it takes effect at the next configure')
        if config.kernel.intake != old.kernel.intake:
            self.get_logger().warning(
                'kernel.intake changed: it takes effect at the next configure')
        self.config = config
        self.bus.set_classifier(config.routes.tier)
        if self.intake is not None:
            self.intake.set_config(config)
        for component in self.components:
            component.reconfigure(config)
        if config.kernel != old.kernel:
            self._retime()
        self.get_logger().info(f'config reloaded from {self.config_path}: changed '
                               f'{", ".join(changed) or "nothing"}')
        self.bus.publish(CONFIG_CHANGED_TOPIC, 'std_msgs/msg/String',
                         String(data=json.dumps({'path': str(self.config_path),
                                                 'changed': changed})),
                         tier=Tier.HIGH, source='kernel')

    def _publish_diagnostics(self) -> None:
        self._apply_pending_config()
        if self.bus is None or self._diag_pub is None or self.config is None:
            return
        stats = self.bus.stats()
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        mapped = len(self.intake.mapped) if self.intake is not None else 0
        errors = callbacks.ERRORS.total
        array.status.append(kernel_status(self.get_name(), self.state_label, stats,
                                          self._prev_stats,
                                          self.config.kernel.diagnostics_period_s, mapped,
                                          errors, self._prev_callback_errors))
        self._prev_callback_errors = errors
        intake_stats = getattr(self.intake, 'stats', None)
        if intake_stats is not None:  # the native intake's threads and hand-offs
            now = intake_stats()
            array.status.append(intake_status(self.get_name(), now, self._prev_intake))
            self._prev_intake = now
        for component in self.components:
            array.status.extend(component.diagnostics())
        self._prev_stats = stats
        self._diag_pub.publish(array)
        if self._markers_pub is not None:
            self._markers_pub.publish(status_markers(array.status, STATUS_FRAME,
                                                     array.header.stamp))


def main(args: Optional[List[str]] = None) -> int:
    """Run the kernel node (``ros2 run unity_kernel kernel``)."""
    from unity_kernel_core.paths import default_ament_prefix_path
    default_ament_prefix_path()
    return lifecycle_base.run(KernelNode, args)


if __name__ == '__main__':
    sys.exit(main())
