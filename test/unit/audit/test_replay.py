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

"""Replaying the trail: pacing by the original spacing."""

from unity_kernel_core.audit.record import AuditRecord
from unity_kernel_core.audit.replay import pace


def test_pace_keeps_original_spacing_scaled_by_the_rate():
    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(round(seconds, 6))
        now[0] += seconds

    records = [AuditRecord('/t', 'std_msgs/msg/String', 'NORMAL', i, int(s * 1e9), b'')
               for i, s in enumerate([10.0, 10.5, 12.5])]
    assert list(pace(records, 2.0, sleep, lambda: now[0])) == records
    assert slept == [0.25, 1.0]
    slept.clear()
    list(pace(records, 0.0, sleep, lambda: now[0]))
    assert slept == []
