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
The supervision scheduler: one loop over every module's state machine that never waits for one.

ROS-free. Every blocking call on a module (start, lifecycle transitions, health checks, kill,
stop) runs as a *job* on a worker: transitions on a bounded pool (``TRANSITION_WORKERS`` at
once), checks and kills on another, so a hung or slow module holds a worker, never the loop.
A job's result comes back as an event. Back-offs and health-check periods are deadlines the
loop wakes up for. Events (dataclasses): a job's result, a node's transition event
(``post_transition``), a function to run on the loop (``call``: operator commands, reloads,
discovery), the clock.

Every loop step (``step``) walks the modules in dependency order and asks each machine what
to do: a module whose dependencies are all active starts (or is activated again), an active
module whose dependency is not active is deactivated (state ``waiting``), a failed module is
killed and restarted when its back-off deadline passes. A module whose dependency is missing
or in a cycle is failed with the reason; the others are not affected.

Orderly shutdown (``deactivate_all``, ``stop_all``) is the exception: the kernel is going
down, so it runs on the loop's thread, in reverse dependency order, and waits for it. While
the kernel is going down (``halt`` set) nothing is recovered: a module whose process exits,
whose node leaves the ROS graph or finalizes itself, or that fails a job is stopped at once
(the machine's LEAVE; under ``ros2 launch`` a terminal's Ctrl-C reaches every process at
once), a health check in flight is abandoned, not waited for, and the orderly shutdown does
not ask such a module anything.

Operator commands (:class:`ModuleCommand`) are carried out on the loop; one that finds a
job in flight waits for it (``pending``). Each gets an outcome in ``outcomes`` when it has an
id: ``refused`` when the loop refuses it, ``done`` once the module is where the command
puts it (active; or stopped), ``failed`` when it ends elsewhere (recovering, failed, or
overtaken by a later command).

