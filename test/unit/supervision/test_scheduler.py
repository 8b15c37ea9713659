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

"""The supervision state machine and scheduler without ROS: a fake clock and fake runners."""

import pathlib
import threading
import time
from typing import Dict, List, Optional

import pytest

from unity_kernel_core.errors import ModuleError
from unity_kernel_core.module_commands import ModuleCommand, OutcomeStatus
from unity_kernel_core.supervision.machine import (Failure, FailureKind, Job, job_deadline_s,
                                                   ModuleMachine, ModuleState)
from unity_kernel_core.supervision.manifest import (HealthLimits, Manifest, parse_manifest,
                                                    RestartPolicy)
from unity_kernel_core.supervision.scheduler import Scheduler


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def manifest(name: str, depends=(), backoff: float = 1.0, max_restarts: int = 5,
             policy: str = 'on-failure') -> Manifest:
    text = (f'name: {name}\nversion: 1.0.0\nkind: inprocess\nentry: x.py:X\n'
            f'depends: {list(depends)}\n'
            f'restart: {{policy: {policy}, max_restarts: {max_restarts}, window_s: 60, '
            f'backoff_initial_s: {backoff}, backoff_max_s: {max(backoff, 1.0) * 4}}}\n'
            'health: {heartbeat_period_s: 1.0, heartbeat_timeout_s: 2.0, '
            'transition_timeout_s: 5.0}\n')
    return parse_manifest(text, f'{name}/manifest.yaml', pathlib.Path('/nonexistent'))


class FakeRunner:
    """A runner whose every call returns at once, unless told to block, fail or exit."""

    def __init__(self, manifest: Manifest, world: 'World') -> None:
        self.manifest = manifest
        self.world = world
        self.calls: List[str] = []
        self.exited: Optional[Failure] = None
        self.unhealthy: Optional[Failure] = None
        self.broken: Dict[str, str] = {}
        """Calls that fail on this runner only (a broken new version)."""

    def _do(self, what: str) -> None:
        self.calls.append(what)
        if what in self.broken:
            raise ModuleError(self.manifest.name, self.broken[what])
        self.world.log.append((self.manifest.name, what))
        gate = self.world.block.get((self.manifest.name, what))
        if gate is not None:
            gate.wait(30)
        error = self.world.fail.get((self.manifest.name, what))
        if error:
            raise ModuleError(self.manifest.name, error)

    def load(self) -> None:
        self._do('load')

    def start(self) -> None:
        self.exited = None
        self._do('start')

    def configure(self) -> None:
        self._do('configure')

    def activate(self) -> None:
        self._do('activate')

    def deactivate(self) -> None:
        self._do('deactivate')

    def stop(self) -> None:
        self._do('stop')

    def kill(self) -> None:
        self._do('kill')

    def poll(self) -> Optional[Failure]:
        return self.exited

    def check(self, expected: str) -> Optional[Failure]:
        self._do('check')
        return self.exited or self.unhealthy

    def describe(self) -> Dict[str, object]:
        return {}

    def fresh(self) -> 'FakeRunner':
        return FakeRunner(self.manifest, self.world)


class World:
    """A scheduler with fake runners, driven step by step on a fake clock."""

    def __init__(self, *manifests: Manifest, enabled=None) -> None:
        self.clock = Clock()
        self.log: List[tuple] = []
        self.block: Dict[tuple, threading.Event] = {}
        self.fail: Dict[tuple, str] = {}
        self.runners: Dict[str, FakeRunner] = {}
        self.changes: List[tuple] = []
        self.gave_up: List[str] = []
        self.scheduler = Scheduler(self._make, clock=self.clock,
                                   on_change=lambda r, old: self.changes.append(
                                       (r.name, r.state.value)),
                                   on_give_up=lambda r: self.gave_up.append(r.name))
        names = [m.name for m in manifests]
        self.scheduler.set_manifests({m.name: m for m in manifests},
                                     names if enabled is None else enabled)
        self.scheduler.running = True

    def _make(self, manifest: Manifest) -> FakeRunner:
        runner = FakeRunner(manifest, self)
        self.runners[manifest.name] = runner
        return runner

    def state(self, name: str) -> str:
        return self.scheduler.records[name].state.value

    def settle(self, timeout: float = 10.0) -> None:
        """Run loop steps (the clock stands still) until every job that can end has ended."""
        quiet = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.scheduler.run_once(max_wait=0.01)
            busy = [r for r in self.scheduler.records.values()
                    if not r.machine.idle and not self._blocked(r.name)]
            quiet = 0 if busy or not self.scheduler._events.empty() else quiet + 1
            if quiet >= 3:
                return

    def _blocked(self, name: str) -> bool:
        return any(n == name and not g.is_set() for (n, _), g in self.block.items())

    def close(self) -> None:
        for gate in self.block.values():
            gate.set()
        self.scheduler.close()


