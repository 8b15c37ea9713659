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

"""The health verdict from one /diagnostics report (pure)."""

from diagnostic_msgs.msg import DiagnosticArray

from unity_kernel_core.api.health import assess, entries_of, Entry
from unity_kernel_core.ros.diagnostics import ERROR, OK, STALE, status, WARN


def kernel(state='active', name='unity_kernel'):
    return Entry(f'{name}: kernel', 0, f'{state}, 3 topics mapped', {'state': state})


def mirror(level, message='mirroring to unix:///s/redis.sock', name='unity_kernel'):
    return Entry(f'{name}: mirror', level, message, {'connected': 'True'})


def test_an_active_kernel_with_a_working_mirror_is_healthy():
    verdict = assess('unity_kernel', [kernel(), mirror(0)])
    assert verdict is not None and verdict.healthy
    assert verdict.reason == 'unity_kernel active; mirroring to unix:///s/redis.sock'


def test_a_kernel_that_is_not_active_is_unhealthy_whatever_the_mirror():
    for state in ('inactive', 'unconfigured', 'finalized'):
        verdict = assess('unity_kernel', [kernel(state), mirror(0)])
        assert verdict is not None and not verdict.healthy
        assert verdict.reason == f'unity_kernel is {state}, not active'


def test_a_failing_mirror_is_unhealthy_and_says_why():
    for level in (2, 3):  # ERROR, STALE
        verdict = assess('unity_kernel', [kernel(), mirror(level, 'dropped_queue 12')])
        assert verdict is not None and not verdict.healthy
        assert verdict.reason == ('unity_kernel active but its audit mirror is failing: '
                                  'dropped_queue 12')


def test_a_journaling_mirror_is_degraded_but_healthy():
    verdict = assess('unity_kernel', [kernel(), mirror(1, 'Redis unreachable (refused), '
                                                          'journaling')])
    assert verdict is not None and verdict.healthy
    assert 'degraded: Redis unreachable' in verdict.reason


def test_no_mirror_status_is_healthy_only_when_the_audit_trail_is_off():
    verdict = assess('unity_kernel', [kernel()], expect_mirror=False)
    assert verdict is not None and verdict.healthy and 'redis.enabled is false' in verdict.reason
    verdict = assess('unity_kernel', [kernel()], expect_mirror=True)
    assert verdict is not None and not verdict.healthy
    assert verdict.reason == 'unity_kernel active but reports no audit mirror'


def test_reports_of_other_kernels_or_nodes_are_not_a_verdict():
    other = [kernel(name='scout_2'), mirror(2, name='scout_2'),
             Entry('camera: camera', 0, 'ok', {})]
    assert assess('unity_kernel', other) is None
    # the named kernel's own mirror decides, not another's
    verdict = assess('unity_kernel', other + [kernel(), mirror(0)])
    assert verdict is not None and verdict.healthy


def test_entries_are_read_from_a_diagnostic_array():
    array = DiagnosticArray(status=[
        status('unity_kernel: kernel', OK, 'active', {'state': 'active'}),
        status('unity_kernel: mirror', ERROR, 'held', {'held': 3}),
        status('x', WARN, 'w', {}), status('y', STALE, 's', {})])
    entries = entries_of(array)
    assert [(e.name, e.level) for e in entries] == [
        ('unity_kernel: kernel', 0), ('unity_kernel: mirror', 2), ('x', 1), ('y', 3)]
    assert entries[1].values == {'held': '3'}
    verdict = assess('unity_kernel', entries)
    assert verdict is not None and not verdict.healthy
