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
    for _ in range(2):
        assert m.fail(Failure(FailureKind.HUNG, 'no answer'), clock()) is Job.KILL
        assert m.state is ModuleState.RECOVERING
    m.fail(Failure(FailureKind.HUNG, 'no answer'), clock())
    assert m.state is ModuleState.FAILED and m.gave_up
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
