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

"""The fleet verb's logic without Redis: one robot's status, the table, a robot in full."""

import pytest

from unity_kernel_core.api import fleet
from unity_kernel_core.audit.fleet import RobotStatus
from unity_kernel_core.errors import AuditError


def robot(robot_id, age_s=2.0, stale=False, **record):
    base = {'state': 'active', 'host': 'h1', 'pid': 42, 'version': '0.1.0',
            'config_hash': 'abc', 'modules': [{'name': 'camera', 'state': 'active'},
                                              {'name': 'audio', 'state': 'failed'}],
            'mirror': {'connected': True, 'queue_depth': 0, 'journal_pending': 0,
                       'written': 10, 'lag': 0}}
    return RobotStatus(robot_id, {**base, **record}, age_s, stale)


class FakeRegistry:
    key = 'unity:fleet'

    def __init__(self, statuses):
        self._statuses = statuses
        self.asked = []

    def statuses(self, stale_after_s):
        self.asked.append(stale_after_s)
        return list(self._statuses)


def test_fleet_statuses_and_one_robot_come_from_the_registry():
    registry = FakeRegistry([robot('a'), robot('b')])
    assert [s.robot_id for s in fleet.fleet_statuses(registry, 5.0)] == ['a', 'b']
    assert fleet.robot_status(registry, 'b', 7.0).robot_id == 'b'
    assert registry.asked == [5.0, 7.0]
    with pytest.raises(AuditError, match="no robot 'c' in the fleet registry unity:fleet"):
        fleet.robot_status(registry, 'c', 5.0)


def test_the_fleet_table_is_aligned_and_escapes_what_robots_wrote():
    text = fleet.format_fleet([robot('a'), robot('robot_two', age_s=90.0, host='h\x1b]0;x')])
    lines = text.splitlines()
    assert lines[0].split()[:3] == ['ROBOT', 'STATE', 'LAST']
    assert lines[1].split()[:5] == ['a', 'active', '2.0s', 'ago', '1/2']
    assert '1.5m ago' in lines[2] and lines[1].index('active') == lines[2].index('active')
    assert '\x1b' not in text and 'h\\x1b]0;x' in text
    assert fleet.format_fleet([]).split()[0] == 'ROBOT'


def test_one_robot_in_full_says_stale_and_lists_its_modules():
    text = fleet.format_robot(robot('a', age_s=7300.0, stale=True, error='bad heartbeat: x'))
    assert 'state:       stale (no heartbeat for 7300.0s)' in text
    assert 'last seen:   2.0h ago' in text
    assert 'modules:     1/2 active' in text and '  audio: failed' in text
    assert 'error:       bad heartbeat: x' in text
    assert 'connected True' in text
    assert 'mirror:      not running' in fleet.format_robot(robot('b', mirror=None))
