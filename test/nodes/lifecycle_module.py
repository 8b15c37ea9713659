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
A lifecycle node for supervision tests, with faults on demand.

Parameters: ``fail_configure`` (bool), ``hang_after_s`` (stop answering after this many
seconds once active: the executor blocks), ``crash_after_s`` (exit(3) after this many
seconds once active), ``deactivate_after_s`` (deactivate itself once, this many seconds
after its first activation: as a driver does when its device goes away), ``marker`` (file to
append transitions to).
"""

import os
import sys
import time

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from std_msgs.msg import String


class TestModule(LifecycleNode):
    """A lifecycle node that records its transitions and can misbehave."""

    def __init__(self) -> None:
        super().__init__('test_module')
        self.declare_parameter('fail_configure', False)
        self.declare_parameter('hang_after_s', 0.0)
        self.declare_parameter('crash_after_s', 0.0)
        self.declare_parameter('deactivate_after_s', 0.0)
        self.declare_parameter('marker', '')
        self._pub = None
        self._timer = None
        self._activated = 0.0
        self._deactivated_itself = False

    def _mark(self, what: str) -> None:
        marker = self.get_parameter('marker').value
        if marker:
            with open(marker, 'a') as f:
                f.write(f'{self.get_name()} {what} {time.time():.6f} {os.getpid()}\n')
        print(f'{self.get_name()}: {what}', flush=True)

    def on_configure(self, state):
        if self.get_parameter('fail_configure').value:
            self._mark('configure-failed')
            return TransitionCallbackReturn.FAILURE
        self._pub = self.create_lifecycle_publisher(String, '~/out', 10)
        self._mark('configured')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        self._activated = time.monotonic()
        self._timer = self.create_timer(0.1, self._tick)
        self._mark('activated')
        return super().on_activate(state)

    def on_deactivate(self, state):
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        self._mark('deactivated')
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        if self._pub is not None:
            self.destroy_lifecycle_publisher(self._pub)
            self._pub = None
        self._mark('cleaned-up')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        self._mark('shutdown')
        return TransitionCallbackReturn.SUCCESS

    def _tick(self) -> None:
        up = time.monotonic() - self._activated
        hang = self.get_parameter('hang_after_s').value
        crash = self.get_parameter('crash_after_s').value
        if crash and up > crash:
            self._mark('crashing')
            os._exit(3)
        leave = self.get_parameter('deactivate_after_s').value
        if leave and up > leave and not self._deactivated_itself:
            self._deactivated_itself = True
            self._mark('leaving-active')
            self.trigger_deactivate()
            return
        if hang and up > hang:
            self._mark('hanging')
            while True:
                time.sleep(3600)
        if self._pub is not None:
            self._pub.publish(String(data='alive'))


def main(args=None) -> int:
    try:
        with rclpy.init(args=args):
            node = TestModule()
            rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