Threads: only the loop's thread changes records and machines, and it holds ``lock`` while
it does; other threads (the module list, ``/diagnostics``) take ``lock`` to read them. The
loop never holds it while it waits (for an event, for jobs, or in the orderly shutdown for
a module's runner), nor while it calls ``on_change`` and ``on_give_up``.
"""

import concurrent.futures
import dataclasses
import logging
import queue
import threading
import time
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple, Union

from unity_kernel_core.errors import ModuleError
from unity_kernel_core.module_commands import ModuleCommand, OutcomeStatus
from unity_kernel_core.supervision import module_graph
from unity_kernel_core.supervision.machine import (Failure, FailureKind, Job, ModuleMachine,
                                                   ModuleState, Reason)
from unity_kernel_core.supervision.manifest import Manifest
from unity_kernel_core.supervision.outcomes import OutcomeBook
from unity_kernel_core.supervision.runner import bring_up, Runner

TRANSITION_WORKERS = 4
"""Lifecycle transitions (start, configure, activate, ...) of independent modules at once."""
QUICK_WORKERS = 8
"""Health checks and kills at once."""
MAX_IDLE_S = 0.1
"""The loop runs at least this often (process exits are polled then)."""
MIN_WAIT_S = 0.005
"""The loop never spins faster than this, whatever deadline is due."""
SHUTDOWN_WAIT_S = 30.0
"""How long an orderly shutdown waits for the jobs in flight to end."""

_QUICK_JOBS = (Job.CHECK, Job.KILL)
_GONE = (FailureKind.EXITED, FailureKind.GONE)
"""Failures of a module that went away by itself: nothing left to ask it."""
_GOING_AWAY = ('shuttingdown', 'finalized')
"""Transition event labels of a node that shuts itself down."""
_GRAPH_KINDS = {'missing': FailureKind.MISSING_DEPENDENCY, 'cycle': FailureKind.CYCLE}
_BRINGS_UP = (ModuleCommand.RESTART, ModuleCommand.ENABLE, ModuleCommand.LOAD)
"""Commands done once their module is active."""
_TAKES_DOWN = {ModuleCommand.DISABLE: Reason.DISABLED, ModuleCommand.UNLOAD: Reason.UNLOADED}
"""Commands done once their module is stopped, and the reason they stop it with."""

_log = logging.getLogger('unity_kernel.supervision.scheduler')


@dataclasses.dataclass(frozen=True)
class Order:
    """An operator command for one module, and the id its outcome is kept under (or None)."""

    command: ModuleCommand
    outcome_id: Optional[str] = None
    manifest: Optional[Manifest] = None
    """The manifest to load (``load`` only)."""
    by_config: bool = False
    """A reloaded config's word (``modules.enabled`` changed): carried out unchecked."""

    @property
    def said(self) -> str:
        """Return the command as a later outcome names it (``disable``, ``disable by ...``)."""
        return self.command.value + (' by a config reload' if self.by_config else '')


@dataclasses.dataclass
class ModuleRecord:
    """Everything the supervisor knows about one module."""

    manifest: Manifest
    machine: ModuleMachine
    runner: Optional[Runner] = None
    reload_error: str = ''
    reported: Tuple[ModuleState, str] = (ModuleState.AVAILABLE, '')
    pending: Optional[Order] = None
    """An operator command waiting for the job in flight to end."""
    carrying: Optional[Order] = None
    """The operator command carried out, whose outcome is not known yet."""
    drop_runner: bool = False
    """Drop the runner when its STOP ends (it is started afresh: code and manifest re-read)."""
    reload_to: Optional[Tuple[Manifest, Runner]] = None
    """A validated new version waiting for the module's dependents to be down."""
    future: Optional['concurrent.futures.Future[Any]'] = None
    abandoned: List['concurrent.futures.Future[Any]'] = dataclasses.field(default_factory=list)
    """Jobs past their deadline still running on a worker: no new start until they end."""

    @property
    def name(self) -> str:
        """Return the module's name."""
        return self.manifest.name

    @property
    def state(self) -> ModuleState:
        """Return the module's state."""
        return self.machine.state

    @property
    def enabled(self) -> bool:
        """Return True when the module is to be brought up."""
        return self.machine.enabled

    def as_dict(self) -> Dict[str, Any]:
        """Return the record as the JSON the list service answers with."""
        m, machine = self.manifest, self.machine
        failure = machine.failure
        return {'name': m.name, 'version': m.version, 'kind': m.kind.value,
                'state': machine.state.value, 'message': machine.message,
                'reason': machine.reason.value,
                'enabled': machine.enabled, 'depends': list(m.depends),
                'restarts': machine.restarts, 'manifest': m.source,
                'reload_error': self.reload_error,
                'failure': None if failure is None else {
                    'kind': failure.kind.value, 'code': failure.code,
                    'detail': failure.detail}}


Listener = Callable[[ModuleRecord, ModuleState], None]


# -- events (queued for the loop) ----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Call:
    fn: Callable[[], Any]
    future: 'concurrent.futures.Future[Any]'


@dataclasses.dataclass(frozen=True)
class _NodeTransition:
    name: str
    label: str


@dataclasses.dataclass(frozen=True)
class _JobStarted:
    name: str
    epoch: int
    job: Job
    at: float


@dataclasses.dataclass(frozen=True)
class _JobDone:
    name: str
    job: Job
    epoch: int
    future: 'concurrent.futures.Future[Any]'


_Event = Union[_Call, _NodeTransition, _JobStarted, _JobDone]


def _failure_of(exc: BaseException, runner: Optional[Runner]) -> Failure:
    """Turn a job's exception into a failure; a process that exited gives its exit code."""
    detail = str(exc) if isinstance(exc, ModuleError) else f'{type(exc).__name__}: {exc}'
    exited = None
    if runner is not None:
        try:
            exited = runner.poll()
        except Exception:  # a broken runner: the exception above says what went wrong
            exited = None
    if exited is not None:
        return Failure(FailureKind.EXITED, detail, code=exited.code)
    return Failure(FailureKind.START_FAILED, detail)


def _run_job(job: Job, runner: Runner) -> Optional[Failure]:
    """Run one job on a worker; return the module's failure, or None."""
    try:
        if job is Job.START:
            bring_up(runner)
        elif job is Job.ACTIVATE:
            runner.activate()
        elif job is Job.DEACTIVATE:
            runner.deactivate()
        elif job is Job.CHECK:
            return runner.check('active')
        elif job is Job.KILL:
            runner.kill()
        elif job is Job.STOP:
            runner.stop()
    except Exception as exc:  # the module's failure, reported through its machine
        return _failure_of(exc, runner)
    return None


def _run_reload(old: Optional[Runner], new: Runner) -> Tuple[Runner, Optional[Failure], str]:
    """
    Replace ``old`` by ``new``; on failure go back to ``old``'s version.

    Return the runner now in place, its failure (None when it is active) and the reload
    error ('' when the new version runs).
    """
    if old is not None:
        try:
            old.stop()
        except Exception as exc:  # it is replaced anyway; say so
            _log.warning(f'stopping the old version of {new.manifest.name}: {exc}')
    try:
        bring_up(new)
        return new, None, ''
    except Exception as exc:
        error = f'new version failed to start: {exc}'
        try:
            new.kill()
        except Exception:  # the broken new version may not even be up
            pass
    if old is None:
        return new, Failure(FailureKind.START_FAILED, error), error
    back = old.fresh()
    try:
        bring_up(back)
        return back, None, error
    except Exception as again:
        return back, Failure(FailureKind.START_FAILED,
                             f'previous version failed to come back: {again}'), error


class Scheduler:
    """
    Supervise modules: one loop, one state machine per module, blocking work on workers.

    ``make_runner`` builds a module's runner from its manifest. ``on_change(record, old)`` is
    called on the loop's thread whenever a module's state changes, ``on_give_up(record)``
    when a module is given up on. ``halt`` is set while the kernel is going down (runners
    stop waiting for their nodes).
    """

    def __init__(self, make_runner: Callable[[Manifest], Runner],
                 clock: Callable[[], float] = time.monotonic,
                 on_change: Optional[Listener] = None,
                 on_give_up: Optional[Callable[[ModuleRecord], None]] = None,
                 halt: Optional[threading.Event] = None,
                 transition_workers: int = TRANSITION_WORKERS,
                 quick_workers: int = QUICK_WORKERS) -> None:
        self.make_runner = make_runner
        self.clock = clock
        self.on_change = on_change
        self.on_give_up = on_give_up
        self.halt = halt if halt is not None else threading.Event()
        self.records: Dict[str, ModuleRecord] = {}
        self.lock = threading.RLock()
        """Held by the loop while it changes records; readers (list, diagnostics) take it."""
        self.outcomes = OutcomeBook()
        """The outcomes of operator commands, by id (any thread may read them)."""
        self.running = False
        """The kernel is active: modules may start."""
        self.graph_problems: Dict[str, str] = {}
        self._config_enabled: FrozenSet[str] = frozenset()
        """The config's ``modules.enabled`` as last given (``set_manifests``)."""
        self._order: List[str] = []
        self._gave_up: List[ModuleRecord] = []
        self._events: 'queue.Queue[_Event]' = queue.Queue()
        self._transitions = concurrent.futures.ThreadPoolExecutor(
            transition_workers, thread_name_prefix='module-transition')
        self._quick = concurrent.futures.ThreadPoolExecutor(
            quick_workers, thread_name_prefix='module-check')

    # -- from any thread -------------------------------------------------------------------

    def call(self, fn: Callable[[], Any]) -> 'concurrent.futures.Future[Any]':
        """Run ``fn`` on the loop's thread; return the future of its result."""
        future: 'concurrent.futures.Future[Any]' = concurrent.futures.Future()
        self._events.put(_Call(fn, future))
        return future

    def post_transition(self, name: str, label: str) -> None:
        """Take a node's transition event (``label``: the state it went to)."""
        self._events.put(_NodeTransition(name, label))

    def close(self) -> None:
        """Stop the workers (jobs in flight are abandoned)."""
        self.halt.set()
        self._transitions.shutdown(wait=False, cancel_futures=True)
        self._quick.shutdown(wait=False, cancel_futures=True)

    # -- the loop --------------------------------------------------------------------------

    def run_once(self, max_wait: float = MAX_IDLE_S) -> None:
        """Wait for an event or the next deadline (at most ``max_wait``), handle it, step."""
        now = self.clock()
        deadlines = [t for r in self.records.values() for t in r.machine.deadlines()
                     if self.running or not r.machine.idle]
        wait = max(MIN_WAIT_S, min([max_wait, *[t - now for t in deadlines]]))
        try:
            event: Optional[_Event] = self._events.get(timeout=min(wait, max_wait))
        except queue.Empty:
            event = None
        if event is not None:
            self._handle(event)
        self.drain()
        self.step()

    def drain(self) -> None:
        """Handle every event already queued."""
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            self._handle(event)

    def _handle(self, event: _Event) -> None:
        if isinstance(event, _Call):
            try:  # the function takes the lock itself where it changes records
                event.future.set_result(event.fn())
            except Exception as exc:  # the caller gets it; the loop goes on
                event.future.set_exception(exc)
        else:
            with self.lock:
                if isinstance(event, _NodeTransition):
                    self._node_transition(event)
                elif isinstance(event, _JobStarted):
                    rec = self.records.get(event.name)
                    if rec is not None:  # its deadline counts from when a worker took it
                        rec.machine.job_started(event.job, event.epoch, event.at)
                else:
                    self._job_done(event)
                self._settle_orders()
        self._report_all()

    def _node_transition(self, event: _NodeTransition) -> None:
        rec = self.records.get(event.name)
        if rec is None:
            return
        label = event.label
        if label in _GOING_AWAY and self.halt.is_set() and rec.runner is not None:
            # it shuts itself down with the kernel (one Ctrl-C for all): no need to ask
            if rec.machine.node_left(Failure(FailureKind.GONE,
                                             f'node shut itself down ({label})')):
                return
        if label != 'active':
            rec.machine.check_now(self.clock())  # check it now, not at the next period

    def step(self) -> None:
        """Advance every module: deadlines, process exits, and the next job of each."""
        now = self.clock()
        with self.lock:
            for name in self._order:
                rec = self.records.get(name)
                if rec is not None:
                    self._step_module(rec, now)
            self._settle_orders()
        self._report_all()

    def _step_module(self, rec: ModuleRecord, now: float) -> None:
        machine = rec.machine
        follow = machine.expire(now)
        if follow is not None:
            self._submit(rec, follow)
        rec.abandoned = [f for f in rec.abandoned if not f.done()]
        if rec.abandoned and machine.idle:
            return  # an abandoned call still runs on its runner: let it end first
        if rec.pending is not None and machine.idle:
            order, rec.pending = rec.pending, None
            try:
                self._apply(rec, order)
            except ModuleError as exc:  # its outcome says so; the other modules go on
                _log.error(f'{order.command.value} refused: {exc}')
            rec = self.records[rec.name]  # a load replaces the record
            machine = rec.machine
        if rec.reload_to is not None:
            self._maybe_reload(rec)
            return
        if machine.idle and machine.configured and rec.runner is not None:
            exited = rec.runner.poll()
            if exited is not None:
                follow = machine.fail(exited, now)
                if follow is not None:
                    self._submit(rec, follow)
        blocked = [d for d in rec.manifest.depends
                   if d not in self.records or
                   self.records[d].state is not ModuleState.ACTIVE]
        job = machine.next_job(now, self.running and not self.halt.is_set(),
                               not blocked, ', '.join(blocked))
        if job is not None:
            self._submit(rec, job)

    # -- jobs ------------------------------------------------------------------------------

    def _submit(self, rec: ModuleRecord, job: Job, fn: Optional[Callable[[], Any]] = None
                ) -> None:
        machine = rec.machine
        if rec.runner is None:
            if job in (Job.KILL, Job.STOP, Job.DEACTIVATE, Job.CHECK):
                machine.runner_missing()
                rec.drop_runner = False
                return
            rec.runner = self.make_runner(rec.manifest)
        runner = rec.runner
        if rec.future is not None and not rec.future.done():
            rec.abandoned.append(rec.future)
        epoch = machine.begin(job, self.clock())
        name = rec.name
        work = fn if fn is not None else (lambda: _run_job(job, runner))

        def run() -> Any:
            self._events.put(_JobStarted(name, epoch, job, self.clock()))
            return work()

        pool = self._quick if job in _QUICK_JOBS else self._transitions
        try:
            future = pool.submit(run)
        except RuntimeError:  # the pools are shut down: the kernel is going away
            machine.abandon_job()
            return
        rec.future = future
        future.add_done_callback(lambda f: self._events.put(_JobDone(name, job, epoch, f)))

    def _job_done(self, event: _JobDone) -> None:
        rec = self.records.get(event.name)
        if rec is None:
            return
        job, epoch = event.job, event.epoch
        try:
            result = event.future.result()
        except concurrent.futures.CancelledError:
            result = Failure(FailureKind.START_FAILED, f'{job.value} cancelled')
        except Exception as exc:  # a bug in a job: report it as the module's failure
            result = _failure_of(exc, rec.runner)
        machine = rec.machine
        current = epoch == machine.epoch
        if job is Job.RELOAD and current and isinstance(result, tuple):
            runner, failure, error = result
            rec.runner, rec.manifest = runner, runner.manifest
            rec.reload_error = error
            if error:
                _log.error(f'reload of {rec.name} failed, going back to the previous version: '
                           f'{error}')
            else:
                _log.info(f'module {rec.name} reloaded (version {rec.manifest.version})')
            result = failure
        follow = machine.job_done(job, epoch, result, self.clock())
        if current and job is Job.STOP and rec.drop_runner:
            rec.drop_runner = False
            rec.runner = None
        if machine.take_gave_up():
            self._gave_up.append(rec)
        if follow is not None:
            self._submit(rec, follow)

    def _maybe_reload(self, rec: ModuleRecord) -> None:
        """Start a pending reload once the module's dependents are down and nothing is busy."""
        machine = rec.machine
        if machine.state is ModuleState.STOPPED:
            _log.info(f'module {rec.name} is stopped: its new version waits for its next start')
            rec.reload_to = None
            return
        machine.prepare_reload()
        graph = self._enabled_graph()
        users = [self.records[d] for d in module_graph.dependents(graph, rec.name)]
        if not machine.idle or any(u.state is ModuleState.ACTIVE or not u.machine.idle
                                   for u in users):
            return
        assert rec.reload_to is not None
        manifest, new = rec.reload_to
        rec.reload_to = None
        old = rec.runner
        machine.reset(manifest.restart, manifest.health)
        self._submit(rec, Job.RELOAD, lambda: _run_reload(old, new))

    # -- operator commands (on the loop's thread) ------------------------------------------

    def command(self, command: ModuleCommand, target: Union[str, Manifest],
                outcome_id: Optional[str] = None) -> str:
        """
        Carry out an operator command on module ``target`` (a manifest for ``load``).

        Return what was done or scheduled; raise ModuleError when the command is refused
        (its outcome, when it has an id, says so too).
        """
        try:
            with self.lock:
                return self._command(command, target, outcome_id)
        except ModuleError as exc:
            self.outcomes.settle(outcome_id, OutcomeStatus.REFUSED, str(exc))
            raise
        finally:
            self._report_all()

    def _command(self, command: ModuleCommand, target: Union[str, Manifest],
                 outcome_id: Optional[str]) -> str:
        if command is ModuleCommand.LOAD:
            if not isinstance(target, Manifest):
                raise ModuleError(str(target), 'load takes a validated manifest')
            order = Order(command, outcome_id, target)
            existing = self.records.get(target.name)
            if existing is None or existing.machine.idle:
                return self._apply(existing, order)
            self._queue(existing, order)
            return f'{target.name}: load scheduled'
        if not isinstance(target, str):
            raise ModuleError(target.name, f'{command.value} takes a module name')
        rec = self._record(target)
        self._check(rec, command)
        order = Order(command, outcome_id)
        if rec.machine.idle:
            return self._apply(rec, order)
        self._queue(rec, order)
        return f'{target}: {command.value} scheduled'

    def check(self, command: ModuleCommand, target: Union[str, Manifest]) -> None:
        """
        Refuse (ModuleError) a command that cannot be carried out as things stand (any thread).

        What the loop would refuse now; it checks again when it carries the command out.
        """
        with self.lock:
            if isinstance(target, Manifest):
                self._check_load(target)
            else:
                self._check(self._record(target), command)

    def _queue(self, rec: ModuleRecord, order: Order) -> None:
        """Keep ``order`` until the module's job in flight ends (a later one replaces it)."""
        if rec.pending is not None:
            self.outcomes.settle(rec.pending.outcome_id, OutcomeStatus.REFUSED,
                                 f'overtaken by a later {order.said} before it was carried out')
        rec.pending = order

    def _check(self, rec: ModuleRecord, command: ModuleCommand) -> None:
        """Refuse a command that cannot be carried out as things stand (ModuleError)."""
        name = rec.name
        if command is ModuleCommand.RESTART and not rec.enabled:
            raise ModuleError(name, 'is not enabled: restart acts on enabled modules (enable it '
                                    'first)')
        if command in _TAKES_DOWN:
            users = [d for d in module_graph.dependents(self._enabled_graph(), name)
                     if self.records[d].runner is not None]
            if users:
                raise ModuleError(name, f'still needed by {", ".join(users)}; '
                                        f'{command.value} those first')
        if command is ModuleCommand.ENABLE and not rec.enabled:
            self._check_graph(name, list(rec.manifest.depends))

    def _check_graph(self, name: str, depends: List[str]) -> None:
        """Refuse a module that could not start beside the enabled ones (ModuleError)."""
        graph = self._enabled_graph()
        graph[name] = depends
        _, problems = module_graph.partition(graph)
        if name in problems:
            raise ModuleError(name, problems[name][1])

    def _apply(self, rec: Optional[ModuleRecord], order: Order) -> str:
        """Carry ``order`` out now (the module is idle); return what was done."""
        try:
            if order.command is ModuleCommand.LOAD:
                return self._load(rec, order)
            assert rec is not None
            if not order.by_config:
                self._check(rec, order.command)  # things may have changed while it waited
            if order.command is ModuleCommand.RESTART:
                rec.machine.restart()
                changed = True
            elif order.command is ModuleCommand.ENABLE:
                changed = rec.machine.enable()
            else:
                changed = rec.machine.disable(_TAKES_DOWN[order.command])
                rec.reload_to = None
        except ModuleError as exc:
            self.outcomes.settle(order.outcome_id, OutcomeStatus.REFUSED, str(exc))
            raise
        if not changed:
            state = 'already enabled' if rec.enabled else 'not enabled'
            if order.by_config:
                pass  # an operator's command took it first; its outcome stays its own
            elif self._standing(rec, order.command) is OutcomeStatus.DONE or (
                    order.command in _TAKES_DOWN and rec.state is ModuleState.AVAILABLE):
                self.outcomes.settle(order.outcome_id, OutcomeStatus.DONE,
                                     f'{rec.name} is {state} ({rec.state.value})')
            else:  # on its way there (a config reload took it first): done when it arrives
                self._carry(rec, order)
            return f'{rec.name}: {state}'
        self._carry(rec, order)
        if rec.runner is not None and order.command is not ModuleCommand.ENABLE:
            rec.drop_runner = True  # started afresh: code and manifest re-read
            self._submit(rec, Job.STOP)
        self._update_graph()
        return f'{rec.name}: {order.command.value} scheduled'

    def _check_load(self, manifest: Manifest) -> bool:
        """Refuse a module that cannot be loaded (ModuleError); True when it already runs."""
        name = manifest.name
        existing = self.records.get(name)
        if existing is not None and existing.runner is not None:
            if existing.manifest.source != manifest.source:
                raise ModuleError(name, f'already loaded from {existing.manifest.source}')
            if existing.enabled:
                return True
        missing = [d for d in manifest.depends if d not in self.records]
        if missing:
            raise ModuleError(name, f'depends on unknown module(s): {", ".join(missing)}')
        self._check_graph(name, list(manifest.depends))
        return False

    def _load(self, existing: Optional[ModuleRecord], order: Order) -> str:
        manifest = order.manifest
        assert manifest is not None
        name = manifest.name
        if self._check_load(manifest):
            assert existing is not None
            self.outcomes.settle(order.outcome_id, OutcomeStatus.DONE,
                                 f'{name} is already loaded ({existing.state.value})')
            return f'{name}: already {existing.state.value}'
        machine = ModuleMachine(name, manifest.restart, manifest.health, True, self.clock,
                                self.halt.is_set)
        rec = ModuleRecord(manifest, machine)
        if existing is not None:
            rec.runner = existing.runner
            self._overtake(existing, order)
        self.records[name] = rec
        self._carry(rec, order)
        if rec.runner is not None:
            rec.drop_runner = True
            self._submit(rec, Job.STOP)
        self._update_graph()
        return f'{name}: {machine.state.value}'

    def _carry(self, rec: ModuleRecord, order: Order) -> None:
        """Follow ``order`` until its module gets where it puts it (``_settle_orders``)."""
        self._overtake(rec, order)
        rec.carrying = order

    def _overtake(self, rec: ModuleRecord, order: Order) -> None:
        if rec.carrying is not None:
            self.outcomes.settle(rec.carrying.outcome_id, OutcomeStatus.FAILED,
                                 f'overtaken by a later {order.said}')
            rec.carrying = None

    def _settle_orders(self) -> None:
        """Give each command carried out its outcome once its module is where it leads."""
        for rec in self.records.values():
            order = rec.carrying
            if order is None:
                continue
            machine, name = rec.machine, rec.name
            words = f'{name} is {machine.state.value}' + (f' ({machine.message})'
                                                          if machine.message else '')
            status = self._standing(rec, order.command)
            if status is OutcomeStatus.SCHEDULED:
                words = f'{order.command.value} of {name} in progress: {words}'
            else:
                rec.carrying = None
            self.outcomes.settle(order.outcome_id, status, words)

    @staticmethod
    def _standing(rec: ModuleRecord, command: ModuleCommand) -> OutcomeStatus:
        """Return where ``command`` stands for ``rec``: there (done), elsewhere, on its way."""
        machine = rec.machine
        state = machine.state
        if command in _BRINGS_UP:
            if state is ModuleState.ACTIVE and machine.idle:
                return OutcomeStatus.DONE
            if state in (ModuleState.RECOVERING, ModuleState.FAILED, ModuleState.STOPPED):
                return OutcomeStatus.FAILED
            return OutcomeStatus.SCHEDULED
        if state is ModuleState.STOPPED:
            done = machine.idle and not machine.configured
            return OutcomeStatus.DONE if done else OutcomeStatus.SCHEDULED
        return OutcomeStatus.FAILED

    # -- convenience (tests, on the loop's thread) -----------------------------------------

    def load(self, manifest: Manifest) -> str:
        """Add and enable a module at run time (on the loop's thread)."""
        return self.command(ModuleCommand.LOAD, manifest)

    def restart(self, name: str) -> str:
        """Restart an enabled module by operator request (on the loop's thread)."""
        return self.command(ModuleCommand.RESTART, name)

    def unload(self, name: str) -> str:
        """Stop a module and disable it (on the loop's thread)."""
        return self.command(ModuleCommand.UNLOAD, name)

    def reload(self, name: str, manifest: Manifest, runner: Runner) -> None:
        """Replace a running module by a validated new version (on the loop's thread)."""
        with self.lock:
            rec = self._record(name)
            rec.reload_to = (manifest, runner)

    def reject_reload(self, name: str, error: str) -> None:
        """Record a new version that could not even be loaded; the running one stays."""
        with self.lock:
            rec = self._record(name)
            rec.reload_error = error

    def _record(self, name: str) -> ModuleRecord:
        rec = self.records.get(name)
        if rec is None:
            raise ModuleError(name, 'no such module')
        return rec

    # -- reporting (on the loop's thread, without the lock) --------------------------------

    def _report_all(self) -> None:
        for rec in list(self.records.values()):
            self._report(rec)
        gave_up, self._gave_up = self._gave_up, []
        for rec in gave_up:
            if self.on_give_up is not None:
                self.on_give_up(rec)

    def _report(self, rec: ModuleRecord) -> None:
        now = (rec.machine.state, rec.machine.message)
        if now == rec.reported:
            return
        old = rec.reported[0]
        rec.reported = now
        if old is not now[0] and self.on_change is not None:
            self.on_change(rec, old)

    # -- the module set (on the loop's thread) ---------------------------------------------

    def _enabled_graph(self) -> Dict[str, List[str]]:
        return {n: list(r.manifest.depends) for n, r in self.records.items() if r.enabled}

    def _update_graph(self) -> None:
        """Recompute the start order; fail the modules a missing dependency or cycle concerns."""
        good, problems = module_graph.partition(self._enabled_graph())
        order = [n for group in good for n in group]
        self._order = order + sorted(n for n in self.records if n not in order)
        for name, rec in self.records.items():
            problem = problems.get(name)
            failure = None if problem is None else Failure(_GRAPH_KINDS[problem[0]], problem[1])
            if rec.machine.graph_failure(failure) and failure is not None and \
                    rec.runner is not None:
                self._submit(rec, Job.STOP)
        self.graph_problems = {n: m for n, (_, m) in problems.items()}

    def set_manifests(self, manifests: Dict[str, Manifest], enabled: List[str]) -> None:
        """
        Take the discovered manifests: new ones are added, ``enabled`` ones brought up.

        Again (a reloaded config): a module that is not running (available, stopped) takes
        its new manifest (the config's overrides); one that joined ``enabled`` is enabled and
        brought up, one that left it is disabled and stopped, as the ``enable`` and
        ``disable`` commands do but unchecked (the config is the word: the dependency graph
        fails a module whose dependency it disabled). A module whose place in ``enabled``
        did not change keeps what operator commands made of it.
        """
        with self.lock:
            before, self._config_enabled = self._config_enabled, frozenset(enabled)
            switches: List[Tuple[ModuleRecord, Order]] = []
            for name, manifest in manifests.items():
                rec = self.records.get(name)
                if rec is None:
                    machine = ModuleMachine(name, manifest.restart, manifest.health,
                                            name in enabled, self.clock, self.halt.is_set)
                    self.records[name] = ModuleRecord(manifest, machine)
                    continue
                if rec.runner is None and rec.machine.idle and rec.manifest != manifest and \
                        rec.state in (ModuleState.AVAILABLE, ModuleState.STOPPED):
                    rec.manifest = manifest
                    rec.machine.reset(manifest.restart, manifest.health)
                if (name in enabled) != (name in before):
                    switches.append((rec, Order(ModuleCommand.ENABLE if name in enabled
                                                else ModuleCommand.DISABLE, by_config=True)))
            rank = {n: i for i, n in enumerate(self._order)}

            def turn(switch: Tuple[ModuleRecord, Order]) -> Tuple[bool, int]:
                # dependents go down before their dependencies; dependencies come up first
                up = switch[1].command is ModuleCommand.ENABLE
                place = rank.get(switch[0].name, len(rank))
                return up, place if up else -place
            for rec, order in sorted(switches, key=turn):
                if rec.pending is not None and rec.pending.command is order.command:
                    continue  # an operator's command waiting for a job does the same
                if rec.machine.idle and rec.pending is None:
                    self._apply(rec, order)
                else:
                    self._queue(rec, order)
            self._update_graph()
        self._report_all()

    # -- orderly shutdown (on the loop's thread, waits) ------------------------------------

    def resume(self) -> None:
        """Let modules start (the kernel is active); those stopped going down come back."""
        with self.lock:
            self.running = True
            for rec in self.records.values():
                rec.machine.resume()
        self._report_all()

    def _wait_for_jobs(self) -> None:
        """
        Wait (bounded) for the jobs in flight, then take their results.

        A health check in flight is abandoned, not waited for: its answer no longer matters
        (a module that went away with the kernel would only hold the shutdown up).
        """
        with self.lock:
            for rec in self.records.values():
                if rec.future is not None and rec.machine.abandon_check():
                    rec.abandoned.append(rec.future)
            futures = [r.future for r in self.records.values()
                       if r.future is not None and not r.machine.idle]
        if futures:
            concurrent.futures.wait(futures, SHUTDOWN_WAIT_S)
        time.sleep(0)  # let done-callbacks queue their events
        self.drain()

    def _stop_order(self) -> List[ModuleRecord]:
        return [self.records[n] for n in reversed(self._order)
                if n in self.records and self.records[n].runner is not None]

    def deactivate_all(self) -> None:
        """Deactivate every active module, dependents first (the kernel deactivates)."""
        self.running = False
        self._wait_for_jobs()
        for rec in self._stop_order():
            if rec.state is not ModuleState.ACTIVE or rec.runner is None:
                continue
            try:
                rec.runner.deactivate()
            except Exception as exc:
                _log.error(f'deactivating {rec.name}: {exc}')
            with self.lock:
                rec.machine.pause()
                self._settle_orders()
            self._report(rec)

    def stop_all(self) -> None:
        """Stop every module, dependents first (the kernel cleans up or shuts down)."""
        self.running = False
        self.halt.set()
        self._wait_for_jobs()
        for rec in self._stop_order():
            assert rec.runner is not None
            machine = rec.machine
            left = machine.left and machine.state is ModuleState.STOPPED
            gone = left and machine.failure is not None and machine.failure.kind in _GONE
            try:
                if gone:
                    rec.runner.kill()  # it went away by itself: end what is left, ask nothing
                else:
                    rec.runner.stop()
            except Exception as exc:
                _log.error(f'stopping {rec.name}: {exc}')
            with self.lock:
                rec.runner = None
                machine.shut_down()
                self._settle_orders()
            self._report(rec)
