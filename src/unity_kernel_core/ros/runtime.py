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

"""Spin a lifecycle node until SIGINT/SIGTERM, then shut it down gracefully (exit 0)."""

import signal
import threading
from typing import Any, Callable, Optional, TYPE_CHECKING

from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn

if TYPE_CHECKING:  # the kernel is one of several nodes run here: no import at run time
    from unity_kernel_core.kernel.node import KernelNode


def bring_up(node: Any) -> bool:
    """Drive the node through configure and activate; return True when it is active."""
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        return False
    return node.trigger_activate() == TransitionCallbackReturn.SUCCESS


def spin_until_signal(node: Any, *, autostart: bool,
                      on_active: Optional[Callable[['KernelNode'], None]] = None,
                      stop: Optional[threading.Event] = None,
                      executor: Optional[Any] = None,
                      exit_when_finalized: bool = False,
                      shutdown_message: str = 'shutting down: draining the bus') -> int:
    """
    Spin ``node`` until SIGINT/SIGTERM (or ``stop``), then run its shutdown transition.

    ``node`` is a ``LifecycleNode`` with a ``state_label`` (the kernel, a sensor, the LLM
    bridge). With ``autostart`` it is configured and activated first; return 1 if that fails.
    The shutdown transition runs while the ROS context is still up, so that the node can
    still talk to the graph (the kernel stops intake, drains the bus and releases its
    components; a sensor stops its threads and releases its device). With
    ``exit_when_finalized`` the spin also ends when the node was shut down over its lifecycle
    service, so the process exits (and ``ros2 launch`` can respawn it).
    """
    stop = stop or threading.Event()
    executor = executor or SingleThreadedExecutor(context=node.context)
    executor.add_node(node)

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, request_stop)
    try:
        if autostart:
            if not bring_up(node):
                node.get_logger().error(f'could not bring {node.get_name()} up '
                                        '(see errors above)')
                return 1
            if on_active is not None:
                on_active(node)
        while not stop.is_set() and node.context.ok():
            executor.spin_once(timeout_sec=0.1)
            if exit_when_finalized and node.state_label == 'finalized':
                node.get_logger().info('finalized over the lifecycle service: exiting')
                return 0
        if node.state_label != 'finalized':
            node.get_logger().info(shutdown_message)
            node.trigger_shutdown()
        return 0
    finally:
        executor.remove_node(node)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
