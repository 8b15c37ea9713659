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
The one back-off: how long to wait after the n-th failure in a row.

As redis-py's ``backoff.py``: a :class:`Backoff` computes the wait from the number of
failures so far and keeps no state; :class:`BackoffCounter` counts the failures of one
thing that is retried (a device reopened, a process restarted) and is reset after a
success. Used by the supervisor's restart policy, the sensors' reopen loop, the bus's
handler retries and the audit writer process's restarts.
"""

import abc
import math
from typing import Sequence, Tuple


class Backoff(abc.ABC):
    """How long to wait after a number of failures in a row."""

    @abc.abstractmethod
    def compute(self, failures: int) -> float:
        """Return the wait in seconds after ``failures`` failures in a row (0: the first)."""


class ExponentialBackoff(Backoff):
    """``base_s * 2**failures``, at most ``cap_s`` (no cap: ``math.inf``)."""

    def __init__(self, base_s: float, cap_s: float = math.inf) -> None:
        if not 0 <= base_s <= cap_s:
            raise ValueError(f'a back-off needs 0 <= base_s <= cap_s, got {base_s}, {cap_s}')
        self.base_s = base_s
        self.cap_s = cap_s

    def __repr__(self) -> str:
        return f'ExponentialBackoff({self.base_s!r}, {self.cap_s!r})'

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExponentialBackoff):
            return NotImplemented
        return (self.base_s, self.cap_s) == (other.base_s, other.cap_s)

    def __hash__(self) -> int:
        return hash((self.base_s, self.cap_s))

    def compute(self, failures: int) -> float:
        """Return ``min(cap_s, base_s * 2**failures)``."""
        if failures >= 1024:  # 2.0**1024 overflows; the cap is reached long before
            return self.cap_s if self.base_s else 0.0
        return min(self.cap_s, self.base_s * 2.0 ** max(0, failures))


class StepBackoff(Backoff):
    """A table of waits: the n-th failure waits ``steps[n]``, the last step from then on."""

    def __init__(self, steps: Sequence[float]) -> None:
        if not steps or any(not 0 <= s < math.inf for s in steps):
            raise ValueError(f'a step back-off needs waits >= 0, got {list(steps)}')
        self.steps: Tuple[float, ...] = tuple(steps)

    def __repr__(self) -> str:
        return f'StepBackoff({self.steps!r})'

    def compute(self, failures: int) -> float:
        """Return the step of ``failures`` (the last one past the end of the table)."""
        return self.steps[min(max(0, failures), len(self.steps) - 1)]


class BackoffCounter:
    """
    The failures in a row of one thing that is retried, and the wait before the next try.

    :meth:`next_delay` counts a failure and returns its wait; :meth:`reset` after a success.
    Not thread-safe: one owner retries.
    """

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self.failures = 0

    def next_delay(self) -> float:
        """Count one more failure; return how long to wait before the next try."""
        delay = self.backoff.compute(self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        """Start again from the first wait (after a success)."""
        self.failures = 0