@pytest.fixture
def world_factory():
    worlds: List[World] = []

    def make(*manifests, **kwargs) -> World:
        world = World(*manifests, **kwargs)
        worlds.append(world)
        return world
    yield make
    for world in worlds:
        world.close()


def rec_health(w: World, name: str) -> HealthLimits:
    return w.scheduler.records[name].machine.health


# -- the state machine alone ---------------------------------------------------------------

def machine(backoff: float = 1.0, max_restarts: int = 3, policy: str = 'on-failure'):
    clock = Clock()
    restart = RestartPolicy(policy=policy, max_restarts=max_restarts, window_s=60,
                            backoff_initial_s=backoff, backoff_max_s=backoff * 4)
    m = ModuleMachine('m', restart, HealthLimits(heartbeat_period_s=1.0,
                                                 heartbeat_timeout_s=2.0,
                                                 transition_timeout_s=5.0), True, clock)
    return m, clock


def test_machine_starts_when_dependencies_are_active_and_waits_otherwise():
    m, clock = machine()
    assert m.next_job(clock(), running=True, deps_active=False, waiting_for='base') is None
    assert m.state is ModuleState.WAITING and m.message == 'waiting for base'
    assert m.next_job(clock(), running=False, deps_active=True) is None
    job = m.next_job(clock(), running=True, deps_active=True)
    assert job is Job.START
    epoch = m.begin(job, clock())
    assert m.state is ModuleState.STARTING
    assert m.job_done(job, epoch, None, clock()) is None
    assert m.state is ModuleState.ACTIVE and m.configured
    assert m.check_at == clock() + 1.0


def test_machine_failure_sets_a_restart_deadline_instead_of_waiting():
    m, clock = machine(backoff=20.0)
    m.begin(Job.START, clock())
    m.job_done(Job.START, m.epoch, None, clock())
    follow = m.fail(Failure(FailureKind.EXITED, 'process exited with status 3', code=3),
                    clock())
    assert follow is Job.KILL
    assert m.state is ModuleState.RECOVERING and m.restart_at == clock() + 20.0
    m.begin(Job.KILL, clock())
    m.job_done(Job.KILL, m.epoch, None, clock())
    clock.advance(19.9)
    assert m.next_job(clock(), running=True, deps_active=True) is None
    assert m.deadlines() == [m.restart_at]
    clock.advance(0.2)
    assert m.next_job(clock(), running=True, deps_active=True) is Job.START
    assert m.restarts == 1


def test_machine_gives_up_after_max_restarts_and_keeps_the_reason():
    m, clock = machine(backoff=0.1, max_restarts=2)
    hung = Failure(FailureKind.HUNG, 'no answer')
    for _ in range(2):
        epoch = m.begin(Job.START, clock())
        assert m.job_done(Job.START, epoch, hung, clock()) is Job.KILL
        assert m.state is ModuleState.RECOVERING
        clock.advance(0.5)
        assert m.next_job(clock(), running=True, deps_active=True) is Job.START
    m.job_done(Job.START, m.begin(Job.START, clock()), hung, clock())
    assert m.state is ModuleState.FAILED and m.take_gave_up() and not m.take_gave_up()
    assert m.message == 'no answer; gave up after 2 restart(s) in 60s'
    assert m.next_job(clock() + 100, running=True, deps_active=True) is None


def test_machine_clean_exit_is_not_restarted_on_failure_policy():
    m, clock = machine()
    m.fail(Failure(FailureKind.EXITED, 'process exited with status 0', code=0), clock())
    assert m.state is ModuleState.FAILED
    assert 'not restarted (policy on-failure)' in m.message


def test_machine_job_past_its_deadline_ends_only_that_attempt_and_late_results_are_ignored():
    m, clock = machine(backoff=0.5)
    epoch = m.begin(Job.START, clock())
    clock.advance(job_deadline_s(Job.START, m.health) + 0.1)
    assert m.expire(clock()) is Job.KILL
    assert m.state is ModuleState.RECOVERING
    assert m.failure is not None and m.failure.kind is FailureKind.TIMEOUT
    # the abandoned worker finally answers: ignored
    assert m.job_done(Job.START, epoch, None, clock()) is None
    assert m.state is ModuleState.RECOVERING


