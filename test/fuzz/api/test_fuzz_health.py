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
Fuzz: any /diagnostics report (any node on the domain may send one) gets a verdict or none.

``unity-kernel health`` never raises on a report: statuses of any name, level (0..255),
message and values give None (not the kernel's) or a verdict with a one-line reason (control,
format and line-separator characters but a tab escaped), and a report is healthy only when the
kernel's own status says active and its mirror's level is below ERROR.
"""

import unicodedata

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from hypothesis import given, strategies as st

from unity_kernel_core.api.health import assess, entries_of

NODE = 'unity_kernel'
names = st.one_of(st.sampled_from([f'{NODE}: kernel', f'{NODE}: mirror', 'other: kernel']),
                  st.text(max_size=30))
statuses = st.builds(
    lambda name, level, message, values: DiagnosticStatus(
        name=name, level=bytes([level]), message=message,
        values=[KeyValue(key=k, value=v) for k, v in values]),
    names, st.integers(0, 255), st.text(max_size=60),
    st.lists(st.tuples(st.sampled_from(['state', 'x', '']), st.text(max_size=20)),
             max_size=4))


@given(st.lists(statuses, max_size=6), st.booleans())
def test_any_report_is_a_verdict_or_none(report, expect_mirror):
    entries = entries_of(DiagnosticArray(status=report))
    verdict = assess(NODE, entries, expect_mirror)
    kernel = [e for e in entries if e.name == f'{NODE}: kernel']
    if not kernel:
        assert verdict is None
        return
    assert verdict is not None
    assert not [c for c in verdict.reason if c != '\t'
                and unicodedata.category(c) in ('Cc', 'Cf', 'Zl', 'Zp')], verdict.reason
    mirrors = [e for e in entries if e.name == f'{NODE}: mirror']
    if verdict.healthy:
        assert kernel[-1].values.get('state') == 'active'
        assert (mirrors and mirrors[-1].level < 2) or (not mirrors and not expect_mirror)
