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
The one interface the scheduler drives every kind of module through.

Implementations: ``node_runner.NodeRunner`` (a node process the kernel owns),
``node_runner.LaunchedNodeRunner`` (a node someone else started, e.g. ``ros2 launch``),
``inprocess.InProcessRunner`` (a class inside the kernel). The blocking methods run on a
scheduler worker, one at a time per module; ``poll`` and ``describe`` never block.
"""

from typing import Any, Dict, Optional, Protocol

from unity_kernel_core.supervision.machine import Failure
from unity_kernel_core.supervision.manifest import Manifest


class Runner(Protocol):
    """The supervisor's handle on one module."""

    manifest: Manifest

    def load(self) -> None:
        """Check the module can run (executable found, code imports); raise ModuleError."""

    def start(self) -> None:
        """Start the module (or find it) until it answers; raise ModuleError."""

    def configure(self) -> None:
        """Run the configure transition; raise ModuleError."""

    def activate(self) -> None:
        """Run the activate transition; raise ModuleError."""

    def deactivate(self) -> None:
        """Run the deactivate transition (when active); raise ModuleError."""

    def stop(self) -> None:
        """Take the module down in order (its process too, when the kernel owns it)."""

    def kill(self) -> None:
        """End the module at once, without its hooks."""

    def poll(self) -> Optional[Failure]:
        """Return the failure of a process that has exited, without blocking, or None."""

    def check(self, expected: str) -> Optional[Failure]:
        """Return why the module is not healthy in state ``expected``, or None."""

    def describe(self) -> Dict[str, Any]:
        """Return details for /diagnostics."""

    def fresh(self) -> 'Runner':
        """Return a new, stopped runner of the same module and code (to go back to it)."""


def bring_up(runner: Runner) -> None:
    """Start a module, then configure and activate it; raise at the step that fails."""
    runner.start()
    runner.configure()
    runner.activate()
