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

"""Talk to a running kernel's module services (what ``unity-kernel modules`` does)."""

import json
import pathlib
from typing import Any, Dict, List, Optional

from rclpy.executors import SingleThreadedExecutor

from unity_kernel_core.api.cli_node import cli_node
from unity_kernel_core.errors import UnityKernelError

ACTIONS = ('restart', 'load', 'unload')


class KernelUnreachableError(UnityKernelError):
    """The kernel's module services did not answer."""


def _call(kernel: str, service: str, srv_type: Any, request: Any, timeout: float,
          ros_args: Optional[List[str]] = None) -> Any:
    with cli_node('unity_kernel_cli', ros_args) as node:
        executor = SingleThreadedExecutor(context=node.context)
        executor.add_node(node)
        name = f'{kernel.rstrip("/")}/modules/{service}'
        client: Any = node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise KernelUnreachableError(
                f'{name} is not available: is the kernel running (and active) on this '
                f'ROS_DOMAIN_ID? (waited {timeout:g}s)')
        future = client.call_async(request)
        executor.spin_until_future_complete(future, timeout_sec=timeout)
        if not future.done():
            raise KernelUnreachableError(f'{name} did not answer within {timeout:g}s')
        return future.result()


def list_modules(kernel: str = '/unity_kernel', timeout: float = 10.0,
                 ros_args: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    """Return the kernel's modules (name, state, message, restarts, ...)."""
    from std_srvs.srv import Trigger
    response = _call(kernel, 'list', Trigger, Trigger.Request(), timeout, ros_args)
    return list(json.loads(response.message))


def command(action: str, argument: str, kernel: str = '/unity_kernel', timeout: float = 10.0,
            ros_args: Optional[List[str]] = None) -> 'tuple[bool, str]':
    """Ask the kernel to restart/load/unload; return (accepted, its message)."""
    from diagnostic_msgs.srv import AddDiagnostics
    if action not in ACTIONS:
        raise ValueError(f'unknown action {action!r}; expected one of {", ".join(ACTIONS)}')
    if action == 'load':
        argument = str(pathlib.Path(argument).expanduser().resolve())
    response = _call(kernel, action, AddDiagnostics,
                     AddDiagnostics.Request(load_namespace=argument), timeout, ros_args)
    return bool(response.success), str(response.message)


def format_table(modules: List[Dict[str, Any]]) -> str:
    """Format the module list as an aligned text table."""
    rows = [('NAME', 'KIND', 'VERSION', 'STATE', 'RESTARTS', 'MESSAGE')]
    for m in modules:
        message = m.get('message', '')
        if m.get('reload_error'):
            message = f'{message}; reload failed: {m["reload_error"]}'
        rows.append((m['name'], m['kind'], m['version'], m['state'], str(m['restarts']),
                     message))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return '\n'.join('  '.join(c.ljust(w) for c, w in zip(r[:5], widths)) + '  ' + r[5]
                     for r in rows).rstrip()