def test_machine_active_module_losing_a_dependency_is_deactivated():
    m, clock = machine()
    m.begin(Job.START, clock())
    m.job_done(Job.START, m.epoch, None, clock())
    assert m.next_job(clock(), running=True, deps_active=False,
                      waiting_for='base') is Job.DEACTIVATE
    assert m.state is ModuleState.WAITING and 'base' in m.message
    m.begin(Job.DEACTIVATE, clock())
    m.job_done(Job.DEACTIVATE, m.epoch, None, clock())
    assert m.next_job(clock(), running=True, deps_active=True) is Job.ACTIVATE


def test_machine_graph_failure_is_set_once_and_cleared_when_repaired():
    m, _clock = machine()
    failure = Failure(FailureKind.MISSING_DEPENDENCY, "module 'm' depends on 'ghost'")
    assert m.graph_failure(failure)
    assert not m.graph_failure(failure)
    assert m.state is ModuleState.FAILED
    assert m.graph_failure(None)
    assert m.state is ModuleState.WAITING


# -- the scheduler with fake runners -------------------------------------------------------

def test_independent_modules_start_together_and_dependents_after(world_factory):
    w = world_factory(manifest('base'), manifest('side'), manifest('top', depends=['base']))
    w.settle()
    assert {n: w.state(n) for n in ('base', 'side', 'top')} == \
        {'base': 'active', 'side': 'active', 'top': 'active'}
    order = [n for n, what in w.log if what == 'activate']
    assert order.index('base') < order.index('top')


def test_a_slow_start_does_not_hold_up_the_others(world_factory):
    w = world_factory(manifest('slow'), manifest('fast'), manifest('after', depends=['fast']))
    gate = w.block[('slow', 'start')] = threading.Event()
    w.settle()
    assert w.state('fast') == 'active' and w.state('after') == 'active'
    assert w.state('slow') == 'starting'
    gate.set()
    w.settle()
    assert w.state('slow') == 'active'


def test_a_failure_during_another_modules_backoff_is_restarted_on_its_own_deadline(
        world_factory):
    w = world_factory(manifest('slow', backoff=20.0), manifest('camera', backoff=0.2))
    w.settle()
    w.runners['slow'].exited = Failure(FailureKind.EXITED, 'exited', code=3)
    w.settle()
    assert w.state('slow') == 'recovering'
    w.clock.advance(1.0)
    w.runners['camera'].exited = Failure(FailureKind.EXITED, 'killed', code=-9)
    w.settle()
    assert w.state('camera') == 'recovering'
    w.clock.advance(0.3)
    w.settle()
    assert w.state('camera') == 'active' and w.state('slow') == 'recovering'
    assert w.scheduler.records['camera'].machine.restarts == 1
    w.clock.advance(20.0)
    w.settle()
    assert w.state('slow') == 'active'


def test_dependents_go_down_while_their_dependency_recovers_and_come_back(world_factory):
    w = world_factory(manifest('base', backoff=0.5), manifest('top', depends=['base']))
    w.settle()
    w.runners['base'].exited = Failure(FailureKind.EXITED, 'exited', code=1)
    w.settle()
    assert w.state('base') == 'recovering' and w.state('top') == 'waiting'
    assert ('top', 'deactivate') in w.log
    w.clock.advance(0.6)
    w.settle()
    assert w.state('base') == 'active' and w.state('top') == 'active'
    assert w.log[-1] == ('top', 'activate')


def test_start_failure_is_retried_per_backoff(world_factory):
    w = world_factory(manifest('quitter', backoff=0.2))
    w.fail[('quitter', 'start')] = 'process exited with status 1 during start'
    w.settle()
    assert w.state('quitter') == 'recovering'
    for _ in range(2):
        w.clock.advance(2.0)
        w.settle()
    assert w.scheduler.records['quitter'].machine.restarts >= 2


def test_missing_dependency_and_cycle_fail_only_their_modules_reported_once(world_factory):
    w = world_factory(manifest('heartbeat'), manifest('monitor', depends=['heartbeat']),
                      manifest('orphan', depends=['ghost']), manifest('alpha', depends=['beta']),
                      manifest('beta', depends=['alpha']))
    for _ in range(5):
        w.clock.advance(1.0)
        w.settle()
    assert w.state('heartbeat') == 'active' and w.state('monitor') == 'active'
    assert {w.state(n) for n in ('orphan', 'alpha', 'beta')} == {'failed'}
    assert w.changes.count(('orphan', 'failed')) == 1
    assert w.changes.count(('alpha', 'failed')) == 1
    assert "'ghost'" in w.scheduler.records['orphan'].machine.message
    assert w.scheduler.records['alpha'].machine.failure.kind is FailureKind.CYCLE
    assert not [n for n, _ in w.log if n in ('orphan', 'alpha', 'beta')]


