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
Is the running kernel healthy? The logic behind ``unity-kernel health`` (container probes).

Healthy means: the kernel's next ``/diagnostics`` report says it is ``active``, and its audit
mirror's status is not ERROR (events lost, held in memory, the writer failing). A mirror
that journals while Redis is away (WARN) is degraded but healthy: restarting the kernel
would not bring Redis back, and the journal keeps every event. The reading waits for one
fresh report, at most ``timeout`` seconds.
"""

import dataclasses
import os
import time
from typing import Any, Dict, List, Optional, Sequence

from unity_kernel_core.api.text import printable

ERROR_LEVEL = 2
"""``diagnostic_msgs/DiagnosticStatus.ERROR``; STALE (3) counts as failing too."""
WARN_LEVEL = 1

DEFAULT_TIMEOUT_S = 10.0


@dataclasses.dataclass(frozen=True)
class Entry:
    """One ``DiagnosticStatus`` as plain values."""

    name: str
    level: int
    message: str
    values: Dict[str, str]


@dataclasses.dataclass(frozen=True)
class Health:
    """The verdict: healthy or not, and why in one line."""

    healthy: bool
    reason: str


def kernel_entry_name(node_name: str) -> str:
    """Return the name of the kernel's own status on ``/diagnostics``."""
    return f'{node_name}: kernel'


def mirror_entry_name(node_name: str) -> str:
    """Return the name of the audit mirror's status on ``/diagnostics``."""
    return f'{node_name}: mirror'


def assess(node_name: str, entries: Sequence[Entry],
           expect_mirror: bool = True) -> Optional[Health]:
    """
    Judge one ``/diagnostics`` report; None when it holds no status of kernel ``node_name``.

    The reason is one line: what the report says is shown with control characters escaped
    (any node on the domain can send a report).

    ``expect_mirror`` is the config's ``redis.enabled``: a kernel that should mirror but
    reports no mirror status is unhealthy; one whose audit trail is off is healthy when active.
    """
    by_name = {e.name: e for e in entries}
    kernel = by_name.get(kernel_entry_name(node_name))
    if kernel is None:
        return None
    state = kernel.values.get('state', '?')
    if state != 'active':
        return Health(False, f'{node_name} is {printable(state)}, not active')
    mirror = by_name.get(mirror_entry_name(node_name))
    if mirror is None:
        if expect_mirror:
            return Health(False, f'{node_name} active but reports no audit mirror')
        return Health(True, f'{node_name} active; no audit mirror (redis.enabled is false)')
    if mirror.level >= ERROR_LEVEL:
        return Health(False, f'{node_name} active but its audit mirror is failing: '
                             f'{printable(mirror.message)}')
    if mirror.level == WARN_LEVEL:
        return Health(True, f'{node_name} active; audit mirror degraded: '
                            f'{printable(mirror.message)}')
    return Health(True, f'{node_name} active; {printable(mirror.message)}')


def entries_of(array: Any) -> List[Entry]:
    """Return the statuses of a ``diagnostic_msgs/DiagnosticArray`` as plain entries."""
    found = []
    for s in array.status:
        level = s.level[0] if isinstance(s.level, (bytes, bytearray)) else int(s.level)
        found.append(Entry(s.name, level, s.message, {kv.key: kv.value for kv in s.values}))
    return found


def check(node_name: str, expect_mirror: bool = True, timeout: float = DEFAULT_TIMEOUT_S,
          ros_args: Optional[List[str]] = None) -> Health:
    """
    Wait for the kernel's next ``/diagnostics`` report, at most ``timeout`` s, and judge it.

    No report in time is unhealthy, saying where it looked (the ROS domain, the node).
    """
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor

    from unity_kernel_core.api.cli_node import cli_node
    from unity_kernel_core.ros import callbacks
    deadline = time.monotonic() + timeout
    verdicts: List[Health] = []
    with cli_node('unity_kernel_health', ros_args) as node:
        executor = SingleThreadedExecutor(context=node.context)
        executor.add_node(node)

        def on_report(array: Any) -> None:
            verdict = assess(node_name, entries_of(array), expect_mirror)
            if verdict is not None:
                verdicts.append(verdict)

        # a report that does not decode is one counted error: the wait goes on
        callbacks.subscribe(node, DiagnosticArray, '/diagnostics', on_report, 10)
        while not verdicts:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                domain = os.environ.get('ROS_DOMAIN_ID', '0')
                return Health(False, f'no /diagnostics report from {node_name} within '
                                     f'{timeout:g}s (ROS_DOMAIN_ID {domain}): is the kernel '
                                     'running?')
            if not callbacks.spin_once(executor, min(remaining, 0.2), name='health'):
                return Health(False, 'interrupted while waiting for /diagnostics')
    return verdicts[0]
