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
The first moments of a node's process: a signal before the node exists is a clean exit.

A console script imports its node's module (rclpy, the message types, the package: about a
second) before ``main`` runs and the node's own signal handling
(:class:`~unity_kernel_core.ros.lifecycle_base.ShutdownSignals`) is in place. A Ctrl-C in that
second (``ros2 launch`` signals the process group at once, then each process again) used to
raise KeyboardInterrupt inside an import: a traceback, and launch saw ``exit code -2``. So the
console scripts enter here first (:func:`launch`): SIGINT/SIGTERM are recorded from the first
line on, and :func:`~unity_kernel_core.ros.lifecycle_base.run` ends the process with code 0
if one came before the node was made. This module imports nothing heavy.
"""

import importlib
import signal
from typing import Any, List, Optional

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: List[int] = []


def _record(signum: int, _frame: Any) -> None:
    _received.append(signum)


def catch_early_signals() -> None:
    """Record SIGINT/SIGTERM instead of dying or raising, until the node takes them over."""
    for sig in SIGNALS:
        signal.signal(sig, _record)


def early_signal() -> Optional[str]:
    """Return the name of the first signal recorded before the node was made, or None."""
    return signal.Signals(_received[0]).name if _received else None


def launch(module: str, function: str = 'main') -> int:
    """Catch early signals, then import ``module`` and run its ``function`` (a console script)."""
    catch_early_signals()
    return int(getattr(importlib.import_module(module), function)() or 0)


def kernel() -> int:
    """Run the kernel node (console script ``kernel``)."""
    return launch('unity_kernel_core.kernel.node')