def test_health_check_failure_restarts_and_giving_up_is_reported(world_factory):
    w = world_factory(manifest('sick', backoff=0.1, max_restarts=1))
    w.settle()
    w.runners['sick'].unhealthy = Failure(FailureKind.UNHEALTHY, 'error rate')
    w.clock.advance(1.1)
    w.settle()
    assert w.state('sick') == 'recovering'
    w.clock.advance(0.2)
    w.settle()
    w.clock.advance(1.1)
    w.settle()
    assert w.state('sick') == 'failed' and w.gave_up == ['sick']


def test_transition_event_leaving_active_triggers_a_check_at_once(world_factory):
    w = world_factory(manifest('driver'))
    w.settle()
    checks = w.log.count(('driver', 'check'))
    w.runners['driver'].unhealthy = Failure(FailureKind.WRONG_STATE,
                                            'in state inactive, expected active')
    w.scheduler.post_transition('driver', 'inactive')
    w.settle()
    assert w.log.count(('driver', 'check')) == checks + 1
    assert w.state('driver') == 'recovering'


def test_operator_restart_unload_and_load(world_factory):
    w = world_factory(manifest('base'), manifest('extra', depends=['base']), enabled=['base'])
    w.settle()
    assert w.state('extra') == 'available'
    assert w.scheduler.call(lambda: w.scheduler.load(manifest('late', depends=['base'])))
    w.settle()
    assert w.state('late') == 'active'
    w.scheduler.call(lambda: w.scheduler.restart('base'))
    w.settle()
    assert [what for n, what in w.log if n == 'base'].count('activate') == 2
    assert w.state('late') == 'active'
    refused = w.scheduler.call(lambda: w.scheduler.unload('base'))
    w.settle()
    with pytest.raises(ModuleError, match='still needed by late'):
        refused.result(1)
    w.scheduler.call(lambda: w.scheduler.unload('late'))
    w.settle()
    assert w.state('late') == 'stopped'
    assert ('late', 'stop') in w.log


def test_reload_keeps_the_old_version_when_the_new_one_fails(world_factory):
    w = world_factory(manifest('base'), manifest('counter', depends=['base']),
                      manifest('user', depends=['counter']))
    w.settle()
    old = w.scheduler.records['counter'].runner
    new = FakeRunner(manifest('counter'), w)
    new.broken['configure'] = 'on_configure raised ValueError: bad'
    w.scheduler.call(lambda: w.scheduler.reload('counter', new.manifest, new))
    w.settle()
    rec = w.scheduler.records['counter']
    assert rec.reload_error == ("new version failed to start: module 'counter': "
                                'on_configure raised ValueError: bad')
    assert 'kill' in new.calls
    # the old version came back on a fresh runner, and its dependent with it
    assert rec.runner is not old and rec.runner is not new
    assert rec.runner.calls == ['start', 'configure', 'activate']
    assert w.state('counter') == 'active' and w.state('user') == 'active'
    # the dependent went down before the old version stopped
    log = w.log
    assert log.index(('user', 'deactivate')) < log.index(('counter', 'stop'))


def test_reload_replaces_the_running_version(world_factory):
    w = world_factory(manifest('counter'))
    w.settle()
    new = FakeRunner(manifest('counter'), w)
    w.scheduler.call(lambda: w.scheduler.reload('counter', new.manifest, new))
    w.settle()
    rec = w.scheduler.records['counter']
    assert rec.runner is new and rec.reload_error == ''
    assert new.calls == ['start', 'configure', 'activate'] and w.state('counter') == 'active'


def test_orderly_shutdown_stops_dependents_first(world_factory):
    w = world_factory(manifest('base'), manifest('top', depends=['base']))
    w.settle()
    w.scheduler.call(w.scheduler.stop_all)
    w.settle()
    stops = [n for n, what in w.log if what == 'stop']
    assert stops == ['top', 'base']
    assert w.state('base') == 'stopped' and w.state('top') == 'stopped'


