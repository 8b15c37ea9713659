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

"""Reading the trail back without Redis: range limits."""

import datetime

import pytest

from unity_kernel_core.audit.store import parse_bound
from unity_kernel_core.errors import AuditError


def test_range_limits_accept_ids_epoch_ms_iso_times_and_open_ends():
    assert parse_bound('-') == '-' and parse_bound('+', end=True) == '+'
    assert parse_bound('1700000000000-5') == '1700000000000-5'
    assert parse_bound('1700000000000') == '1700000000000-0'
    assert parse_bound('1700000000000', end=True) == f'1700000000000-{2**64 - 1}'
    utc = datetime.datetime(2026, 11, 25, 8, 0, tzinfo=datetime.timezone.utc)
    assert parse_bound('2026-11-25T08:00:00+00:00') == f'{int(utc.timestamp() * 1000)}-0'
    with pytest.raises(AuditError, match="bad range limit 'soon'"):
        parse_bound('soon')
