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
Fuzz targets: Hypothesis properties over every decoder and handler at a trust boundary.

Two budgets, one per Hypothesis profile, picked by ``UNITY_FUZZ`` (``make test``: ``ci``,
``make fuzz``: ``long``):

- ``ci``: ``FUZZ_CI_EXAMPLES`` examples per target, derandomized (the same examples every
  run, so a CI failure is reproducible), each example bounded by ``FUZZ_DEADLINE_MS``;
- ``long``: ``FUZZ_LONG_EXAMPLES`` random examples per target, the failing ones kept in
  ``.hypothesis/`` and replayed first next time.

A failure found by either becomes a named regression test beside the target (an
``@example`` on it, or a test of its own).
"""

import datetime
import os

from hypothesis import HealthCheck, settings
import pytest

FUZZ_CI_EXAMPLES = 200
FUZZ_LONG_EXAMPLES = 20_000
FUZZ_DEADLINE_MS = 2_000
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    'ci', max_examples=FUZZ_CI_EXAMPLES, derandomize=True, database=None,
    deadline=datetime.timedelta(milliseconds=FUZZ_DEADLINE_MS),
    suppress_health_check=_SLOW_OK, print_blob=True)
settings.register_profile(
    'long', max_examples=FUZZ_LONG_EXAMPLES, deadline=None,
    suppress_health_check=_SLOW_OK, print_blob=True)
settings.load_profile(os.environ.get('UNITY_FUZZ', 'ci'))


def pytest_collection_modifyitems(config, items):
    """Mark every test under ``test/fuzz`` with ``fuzz``."""
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here + os.sep):
            item.add_marker(pytest.mark.fuzz)