def test_a_module_that_exits_while_the_kernel_goes_down_is_stopped_not_recovered(
        world_factory):
    """Ctrl-C under ros2 launch reaches the module too: it is stopped and not asked again."""
    w = world_factory(manifest('camera', backoff=0.1), manifest('top', depends=['camera']))
    w.settle()
    w.scheduler.halt.set()  # the kernel is going down (Supervisor.deactivate)
    w.runners['camera'].exited = Failure(FailureKind.EXITED, 'process exited with status 0',
                                         code=0)
    w.settle()
    assert w.state('camera') == 'stopped', w.scheduler.records['camera'].machine.message
    assert 'kernel going down' in w.scheduler.records['camera'].machine.message
    assert 'recovering' not in [s for n, s in w.changes if n == 'camera']
    w.scheduler.call(w.scheduler.deactivate_all)
    w.settle()
    w.scheduler.call(w.scheduler.stop_all)
    w.settle()
    camera = [what for n, what in w.log if n == 'camera']
    assert camera[-1] == 'kill' and 'stop' not in camera and 'deactivate' not in camera
    assert [what for n, what in w.log if n == 'top'][-2:] == ['deactivate', 'stop']
    assert w.state('top') == 'stopped'


def test_a_node_shutting_itself_down_while_the_kernel_goes_down_is_not_checked(
        world_factory):
    w = world_factory(manifest('camera'))
    w.settle()
    checks = w.log.count(('camera', 'check'))
    w.scheduler.halt.set()
    w.scheduler.post_transition('camera', 'shuttingdown')
    w.settle()
    assert w.log.count(('camera', 'check')) == checks
    assert w.state('camera') == 'stopped'
    assert 'node shut itself down' in w.scheduler.records['camera'].machine.message


def test_the_orderly_shutdown_does_not_wait_for_a_health_check_in_flight(world_factory):
    w = world_factory(manifest('camera'))
    w.settle()
    gate = w.block[('camera', 'check')] = threading.Event()
    w.clock.advance(1.1)  # the next check is due: it hangs (the node is going away)
    w.settle(timeout=1.0)
    assert w.scheduler.records['camera'].machine.job is Job.CHECK
    w.scheduler.halt.set()
    start = time.monotonic()
    w.scheduler.call(w.scheduler.deactivate_all)
    w.settle(timeout=2.0)
    assert time.monotonic() - start < 2.0
    assert w.log[-1] == ('camera', 'deactivate')
    assert w.state('camera') == 'inactive'
    gate.set()
    w.settle()
    assert w.state('camera') == 'inactive'  # the late check result is ignored


def test_a_module_stopped_while_the_kernel_was_going_down_comes_back_when_it_is_active(
        world_factory):
    w = world_factory(manifest('camera'))
    w.settle()
    w.scheduler.halt.set()
    w.runners['camera'].exited = Failure(FailureKind.EXITED, 'process exited', code=0)
    w.settle()
    assert w.state('camera') == 'stopped'
    w.scheduler.halt.clear()  # the kernel was only deactivated, and is activated again
    w.scheduler.call(w.scheduler.resume)
    w.settle()
    assert w.state('camera') == 'active'


def test_loop_sleeps_until_the_next_deadline_not_longer():
    clock = Clock()
    s = Scheduler(lambda m: FakeRunner(m, World()), clock=clock)
    try:
        started = time.monotonic()
        s.run_once(max_wait=0.05)
        assert time.monotonic() - started < 1.0
    finally:
        s.close()


def test_a_transition_past_its_deadline_ends_only_that_modules_attempt(world_factory):
    w = world_factory(manifest('stuck', backoff=0.5), manifest('other'))
    gate = w.block[('stuck', 'configure')] = threading.Event()
    w.settle()
    assert w.state('other') == 'active' and w.state('stuck') == 'starting'
    w.clock.advance(job_deadline_s(Job.START, rec_health(w, 'stuck')) + 0.1)
    w.scheduler.run_once(max_wait=0.01)
    rec = w.scheduler.records['stuck']
    assert rec.state.value == 'recovering'
    assert rec.machine.failure.kind is FailureKind.TIMEOUT
    assert w.state('other') == 'active'
    gate.set()  # the abandoned call finally returns: its result is ignored
    w.settle()
    assert rec.machine.failure.kind is FailureKind.TIMEOUT
    w.clock.advance(1.0)
    w.settle()
    assert w.state('stuck') == 'active' and rec.machine.restarts == 1


# -- operator commands and their outcomes ---------------------------------------------------

