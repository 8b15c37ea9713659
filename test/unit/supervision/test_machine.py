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

"""The module state machine's transition table: every allowed and every refused move."""

import itertools

import pytest

from unity_kernel_core.errors import ModuleError, ModuleTransitionError
from unity_kernel_core.supervision.machine import (Failure, FailureKind, Job, ModuleMachine,
                                                   ModuleState, Reason, Transition,
                                                   transition_target, TRANSITIONS)
from unity_kernel_core.supervision.manifest import HealthLimits, RestartPolicy

AV, WA, ST, IN, AC, RE, FA, SP = (
    ModuleState.AVAILABLE, ModuleState.WAITING, ModuleState.STARTING, ModuleState.INACTIVE,
    ModuleState.ACTIVE, ModuleState.RECOVERING, ModuleState.FAILED, ModuleState.STOPPED)
EVERY = {AV, WA, ST, IN, AC, RE, FA, SP}
RUNNING = {AV, WA, ST, IN, AC}

# The rules, written out once more: a module ...
EXPECTED = {
    Transition.WAIT: ({AV, WA, IN, RE}, WA),        # ... waits for its dependencies
    Transition.LOSE_DEPENDENCY: ({AC}, WA),         # ... active loses one
    Transition.START: ({AV, WA, IN, RE}, ST),       # ... is started (not while it runs)
    Transition.RELOAD: (EVERY - {SP}, ST),          # ... gets a new version unless stopped
    Transition.ACTIVATE: ({AV, WA, ST, IN}, AC),    # ... comes up
    Transition.BACK_OFF: (RUNNING, RE),             # ... fails where it can run
    Transition.GIVE_UP: (RUNNING, FA),
    Transition.FAIL_GRAPH: (EVERY, FA),             # ... is failed by its dependency graph
    Transition.REPAIR: ({FA}, WA),
    Transition.PAUSE: ({AC}, IN),                   # ... is deactivated with the kernel
    Transition.LEAVE: (RUNNING | {RE}, SP),         # ... goes away with the kernel
    Transition.RESUME: ({SP}, WA),
    Transition.RESTART: (EVERY, WA),                # operator commands
    Transition.ENABLE: ({AV, SP}, WA),
    Transition.DISABLE: (EVERY, SP),
    Transition.SHUT_DOWN: (EVERY, SP),
}


