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
Restart decisions: exponential back-off and a maximum number of restarts in a time window.

Pure Python with an injectable clock, so the rules are tested without waiting. The delays
are :class:`unity_kernel_core.common.backoff.ExponentialBackoff`'s.
"""

import collections
import time
from typing import Callable, Deque, Optional

from unity_kernel_core.common.backoff import ExponentialBackoff


class RestartTracker:
    """
    Decide whether and when a failed module is restarted.

    Each failure doubles the delay from ``backoff_initial_s`` up to ``backoff_max_s``. More
    than ``max_restarts`` restarts within ``window_s`` means the module is given up on
    (``next_delay`` returns None). A module that stays up for a whole window starts again
    from the initial delay.
    """

    def __init__(self, policy: str, max_restarts: int, window_s: float,
                 backoff_initial_s: float, backoff_max_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.max_restarts = max_restarts
        self.window_s = window_s
        self.backoff = ExponentialBackoff(backoff_initial_s, backoff_max_s)
        self._clock = clock
        self._restarts: Deque[float] = collections.deque()
        self._streak = 0
        self._last_failure: Optional[float] = None

    def _prune(self, now: float) -> None:
        while self._restarts and now - self._restarts[0] > self.window_s:
            self._restarts.popleft()

    @property
    def restarts_in_window(self) -> int:
        """Return how many restarts happened within the last window."""
        self._prune(self._clock())
        return len(self._restarts)

    def next_delay(self, clean_exit: bool = False) -> Optional[float]:
        """
        Record a failure; return the delay before restarting, or None to give up.

        ``clean_exit`` is a process that exited with status 0: restarted only with the
        ``always`` policy.
        """
        now = self._clock()
        self._prune(now)
        if self.policy == 'never' or (clean_exit and self.policy != 'always'):
            return None
        if len(self._restarts) >= self.max_restarts:
            return None
        if self._last_failure is not None and now - self._last_failure > self.window_s:
            self._streak = 0
        self._last_failure = now
        delay = self.backoff.compute(self._streak)
        self._streak += 1
        self._restarts.append(now)
        return delay

    def reset(self) -> None:
        """Forget the history (a manual restart or a reload)."""
        self._restarts.clear()
        self._streak = 0
        self._last_failure = None