def order(w: World, command: ModuleCommand, target, wait: bool = True):
    """Take ``command`` as the services do: an outcome id, then the loop carries it out."""
    book = w.scheduler.outcomes
    name = target if isinstance(target, str) else target.name
    outcome = book.take(command, name)

    def run():
        try:
            w.scheduler.command(command, target, outcome.command_id)
        except ModuleError:
            pass  # its outcome says so
    w.scheduler.call(run)
    if wait:
        w.settle()
    return outcome.command_id


def outcome_of(w: World, command_id: str):
    outcome = w.scheduler.outcomes.get(command_id)
    return outcome.status, outcome.message


def test_restart_of_a_module_that_is_not_enabled_is_refused_and_changes_nothing(
        world_factory):
    w = world_factory(manifest('heartbeat'), manifest('haptic'), enabled=['heartbeat'])
    w.settle()
    refused = order(w, ModuleCommand.RESTART, 'haptic')
    assert outcome_of(w, refused) == (
        OutcomeStatus.REFUSED, "module 'haptic': is not enabled: restart acts on enabled "
                               'modules (enable it first)')
    assert w.state('haptic') == 'available' and 'haptic' not in w.runners
    w.clock.advance(30.0)
    w.settle()
    assert w.state('haptic') == 'available'  # nothing retried behind the operator's back


def test_enable_brings_a_module_up_and_its_outcome_follows_it(world_factory):
    w = world_factory(manifest('heartbeat'), manifest('monitor', depends=['heartbeat']),
                      enabled=['heartbeat'])
    w.settle()
    gate = w.block[('monitor', 'activate')] = threading.Event()
    done = order(w, ModuleCommand.ENABLE, 'monitor')
    status, message = outcome_of(w, done)
    assert status is OutcomeStatus.SCHEDULED
    assert message == 'enable of monitor in progress: monitor is starting (starting)'
    gate.set()
    w.settle()
    assert w.state('monitor') == 'active'
    assert outcome_of(w, done) == (OutcomeStatus.DONE, 'monitor is active')
    again = order(w, ModuleCommand.ENABLE, 'monitor')
    assert outcome_of(w, again) == (OutcomeStatus.DONE, 'monitor is already enabled (active)')


def test_enable_of_a_module_whose_dependency_is_not_enabled_is_refused(world_factory):
    w = world_factory(manifest('heartbeat'), manifest('monitor', depends=['heartbeat']),
                      enabled=[])
    w.settle()
    refused = order(w, ModuleCommand.ENABLE, 'monitor')
    assert outcome_of(w, refused) == (
        OutcomeStatus.REFUSED,
        "module 'monitor': module 'monitor' depends on 'heartbeat', which is not available")
    assert w.state('monitor') == 'available' and not w.scheduler.records['monitor'].enabled


def test_disable_takes_a_module_down_once_its_stop_is_done_and_enable_brings_it_back(
        world_factory):
    w = world_factory(manifest('camera'))
    w.settle()
    gate = w.block[('camera', 'stop')] = threading.Event()
    down = order(w, ModuleCommand.DISABLE, 'camera')
    assert w.state('camera') == 'stopped'
    assert outcome_of(w, down)[0] is OutcomeStatus.SCHEDULED  # its stop is still running
    gate.set()
    w.settle()
    assert outcome_of(w, down) == (OutcomeStatus.DONE, 'camera is stopped (disabled)')
    assert w.scheduler.records['camera'].runner is None
    refused = order(w, ModuleCommand.RESTART, 'camera')
    assert outcome_of(w, refused)[0] is OutcomeStatus.REFUSED
    again = order(w, ModuleCommand.DISABLE, 'camera')
    assert outcome_of(w, again) == (OutcomeStatus.DONE, 'camera is not enabled (stopped)')
    up = order(w, ModuleCommand.ENABLE, 'camera')
    assert outcome_of(w, up) == (OutcomeStatus.DONE, 'camera is active')
    assert w.runners['camera'].calls == ['start', 'configure', 'activate']  # a fresh runner


def test_unload_of_a_module_others_need_is_refused_with_the_reason(world_factory):
    w = world_factory(manifest('heartbeat'), manifest('monitor', depends=['heartbeat']))
    w.settle()
    for command in (ModuleCommand.UNLOAD, ModuleCommand.DISABLE):
        refused = order(w, command, 'heartbeat')
        assert outcome_of(w, refused) == (
            OutcomeStatus.REFUSED,
            f"module 'heartbeat': still needed by monitor; {command.value} those first")
    assert w.state('heartbeat') == 'active' and w.state('monitor') == 'active'
    assert ('heartbeat', 'stop') not in w.log


