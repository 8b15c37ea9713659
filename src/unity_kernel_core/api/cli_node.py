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

"""A short-lived rclpy node in a private context, for a command-line verb that talks to ROS."""

import contextlib
from typing import Any, Iterator, List, Optional

from unity_kernel_core.ros.transport import use_large_data_transport


@contextlib.contextmanager
def cli_node(name: str, ros_args: Optional[List[str]] = None,
             large_messages: bool = False) -> Iterator[Any]:
    """
    Yield an rclpy node ``name`` in its own context (``ros_args`` as after ``--ros-args``).

    The node is destroyed and the context shut down on leaving, also on an exception.
    ``large_messages``: it publishes messages of any size (replay), so its participant gets
    the transport for large ones (:mod:`unity_kernel_core.ros.transport`).
    """
    import rclpy
    if large_messages:
        use_large_data_transport()
    args = ['unity-kernel'] + (['--ros-args', *ros_args] if ros_args else [])
    context = rclpy.Context()
    rclpy.init(args=args, context=context)
    try:
        node = rclpy.create_node(name, context=context, start_parameter_services=False)
        try:
            yield node
        finally:
            node.destroy_node()
    finally:
        context.try_shutdown()
