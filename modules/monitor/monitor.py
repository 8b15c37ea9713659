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

"""Example in-process module: watch the heartbeat and report when it stops."""

import threading
import time
from typing import Optional

from unity_kernel_core.bus.events import Event
from unity_kernel_core.supervision.module_api import Module, on_event, periodic


class Monitor(Module):
    """Count beats; unhealthy when none arrived within ``timeout_s``."""

    def on_configure(self) -> None:
        """Read the staleness limit."""
        self.timeout_s = float(self.context.parameters.get('timeout_s', 3.0))
        self.beats = 0
        self.last_beat = time.monotonic()
        self._lock = threading.Lock()

    def on_activate(self) -> None:
        """Start the staleness clock from now."""
        self.last_beat = time.monotonic()

    @on_event('/examples/heartbeat')
    def on_beat(self, event: Event) -> None:
        """Record a beat."""
        with self._lock:
            self.beats += 1
            self.last_beat = time.monotonic()

    @periodic(1.0)
    def report(self) -> None:
        """Log when the heartbeat is stale."""
        problem = self.health()
        if problem:
            self.context.logger.warning(problem)

    def health(self) -> Optional[str]:
        """Return a problem when no beat arrived within the limit."""
        age = time.monotonic() - self.last_beat
        if age > self.timeout_s:
            return f'no heartbeat for {age:.1f}s (limit {self.timeout_s:g}s)'
        return None