class Clock:
    """A clock that stands still."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def new_machine(enabled: bool = True, policy: str = 'on-failure') -> ModuleMachine:
    restart = RestartPolicy(policy=policy, max_restarts=3, window_s=60, backoff_initial_s=1.0,
                            backoff_max_s=4.0)
    return ModuleMachine('m', restart, HealthLimits(heartbeat_period_s=1.0,
                                                    heartbeat_timeout_s=2.0,
                                                    transition_timeout_s=5.0),
                         enabled, Clock())


def reach(state: ModuleState) -> ModuleMachine:
    """Return a machine brought to ``state`` through its public methods only."""
    m = new_machine()
    if state is AV:
        return m
    if state is WA:
        m.next_job(0.0, running=True, deps_active=False, waiting_for='base')
    elif state is FA:
        m.graph_failure(Failure(FailureKind.CYCLE, 'dependency cycle: m -> m'))
    elif state is SP:
        m.disable(Reason.DISABLED)
    else:
        epoch = m.begin(Job.START, 0.0)
        if state is AC:
            m.job_done(Job.START, epoch, None, 0.0)
        elif state is IN:
            m.job_done(Job.START, epoch, None, 0.0)
            m.pause()
        elif state is RE:
            m.job_done(Job.START, epoch, Failure(FailureKind.EXITED, 'exited', code=1), 0.0)
    assert m.state is state
    return m


def test_the_table_has_every_transition_and_no_other():
    assert set(TRANSITIONS) == set(Transition) == set(EXPECTED)


@pytest.mark.parametrize('transition,state', list(itertools.product(Transition, ModuleState)),
                         ids=lambda v: v.value)
def test_each_move_is_allowed_or_refused_as_the_rules_say(transition, state):
    sources, target = EXPECTED[transition]
    assert transition_target(state, transition) == (target if state in sources else None)


@pytest.mark.parametrize('state', sorted(ModuleState, key=lambda s: s.value),
                         ids=lambda v: v.value)
def test_a_machine_can_be_asked_what_its_table_allows(state):
    m = reach(state)
    assert {t for t in Transition if m.can(t)} == \
        {t for t, (sources, _) in EXPECTED.items() if state in sources}


# -- a refused move changes nothing and names the module, the move and the state ------------

def _unchanged(m: ModuleMachine):
    return (m.state, m.message, m.reason, m.epoch, m.job, m.configured, m.failure,
            m.restart_at, m.check_at, m.deadlines(), m.restarts)


@pytest.mark.parametrize('state,attempt,transition', [
    (AC, lambda m: m.begin(Job.START, 0.0), Transition.START),
    (ST, lambda m: m.begin(Job.START, 0.0), Transition.START),
    (FA, lambda m: m.begin(Job.START, 0.0), Transition.START),
    (SP, lambda m: m.begin(Job.START, 0.0), Transition.START),
    (SP, lambda m: m.begin(Job.RELOAD, 0.0), Transition.RELOAD),
    (WA, lambda m: m.pause(), Transition.PAUSE),
    (SP, lambda m: m.pause(), Transition.PAUSE),
    (RE, lambda m: m.fail(Failure(FailureKind.HUNG, 'no answer'), 0.0), Transition.BACK_OFF),
    (FA, lambda m: m.fail(Failure(FailureKind.HUNG, 'no answer'), 0.0), Transition.BACK_OFF),
    (SP, lambda m: m.fail(Failure(FailureKind.HUNG, 'no answer'), 0.0), Transition.BACK_OFF),
], ids=lambda v: getattr(v, 'value', ''))
def test_a_move_the_table_lacks_is_refused_and_changes_nothing(state, attempt, transition):
    m = reach(state)
    before = _unchanged(m)
    with pytest.raises(ModuleTransitionError) as refused:
        attempt(m)
    assert refused.value.transition == transition.value
    assert refused.value.state == state.value
    assert str(refused.value) == (f"module 'm': no transition {transition.value!r} from state "
                                  f'{state.value!r}')
    assert _unchanged(m) == before


def test_a_refused_failure_counts_no_restart():
    m = reach(RE)
    first = m.restart_at
    for _ in range(5):
        with pytest.raises(ModuleTransitionError):
            m.fail(Failure(FailureKind.HUNG, 'no answer'), 0.0)
    m.begin(Job.START, first)
    m.job_done(Job.START, m.epoch, Failure(FailureKind.HUNG, 'no answer'), first)
    assert m.state is RE  # the refused failures did not use up its restarts


def test_a_refused_move_is_a_module_error():
    assert issubclass(ModuleTransitionError, ModuleError)


# -- reasons, not words, decide --------------------------------------------------------------

def test_a_module_that_lost_a_dependency_keeps_saying_so_while_it_waits():
    m = reach(AC)
    assert m.next_job(0.0, running=True, deps_active=False, waiting_for='base') is Job.DEACTIVATE
    assert m.reason is Reason.DEPENDENCY_LOST
    m.job_done(Job.DEACTIVATE, m.epoch, None, 0.0)
    assert m.next_job(0.0, running=True, deps_active=False, waiting_for='base') is None
    assert (m.reason, m.message) == (Reason.DEPENDENCY_LOST, 'dependency base is not active')


def test_every_reason_a_module_reaches_is_reported():
    m = reach(AV)
    m.next_job(0.0, running=True, deps_active=False, waiting_for='a, b')
    assert (m.state, m.reason, m.message) == (WA, Reason.WAITING_FOR_DEPENDENCIES,
                                              'waiting for a, b')
    m.begin(Job.START, 0.0)
    assert (m.reason, m.message) == (Reason.STARTING, 'starting')
    m.job_done(Job.START, m.epoch, Failure(FailureKind.EXITED, 'exited 3', code=3), 0.0)
    assert (m.state, m.reason, m.message) == (RE, Reason.FAILURE, 'exited 3')
    assert m.graph_failure(Failure(FailureKind.MISSING_DEPENDENCY, 'needs ghost'))
    assert (m.state, m.reason) == (FA, Reason.GRAPH)
    assert m.graph_failure(None)
    assert (m.state, m.reason, m.message) == (WA, Reason.DEPENDENCIES_REPAIRED,
                                              'dependencies repaired')


# -- operator commands on the machine --------------------------------------------------------

def test_restart_acts_on_enabled_modules_only():
    m = new_machine(enabled=False)
    with pytest.raises(ModuleError, match='is not enabled: restart acts on enabled modules'):
        m.restart()
    assert (m.state, m.enabled) == (AV, False)
    m = reach(RE)
    m.restart()
    assert (m.state, m.reason, m.failure, m.restart_at) == (WA, Reason.RESTART_REQUESTED,
                                                            None, None)


def test_enable_and_disable_are_their_own_moves_and_idempotent():
    m = new_machine(enabled=False)
    assert m.disable(Reason.DISABLED) is False  # not enabled, never started: nothing to do
    assert m.state is AV
    assert m.enable() is True
    assert (m.state, m.enabled, m.reason, m.message) == (WA, True, Reason.ENABLED, 'enabled')
    assert m.enable() is False
    assert m.disable(Reason.UNLOADED) is True
    assert (m.state, m.enabled, m.message) == (SP, False, 'unloaded')
    assert m.next_job(0.0, running=True, deps_active=True) is None  # stays down
    assert m.enable() is True and m.state is WA
    assert m.next_job(0.0, running=True, deps_active=True) is Job.START
