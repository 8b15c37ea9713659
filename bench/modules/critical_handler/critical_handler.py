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
A CRITICAL handler in a process of its own: the node module of ``bench_kernel.py critical-module``.

It subscribes reliably to ``topic`` (a ``/safety/**`` topic) over DDS itself, on its own
``EventsExecutor`` and interpreter, and takes each message's latency from the publish time
``bench/critical_probe.py`` put in it (``"<n> <time.time_ns() at publish>"``, the same
formula as ``bench/ingest_receiver.py``'s kernel handler). On deactivate it writes
``{"received": N, "latencies_ms": [...]}`` to ``out_file``.
"""

import json
import os
import sys
import time
from typing import Any, List, Optional

from rclpy.experimental import EventsExecutor
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from unity_kernel_core.ros.lifecycle_base import ManagedLifecycleNode, run
from unity_kernel_core.ros.parameters import Applies, ParamSpec

SPECS = (
    ParamSpec('topic', '/safety/bench', 'The stamped topic to take latencies of.',
              Applies.START),
    ParamSpec('out_file', '', 'Where the latencies go (JSON) on deactivate.', Applies.START),
)


class CriticalHandler(ManagedLifecycleNode):
    """Take the latency of every stamped message on a topic."""

    def __init__(self) -> None:
        super().__init__('critical_handler')
        self.declare_specs(SPECS)
        self.seen: set = set()
        self.latencies: List[float] = []
        self._sub: Optional[Any] = None

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._sub = self.create_subscription(
            String, self.get_parameter('topic').value, self._stamped,
            QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.halt()
        return super().on_deactivate(state)

    def _stamped(self, msg: String) -> None:
        now = time.time_ns()
        n, sent = msg.data.split()
        self.seen.add(int(n))
        self.latencies.append((now - int(sent)) / 1e6)

    def halt(self) -> None:
        """Stop taking latencies and write them out (once per activation)."""
        if self._sub is None:
            return
        self.destroy_subscription(self._sub)
        self._sub = None
        path = self.get_parameter('out_file').value
        if path:
            tmp = f'{path}.tmp'
            with open(tmp, 'w') as f:
                json.dump({'received': len(self.seen), 'latencies_ms': self.latencies}, f)
            os.replace(tmp, path)


def main(args: Optional[List[str]] = None) -> int:
    return run(CriticalHandler, args, executor_factory=EventsExecutor)


if __name__ == '__main__':
    sys.exit(main())
