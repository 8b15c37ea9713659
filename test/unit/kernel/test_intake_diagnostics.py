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

"""The native intake's /diagnostics entry: counts, and WARN on what went wrong since."""

from unity_kernel_core.kernel.diagnostics import intake_status
from unity_kernel_core.ros.diagnostics import OK, WARN


def stats(taken=0, dropped=0, take_errors=0):
    handoff = {'depth': 0, 'bytes': 0, 'pushed': 0, 'dropped': dropped, 'taken': 0,
               'blocked': 0, 'closed': False}
    return {'taken': taken, 'take_errors': take_errors, 'oversized': 0, 'wait_errors': 0,
            'handoff_dropped': 0, 'not_mirrored': 0, 'delivered': 3, 'refused': 0,
            'handoff': {'CRITICAL': handoff, 'NORMAL': dict(handoff, dropped=0)}}


def level(entry):
    return int.from_bytes(entry.level, 'little') if isinstance(entry.level, bytes) \
        else int(entry.level)


def test_an_intake_that_only_takes_is_ok_and_says_how_much():
    entry = intake_status('k', stats(taken=10), None)
    assert level(entry) == level_of(OK) and 'native: 10 taken, 3 handed' in entry.message


def test_dropped_hand_offs_and_take_errors_since_the_last_report_warn():
    before = stats(taken=10, dropped=2)
    entry = intake_status('k', stats(taken=20, dropped=5, take_errors=1), before)
    assert level(entry) == level_of(WARN)
    assert 'take_errors 1' in entry.message and 'handoff_dropped 3' in entry.message
    assert level(intake_status('k', before, before)) == level_of(OK)
    values = {v.key: v.value for v in entry.values}
    assert values['handoff.critical.dropped'] == '5'


def level_of(value):
    return int.from_bytes(value, 'little') if isinstance(value, bytes) else int(value)
