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

"""Module dependency ordering and restart decisions: pure logic."""

import pytest

from unity_kernel_core.errors import ModuleGraphError
from unity_kernel_core.supervision.module_graph import dependents, levels, order, partition
from unity_kernel_core.supervision.restart_policy import RestartTracker


def test_dependencies_come_first_and_independent_modules_share_a_level():
    graph = {'camera': [], 'audio': [], 'fusion': ['camera', 'audio'], 'llm': ['fusion'],
             'logger': []}
    assert levels(graph) == [['audio', 'camera', 'logger'], ['fusion'], ['llm']]
    flat = order(graph)
    for name, deps in graph.items():
        assert all(flat.index(d) < flat.index(name) for d in deps)


def test_cycle_is_refused_naming_its_modules():
    graph = {'a': ['c'], 'b': ['a'], 'c': ['b'], 'free': []}
    with pytest.raises(ModuleGraphError) as info:
        levels(graph)
    assert str(info.value) == 'dependency cycle: a -> c -> b -> a'
    assert sorted(info.value.modules) == ['a', 'b', 'c']


def test_missing_dependency_is_named_with_who_needs_it():
    with pytest.raises(ModuleGraphError, match="module 'llm' depends on 'fusion', which is "
                                               'not available'):
        levels({'llm': ['fusion']})


def test_dependents_are_transitive_in_start_order():
    graph = {'base': [], 'mid': ['base'], 'top': ['mid'], 'other': []}
    assert dependents(graph, 'base') == ['mid', 'top']
    assert dependents(graph, 'top') == []


class FakeClock:

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_backoff_doubles_up_to_the_maximum_then_gives_up():
    clock = FakeClock()
    tracker = RestartTracker('on-failure', 4, 60.0, 0.5, 1.5, clock=clock)
    delays = []
    for _ in range(5):
        delays.append(tracker.next_delay())
        clock.now += 1
    assert delays == [0.5, 1.0, 1.5, 1.5, None]


def test_restarts_outside_the_window_are_forgotten():
    clock = FakeClock()
    tracker = RestartTracker('on-failure', 2, 10.0, 1.0, 8.0, clock=clock)
    assert tracker.next_delay() == 1.0
    assert tracker.next_delay() == 2.0
    assert tracker.next_delay() is None
    clock.now += 11
    assert tracker.next_delay() == 1.0


def test_policies_never_and_clean_exit():
    assert RestartTracker('never', 5, 60, 1, 2).next_delay() is None
    assert RestartTracker('on-failure', 5, 60, 1, 2).next_delay(clean_exit=True) is None
    assert RestartTracker('always', 5, 60, 1, 2).next_delay(clean_exit=True) == 1


def test_partition_fails_only_the_modules_a_gap_or_cycle_concerns():
    graph = {'heartbeat': [], 'monitor': ['heartbeat'], 'orphan': ['ghost'],
             'user': ['orphan'], 'alpha': ['beta'], 'beta': ['alpha'], 'fan': ['alpha']}
    good, problems = partition(graph)
    assert good == [['heartbeat'], ['monitor']]
    assert problems['orphan'] == ('missing', "module 'orphan' depends on 'ghost', which is "
                                             'not available')
    assert problems['user'][0] == 'missing' and "depends on 'orphan', which cannot start" in \
        problems['user'][1]
    assert problems['alpha'] == problems['beta'] == \
        ('cycle', 'dependency cycle: alpha -> beta -> alpha')
    assert problems['fan'][0] == 'cycle' and "'alpha'" in problems['fan'][1]


def test_partition_of_a_sound_graph_is_its_levels():
    graph = {'a': [], 'b': ['a'], 'c': ['a'], 'd': ['b', 'c']}
    assert partition(graph) == (levels(graph), {})
