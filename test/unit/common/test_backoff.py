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

"""The one back-off: exponential and step waits, and a counter of failures in a row."""

import math

import pytest

from unity_kernel_core.common.backoff import BackoffCounter, ExponentialBackoff, StepBackoff


def test_backoff_doubles_up_to_the_cap_and_resets():
    b = BackoffCounter(ExponentialBackoff(0.1, 0.5))
    assert [round(b.next_delay(), 3) for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    b.reset()
    assert b.next_delay() == 0.1
    with pytest.raises(ValueError):
        ExponentialBackoff(1, 0.5)
    with pytest.raises(ValueError):
        ExponentialBackoff(-0.1, 1)


def test_exponential_without_a_cap_keeps_doubling_and_never_overflows():
    b = ExponentialBackoff(0.01)
    assert [b.compute(n) for n in range(4)] == [0.01, 0.02, 0.04, 0.08]
    assert b.compute(5000) == math.inf
    assert ExponentialBackoff(0.0).compute(5000) == 0.0
    assert ExponentialBackoff(0.5, 30.0).compute(10 ** 6) == 30.0


def test_step_backoff_walks_its_table_then_stays_on_the_last_step():
    b = StepBackoff((0.2, 0.5, 1.0))
    assert [b.compute(n) for n in range(5)] == [0.2, 0.5, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        StepBackoff(())
    with pytest.raises(ValueError):
        StepBackoff((0.1, -1))
