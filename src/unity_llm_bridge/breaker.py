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
Circuit breaker: stop calling a model that keeps failing, let it back after a cool-down.

CLOSED: calls go through; ``failure_threshold`` consecutive failures open it. OPEN: calls
are refused until ``cooldown_s`` have passed, then it is HALF_OPEN: exactly one trial call
goes through; success closes it, failure opens it again for another cool-down.
"""

import enum
import threading
import time
from typing import Callable


class BreakerState(str, enum.Enum):
    """The states of a circuit breaker."""

    CLOSED = 'closed'
    OPEN = 'open'
    HALF_OPEN = 'half_open'


class CircuitBreaker:
    """A thread-safe circuit breaker for one model."""

    def __init__(self, failure_threshold: int, cooldown_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if failure_threshold < 1 or cooldown_s <= 0:
            raise ValueError('failure_threshold must be >= 1 and cooldown_s > 0')
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_out = False
        self.opened_count = 0

    @property
    def state(self) -> BreakerState:
        """Return the current state; an OPEN breaker turns HALF_OPEN after the cool-down."""
        with self._lock:
            return self._current()

    def _current(self) -> BreakerState:
        if self._state is BreakerState.OPEN and \
                self._clock() - self._opened_at >= self.cooldown_s:
            self._state = BreakerState.HALF_OPEN
            self._trial_out = False
        return self._state

    def allow(self) -> bool:
        """Return True when a call may go out now (in HALF_OPEN: only the one trial call)."""
        with self._lock:
            state = self._current()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._trial_out:
                self._trial_out = True
                return True
            return False

    def record_success(self) -> None:
        """Record a successful call: the breaker closes."""
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._trial_out = False

    def record_failure(self) -> None:
        """Record a failed call: open after the threshold, or at once in HALF_OPEN."""
        with self._lock:
            state = self._current()
            self._failures += 1
            if state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                if self._state is not BreakerState.OPEN:
                    self.opened_count += 1
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
                self._trial_out = False

    def release(self) -> None:
        """Give back a HALF_OPEN trial that was not used (the call never went out)."""
        with self._lock:
            self._trial_out = False

    def remaining_cooldown_s(self) -> float:
        """Return the seconds until an OPEN breaker lets a trial call through (0 otherwise)."""
        with self._lock:
            if self._current() is not BreakerState.OPEN:
                return 0.0
            return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))