def test_a_restart_whose_start_fails_has_failed_with_the_modules_reason(world_factory):
    w = world_factory(manifest('camera', backoff=5.0))
    w.settle()
    w.fail[('camera', 'start')] = 'process exited with status 1 during start'
    failed = order(w, ModuleCommand.RESTART, 'camera')
    assert outcome_of(w, failed) == (
        OutcomeStatus.FAILED, "camera is recovering (module 'camera': process exited with "
                              'status 1 during start)')


def test_a_command_waits_for_the_job_in_flight_and_a_later_one_overtakes_it(world_factory):
    w = world_factory(manifest('camera'), manifest('lidar'), enabled=['camera'])
    w.settle()
    gate = w.block[('camera', 'check')] = threading.Event()
    w.clock.advance(1.1)  # a health check is in flight and hangs
    w.settle(timeout=0.5)
    first = order(w, ModuleCommand.RESTART, 'camera', wait=False)
    second = order(w, ModuleCommand.DISABLE, 'camera', wait=False)
    w.settle(timeout=0.5)
    assert outcome_of(w, first) == (OutcomeStatus.REFUSED, 'overtaken by a later disable '
                                                           'before it was carried out')
    assert outcome_of(w, second)[0] is OutcomeStatus.SCHEDULED
    assert w.state('camera') == 'active'  # nothing happens under the job in flight
    gate.set()
    w.settle()
    assert outcome_of(w, second) == (OutcomeStatus.DONE, 'camera is stopped (disabled)')


def test_load_is_done_once_the_module_is_active_or_refused_with_the_reason(world_factory):
    w = world_factory(manifest('base'))
    w.settle()
    done = order(w, ModuleCommand.LOAD, manifest('late', depends=['base']))
    assert outcome_of(w, done) == (OutcomeStatus.DONE, 'late is active')
    refused = order(w, ModuleCommand.LOAD, manifest('orphan', depends=['ghost']))
    assert outcome_of(w, refused) == (
        OutcomeStatus.REFUSED, "module 'orphan': depends on unknown module(s): ghost")
    assert 'orphan' not in w.scheduler.records


def test_a_command_on_an_inactive_kernel_stays_scheduled_saying_where_it_is(world_factory):
    w = world_factory(manifest('camera'))
    w.settle()
    w.scheduler.running = False
    pending = order(w, ModuleCommand.RESTART, 'camera')
    assert outcome_of(w, pending) == (
        OutcomeStatus.SCHEDULED,
        'restart of camera in progress: camera is waiting (restart requested)')


def test_record_changes_wait_for_a_reader_holding_the_lock(world_factory):
    w = world_factory(manifest('camera'))
    w.settle()
    w.runners['camera'].exited = Failure(FailureKind.EXITED, 'exited', code=3)
    with w.scheduler.lock:
        stepper = threading.Thread(target=w.scheduler.run_once, args=(0.01,))
        stepper.start()
        stepper.join(0.3)
        assert stepper.is_alive()  # the loop waits for the reader
        assert w.state('camera') == 'active'
    stepper.join(5)
    assert w.state('camera') == 'recovering'


def test_outcomes_can_be_waited_for_from_another_thread(world_factory):
    w = world_factory(manifest('camera'))
    w.settle()
    command_id = order(w, ModuleCommand.RESTART, 'camera', wait=False)
    waited = []
    waiter = threading.Thread(
        target=lambda: waited.append(w.scheduler.outcomes.wait(command_id, 10.0)))
    waiter.start()
    w.settle()
    waiter.join(10)
    assert waited[0].status is OutcomeStatus.DONE


# -- a reloaded config's modules.enabled ------------------------------------------------------

def reload_config(w: World, enabled, wait: bool = True, **manifests: Manifest) -> None:
    """Hand the scheduler a reloaded config's modules (``manifests`` replace the known ones)."""
    known = {n: r.manifest for n, r in w.scheduler.records.items()}
    known.update(manifests)
    w.scheduler.call(lambda: w.scheduler.set_manifests(known, list(enabled)))
    if wait:
        w.settle()


