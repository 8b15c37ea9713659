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

"""The kernel's helper nodes, each spun on a thread of its own (intakes, lifecycle client)."""

import threading

import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.experimental import EventsExecutor
import support

from unity_kernel_core.ros.spinning_node import SpinningNode


@pytest.mark.parametrize('executor', [EventsExecutor, SingleThreadedExecutor])
def test_the_spin_thread_ends_when_its_context_shuts_down(ros_env, executor):
    # the loop does not ask the context on every turn; a shut-down context must still end it
    context = Context()
    rclpy.init(context=context, domain_id=int(ros_env['ROS_DOMAIN_ID']))
    SpinningNode('spun', context, executor_factory=executor)
    try:
        assert any(t.name == 'spun' for t in threading.enumerate())
        context.shutdown()
        support.wait_for(lambda: not any(t.name == 'spun' for t in threading.enumerate()), 5,
                         message='the spin thread ended')
    finally:
        context.try_shutdown()
