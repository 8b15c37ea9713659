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
Module commands taken by one live-view server, and their outcomes read back by id.

The supervisor keeps the outcomes of every command, whoever gave it (``unity-kernel
modules``, a ROS caller, either server), under ids that count up. A server answering for any
id would show its clients what others asked for (the path typed into a ``load``, say), so a
server answers only for the commands it took itself (the last ``KEEP``), and waits for one
at most ``MAX_WAIT_S`` (a connection of the dashboard is one thread). Pure: no ROS, no I/O.
"""

import collections
import math
import threading
from typing import Any, Callable, Dict, Optional

from unity_kernel_core.live.state import ModuleOperations
from unity_kernel_core.module_commands import CommandOutcome

KEEP = 256
"""How many command ids a server remembers (the oldest is forgotten first)."""
MAX_WAIT_S = 5.0
"""The longest a reader waits for an outcome to be final, per request."""


def answer(outcome: CommandOutcome) -> Dict[str, Any]:
    """Return an outcome as the live view answers with it: ``success`` and the outcome."""
    return {'success': outcome.succeeded, **outcome.as_dict()}


class ModuleActions:
    """The module commands of one server (dashboard or Foxglove), and their outcomes."""

    def __init__(self, modules: Callable[[], Optional[ModuleOperations]],
                 keep: int = KEEP) -> None:
        self.modules = modules
        """The supervisor, when the kernel has one."""
        self._keep = keep
        self._ids: 'collections.OrderedDict[str, None]' = collections.OrderedDict()
        self._lock = threading.Lock()

    def submit(self, command: str, arg: str) -> Optional[Dict[str, Any]]:
        """Give the supervisor a command; return its outcome (``answer``), None without one."""
        modules = self.modules()
        if modules is None:
            return None
        outcome = modules.submit(command, arg)
        with self._lock:
            self._ids[outcome.command_id] = None
            while len(self._ids) > self._keep:
                self._ids.popitem(last=False)
        return answer(outcome)

    def outcome(self, command_id: str, wait_s: float = 0.0) -> Optional[Dict[str, Any]]:
        """
        Return the outcome of a command this server took, once final or after ``wait_s``.

        None when this server took no command of that id (or forgot it), or the supervisor
        did. ``wait_s`` is bounded to ``[0, MAX_WAIT_S]``.
        """
        with self._lock:
            ours = command_id in self._ids
        modules = self.modules()
        if not ours or modules is None:
            return None
        wait = min(max(wait_s, 0.0), MAX_WAIT_S) if math.isfinite(wait_s) else 0.0
        outcome = modules.outcome(command_id, wait)
        return None if outcome is None else answer(outcome)

    def unknown(self, command_id: str) -> str:
        """Return why an outcome is not answered (``outcome`` returned None)."""
        return (f'no command {command_id[:80]!r} from this server (it answers for the last '
                f'{self._keep} it took)')
