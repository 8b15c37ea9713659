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

"""A helper node of the kernel's process, spun by an executor of its own on a thread of its own."""

import threading
from typing import Any, Callable

import rclpy
from rclpy.executors import SingleThreadedExecutor

from unity_kernel_core.ros import callbacks


class SpinningNode:
    """
    An rclpy node whose callbacks run on a thread of its own, not on the caller's executor.

    It is created without global arguments, so a ``-r __node:=...`` remap of the process's main
    node (``ros2 launch`` passes one) does not rename it too, and without parameter services.
    Entities may be added from other threads while it spins.
    """

    def __init__(self, name: str, context: Any, *, namespace: str = '',
                 executor_factory: Callable[..., Any] = SingleThreadedExecutor) -> None:
        self.node = rclpy.create_node(name, namespace=namespace, context=context,
                                      start_parameter_services=False,
                                      use_global_arguments=False)
        self.executor = executor_factory(context=context)
        self.executor.add_node(self.node)
        self._running = True
        self._thread = threading.Thread(target=self._spin, name=name, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        # spin_once handles one callback per call (a message of the intake); the context is
        # asked only when a call raises (a shut-down context makes spin_once raise), not on
        # every turn: that was about 7 % of the kernel process's samples at 16 000 msg/s
        name = f'executor of {self.node.get_name()}'
        while self._running:
            if not callbacks.spin_once(self.executor, 0.05, name=name,
                                       context=self.node.context):
                return

    @property
    def native_id(self) -> int:
        """Return the native id of the spin thread (for OS scheduling)."""
        assert self._thread.native_id is not None  # started in __init__
        return self._thread.native_id

    def close(self) -> None:
        """Stop the spin thread, then shut the executor down and destroy the node."""
        self._running = False
        self._thread.join(2.0)
        self.executor.remove_node(self.node)
        self.executor.shutdown()
        self.node.destroy_node()