def test_a_reload_stops_a_module_it_disables_and_brings_up_one_it_enables(world_factory):
    w = world_factory(manifest('camera'), manifest('lidar'), enabled=['camera'])
    w.settle()
    reload_config(w, ['lidar'])
    assert (w.state('camera'), w.state('lidar')) == ('stopped', 'active')
    assert w.scheduler.records['camera'].machine.message == 'disabled'
    assert w.runners['camera'].calls == ['start', 'configure', 'activate', 'stop']
    w.clock.advance(5.0)
    w.settle()
    assert w.runners['camera'].calls[-1] == 'stop'  # down, not left running unchecked
    reload_config(w, ['camera', 'lidar'])  # a stopped module comes back too
    assert (w.state('camera'), w.state('lidar')) == ('active', 'active')
    assert w.runners['camera'].calls == ['start', 'configure', 'activate']  # a fresh runner


def test_a_reload_leaves_alone_what_operators_did_to_modules_it_did_not_switch(
        world_factory):
    w = world_factory(manifest('camera'), manifest('lidar'), manifest('audio'),
                      enabled=['camera', 'lidar'])
    w.settle()
    order(w, ModuleCommand.DISABLE, 'camera')
    order(w, ModuleCommand.ENABLE, 'audio')
    reload_config(w, ['camera'])  # camera's place did not change; lidar left
    assert (w.state('camera'), w.state('lidar'), w.state('audio')) == (
        'stopped', 'stopped', 'active')


def test_an_enable_after_the_reload_that_enabled_the_module_is_done_once_it_is_active(
        world_factory):
    w = world_factory(manifest('camera'), enabled=['camera'])
    w.settle()
    order(w, ModuleCommand.DISABLE, 'camera')
    reload_config(w, [])
    gate = w.block[('camera', 'activate')] = threading.Event()
    reload_config(w, ['camera'], wait=False)  # the reload wins the race: camera starts
    up = order(w, ModuleCommand.ENABLE, 'camera', wait=False)
    w.settle(timeout=0.5)
    status, message = outcome_of(w, up)
    assert status is OutcomeStatus.SCHEDULED, message
    gate.set()
    w.settle()
    assert outcome_of(w, up) == (OutcomeStatus.DONE, 'camera is active')


def test_a_disable_after_the_reload_that_disabled_the_module_is_done_once_it_stopped(
        world_factory):
    w = world_factory(manifest('camera'), enabled=['camera'])
    w.settle()
    gate = w.block[('camera', 'stop')] = threading.Event()
    reload_config(w, [], wait=False)
    down = order(w, ModuleCommand.DISABLE, 'camera', wait=False)
    w.settle(timeout=0.5)
    assert w.state('camera') == 'stopped'
    assert outcome_of(w, down)[0] is OutcomeStatus.SCHEDULED  # its stop is still running
    gate.set()
    w.settle()
    assert outcome_of(w, down) == (OutcomeStatus.DONE, 'camera is not enabled (stopped)')


def test_an_operators_enable_waiting_for_a_job_is_not_overtaken_by_the_same_reload(
        world_factory):
    w = world_factory(manifest('camera'), enabled=['camera'])
    w.settle()
    gate = w.block[('camera', 'stop')] = threading.Event()
    reload_config(w, [], wait=False)
    w.settle(timeout=0.5)
    up = order(w, ModuleCommand.ENABLE, 'camera', wait=False)  # waits for the stop
    reload_config(w, ['camera'], wait=False)  # the editor's file, saying the same
    w.settle(timeout=0.5)
    assert outcome_of(w, up)[0] is OutcomeStatus.SCHEDULED
    gate.set()
    w.settle()
    assert outcome_of(w, up) == (OutcomeStatus.DONE, 'camera is active')


def test_a_reload_that_disables_a_dependency_fails_the_dependent_it_keeps(world_factory):
    w = world_factory(manifest('heartbeat'), manifest('monitor', depends=['heartbeat']))
    w.settle()
    restart = order(w, ModuleCommand.RESTART, 'heartbeat', wait=False)
    reload_config(w, ['monitor'])
    assert w.state('heartbeat') == 'stopped'
    assert w.state('monitor') == 'failed'
    assert 'heartbeat' in w.scheduler.records['monitor'].machine.message
    status, message = outcome_of(w, restart)
    assert status is not OutcomeStatus.SCHEDULED, message


def test_a_module_a_reload_enables_starts_with_its_reloaded_manifest(world_factory):
    w = world_factory(manifest('camera'), manifest('lidar', backoff=1.0), enabled=['camera'])
    w.settle()
    reload_config(w, ['camera', 'lidar'], lidar=manifest('lidar', backoff=7.0),
                  camera=manifest('camera', backoff=7.0))
    assert w.runners['lidar'].manifest.restart.backoff_initial_s == 7.0
    assert w.scheduler.records['camera'].manifest.restart.backoff_initial_s == 1.0  # it runs
