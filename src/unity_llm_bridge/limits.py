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
Per-model spending limits: tokens and cost per minute (sliding window), and concurrency.

A call first *reserves* its estimate (prompt tokens plus ``max_tokens``); the reservation is
refused when it would exceed the minute's budget, and settled with the real usage once the
answer is in. Concurrency is a bounded count of calls in flight.
"""

import collections
import threading
import time
from typing import Callable, Deque, Optional, Tuple

WINDOW_S = 60.0


class Budget:
    """Tokens and cost spent in the last minute, with reservations for calls in flight."""

    def __init__(self, tokens_per_minute: Optional[int], cost_per_minute: Optional[float],
                 cost_per_1k_prompt: float = 0.0, cost_per_1k_completion: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.tokens_per_minute = tokens_per_minute
        self.cost_per_minute = cost_per_minute
        self.cost_per_1k_prompt = cost_per_1k_prompt
        self.cost_per_1k_completion = cost_per_1k_completion
        self._clock = clock
        self._lock = threading.Lock()
        self._spent: Deque[Tuple[float, int, float]] = collections.deque(maxlen=100_000)
        self._reserved_tokens = 0
        self._reserved_cost = 0.0
        self.refused = 0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Return the cost of a call with this usage."""
        return (prompt_tokens * self.cost_per_1k_prompt +
                completion_tokens * self.cost_per_1k_completion) / 1000.0

    def _window(self) -> Tuple[int, float]:
        cutoff = self._clock() - WINDOW_S
        while self._spent and self._spent[0][0] < cutoff:
            self._spent.popleft()
        return (sum(t for _, t, _ in self._spent), sum(c for _, _, c in self._spent))

    def used(self) -> Tuple[int, float]:
        """Return (tokens, cost) spent or reserved within the last minute."""
        with self._lock:
            tokens, cost = self._window()
            return tokens + self._reserved_tokens, cost + self._reserved_cost

    def reserve(self, prompt_tokens: int, completion_tokens: int) -> Optional[Tuple[int, float]]:
        """Reserve an estimated call; return the reservation, or None when over budget."""
        cost = self.cost(prompt_tokens, completion_tokens)
        tokens = prompt_tokens + completion_tokens
        with self._lock:
            spent_tokens, spent_cost = self._window()
            if self.tokens_per_minute is not None and \
                    spent_tokens + self._reserved_tokens + tokens > self.tokens_per_minute:
                self.refused += 1
                return None
            if self.cost_per_minute is not None and \
                    spent_cost + self._reserved_cost + cost > self.cost_per_minute:
                self.refused += 1
                return None
            self._reserved_tokens += tokens
            self._reserved_cost += cost
            return tokens, cost

    def settle(self, reservation: Tuple[int, float], prompt_tokens: int,
               completion_tokens: int) -> None:
        """Replace a reservation by the real usage (0, 0 when the call did not happen)."""
        with self._lock:
            self._reserved_tokens -= reservation[0]
            self._reserved_cost -= reservation[1]
            tokens = prompt_tokens + completion_tokens
            if tokens:
                self._spent.append((self._clock(), tokens,
                                    self.cost(prompt_tokens, completion_tokens)))


class ConcurrencyLimit:
    """At most ``limit`` calls in flight; when full a call is refused at once (next model)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_flight = 0
        self.refused = 0

    def try_acquire(self) -> bool:
        """Take a slot; return False when all are in use."""
        with self._lock:
            if self._in_flight >= self.limit:
                self.refused += 1
                return False
            self._in_flight += 1
            return True

    def release(self) -> None:
        """Give a slot back."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    @property
    def in_flight(self) -> int:
        """Return the calls in flight."""
        return self._in_flight
