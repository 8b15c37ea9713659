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
Kernel components: the parts a kernel node wires together (mirror, supervisor, ...).

The node is a thin shell. On ``configure`` it builds the bus and then each component with a
:class:`KernelContext`; lifecycle transitions are forwarded to every component in order
(reverse order on the way down); ``diagnostics()`` adds statuses to ``/diagnostics``.
"""

import dataclasses
import pathlib
from typing import Any, Callable, Dict, List, Optional, Protocol

from unity_kernel_core.bus.event_bus import EventBus
from unity_kernel_core.config.kernel_config import KernelConfig


@dataclasses.dataclass
class KernelContext:
    """What a component gets from the kernel node."""

    node: Any
    """The rclpy LifecycleNode (create clients, timers, publishers on it)."""
    bus: EventBus
    config: KernelConfig
    config_path: 'pathlib.Path | None'
    state_dir: pathlib.Path
    """Writable directory for this kernel's state (journals, private redis data, ...)."""
    components: List[Any] = dataclasses.field(default_factory=list)
    """The kernel's components, in order (the list fills as they are built)."""
    mapped_topics: Callable[[], Dict[str, str]] = lambda: {}
    """The topics the intake maps now: name -> type."""


class KernelComponent(Protocol):
    """A part of the kernel with its own lifecycle (all methods must return promptly)."""

    name: str

    def activate(self) -> None:
        """Start working (the kernel is going to ACTIVE)."""

    def deactivate(self) -> None:
        """Stop taking new work; keep what is queued (the kernel is going to INACTIVE)."""

    def cleanup(self) -> None:
        """Flush and release everything (the kernel is going to UNCONFIGURED or exiting)."""

    def diagnostics(self) -> List[Any]:
        """Return ``diagnostic_msgs/DiagnosticStatus`` entries describing this component."""

    def reconfigure(self, config: KernelConfig) -> None:
        """Apply a new, already validated config (hot reload)."""


ComponentFactory = Callable[[KernelContext], Optional[KernelComponent]]
"""What builds a component at configure, from the context (None: the component is off)."""
