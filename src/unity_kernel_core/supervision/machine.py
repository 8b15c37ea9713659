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
One module's supervision state machine: states, failures, restart and transition deadlines.

Pure Python, no ROS, no threads, no waiting: the scheduler feeds it events (a job's result,
a failure seen by a process poll, a health check or a transition event, the clock) and it
answers with the next job to run for the module, if any. Time is passed in (``now``), so
the rules are tested with a fake clock.

A module has at most one job in flight. A job is a blocking piece of work on the module's
runner (start, activate, deactivate, stop, kill, check) that the scheduler runs on a worker;
its result comes back through :meth:`ModuleMachine.job_done`. A job that outlives its
deadline ends only this module's attempt (:meth:`ModuleMachine.expire`).

Every change of state is a :class:`Transition` of the table ``TRANSITIONS`` (the states it
may start from, the state it leads to): a move the table lacks is refused with
``ModuleTransitionError``. The machine's fields are its own: the scheduler asks it (the
methods below) and reads what it reports (read-only properties); ``Reason`` says why a
module is where it is, ``message`` says it in words.
"""

import dataclasses
import enum
from typing import Callable, FrozenSet, List, Mapping, Optional, Tuple

from unity_kernel_core.errors import ModuleError, ModuleTransitionError
from unity_kernel_core.supervision.manifest import HealthLimits, RestartPolicy
from unity_kernel_core.supervision.restart_policy import RestartTracker


class ModuleState(str, enum.Enum):
    """Where a module is, as the supervisor sees it."""

    AVAILABLE = 'available'      # found, not enabled
    WAITING = 'waiting'          # enabled, waiting for its dependencies
    STARTING = 'starting'
    INACTIVE = 'inactive'
    ACTIVE = 'active'
    RECOVERING = 'recovering'    # failed; restarted when its back-off deadline passes
    FAILED = 'failed'            # given up on (or cannot start: bad dependency)
    STOPPED = 'stopped'


class FailureKind(str, enum.Enum):
    """Why a module is not where it should be."""

    EXITED = 'exited'                        # its process ended (``code``: exit status)
    HUNG = 'hung'                            # no answer in time, or a handler stuck
    GONE = 'gone'                            # left the ROS graph
    WRONG_STATE = 'wrong_state'              # answered, but not in the expected state
    UNHEALTHY = 'unhealthy'                  # in-process: error rate, or health() said so
    START_FAILED = 'start_failed'            # a start or lifecycle transition failed
    TIMEOUT = 'timeout'                      # a job outlived its deadline
    BAD_MANIFEST = 'bad_manifest'            # its manifest (or its new version) is invalid
    MISSING_DEPENDENCY = 'missing_dependency'
    CYCLE = 'cycle'


@dataclasses.dataclass(frozen=True)
class Failure:
    """A structured failure: its kind, the exit code when a process exited, and a detail."""

    kind: FailureKind
    detail: str
    code: Optional[int] = None

    def __str__(self) -> str:
        return self.detail

    @property
    def clean_exit(self) -> bool:
        """Return True for a process that exited with status 0."""
        return self.kind is FailureKind.EXITED and self.code == 0


GRAPH_FAILURES = (FailureKind.MISSING_DEPENDENCY, FailureKind.CYCLE)
"""Failures of the dependency graph: not restarted; cleared when the graph is repaired."""


class Job(str, enum.Enum):
    """A blocking piece of work on a module's runner, run by the scheduler on a worker."""

    START = 'start'              # (re)start, configure and activate
    ACTIVATE = 'activate'        # a configured module whose dependencies are back
    DEACTIVATE = 'deactivate'    # a dependency went away
    CHECK = 'check'              # the periodic health check
    KILL = 'kill'                # end a failed module at once
    STOP = 'stop'                # take it down in order (restart, unload, reload)
    RELOAD = 'reload'            # stop, start the new version; the old one again on failure


JOB_SLACK_S = 5.0
"""Added to a job's own timeouts before its deadline ends the attempt."""


def job_deadline_s(job: Job, health: HealthLimits) -> float:
    """
    Return how long ``job`` may take before it ends the module's attempt.

    A safety net over the runners' own timeouts: a lifecycle call may wait up to twice
    ``transition_timeout_s`` (for the service, then for the answer).
    """
    transition = health.transition_timeout_s
    if job is Job.CHECK:
        return 2 * health.heartbeat_timeout_s + JOB_SLACK_S
    if job is Job.START:
        # the node must appear, then configure and activate
        return 5 * transition + JOB_SLACK_S
    if job is Job.RELOAD:
        # stop the old version, start the new one, maybe the old one again
        return 14 * transition + JOB_SLACK_S
    if job is Job.KILL:
        return 10.0 + JOB_SLACK_S
    return 4 * transition + JOB_SLACK_S


class Reason(str, enum.Enum):
    """Why a module is in its state (its ``message`` says it in words)."""

    NONE = 'none'                                # found; or active
    STARTING = 'starting'                        # a start job is in flight
    RELOADING = 'reloading'                      # a new version is on its way in
    WAITING_FOR_DEPENDENCIES = 'waiting_for_dependencies'
    DEPENDENCY_LOST = 'dependency_lost'          # was active; a dependency went away
    DEPENDENCIES_REPAIRED = 'dependencies_repaired'
    FAILURE = 'failure'                          # failed; back-off running (``failure``)
    GAVE_UP = 'gave_up'                          # failed too often, or the policy says no
    GRAPH = 'graph'                              # missing dependency, cycle, bad manifest
    KERNEL_GOING_DOWN = 'kernel_going_down'      # failed or left while the kernel went down
    KERNEL_ACTIVE_AGAIN = 'kernel_active_again'
    KERNEL_INACTIVE = 'kernel_inactive'
    KERNEL_SHUTTING_DOWN = 'kernel_shutting_down'
    RESTART_REQUESTED = 'restart_requested'
    ENABLED = 'enabled'
    DISABLED = 'disabled'
    UNLOADED = 'unloaded'


class Transition(str, enum.Enum):
    """A move of the machine from one state to another (see ``TRANSITIONS``)."""

    WAIT = 'wait'                        # enabled; a dependency is not active
    LOSE_DEPENDENCY = 'lose_dependency'  # active; a dependency went away (deactivated)
    START = 'start'                      # a start job begins
    RELOAD = 'reload'                    # a new version replaces the running one
    ACTIVATE = 'activate'                # a start, activate or reload job succeeded
    BACK_OFF = 'back_off'                # failed: restarted when the back-off has passed
    GIVE_UP = 'give_up'                  # failed: not restarted any more
    FAIL_GRAPH = 'fail_graph'            # missing dependency, cycle or bad manifest
    REPAIR = 'repair'                    # the dependency graph is whole again
    PAUSE = 'pause'                      # the kernel deactivates
    LEAVE = 'leave'                      # failed or went away while the kernel goes down
    RESUME = 'resume'                    # the kernel is active again after LEAVE
    RESTART = 'restart'                  # operator: start afresh
    ENABLE = 'enable'                    # operator: bring it up
    DISABLE = 'disable'                  # operator: take it down (disable, unload)
    SHUT_DOWN = 'shut_down'              # the kernel stops every module


_S = ModuleState
_ALL = frozenset(ModuleState)
_RUNNING = frozenset({_S.AVAILABLE, _S.WAITING, _S.STARTING, _S.INACTIVE, _S.ACTIVE})
"""Where a module may have a runner that can fail (a failure is seen only there)."""

TRANSITIONS: Mapping[Transition, Tuple[FrozenSet[ModuleState], ModuleState]] = {
    Transition.WAIT: (frozenset({_S.AVAILABLE, _S.WAITING, _S.INACTIVE, _S.RECOVERING}),
                      _S.WAITING),
    Transition.LOSE_DEPENDENCY: (frozenset({_S.ACTIVE}), _S.WAITING),
    Transition.START: (frozenset({_S.AVAILABLE, _S.WAITING, _S.INACTIVE, _S.RECOVERING}),
                       _S.STARTING),
    Transition.RELOAD: (_ALL - {_S.STOPPED}, _S.STARTING),
    Transition.ACTIVATE: (frozenset({_S.AVAILABLE, _S.WAITING, _S.STARTING, _S.INACTIVE}),
                          _S.ACTIVE),
    Transition.BACK_OFF: (_RUNNING, _S.RECOVERING),
    Transition.GIVE_UP: (_RUNNING, _S.FAILED),
    Transition.FAIL_GRAPH: (_ALL, _S.FAILED),
    Transition.REPAIR: (frozenset({_S.FAILED}), _S.WAITING),
    Transition.PAUSE: (frozenset({_S.ACTIVE}), _S.INACTIVE),
    Transition.LEAVE: (_RUNNING | {_S.RECOVERING}, _S.STOPPED),
    Transition.RESUME: (frozenset({_S.STOPPED}), _S.WAITING),
    Transition.RESTART: (_ALL, _S.WAITING),
    Transition.ENABLE: (frozenset({_S.AVAILABLE, _S.STOPPED}), _S.WAITING),
    Transition.DISABLE: (_ALL, _S.STOPPED),
    Transition.SHUT_DOWN: (_ALL, _S.STOPPED),
}
"""Every move of the machine: the states it may start from, and the state it leads to."""


def transition_target(state: ModuleState, transition: Transition) -> Optional[ModuleState]:
    """Return where ``transition`` leads from ``state``, or None when the table lacks it."""
    sources, target = TRANSITIONS[transition]
    return target if state in sources else None


class ModuleMachine:
    """
    The supervision state of one module.

    ``configured`` says whether the module's runner holds a configured (inactive or active)
    module; ``job`` is the job in flight, ``epoch`` numbers the attempts so that the result of
    an abandoned job is ignored. Deadlines: ``restart_at`` (end of the back-off),
    ``check_at`` (next health check), the job in flight's own (it gives up).
    """

    def __init__(self, name: str, restart: RestartPolicy, health: HealthLimits,
                 enabled: bool, clock: Callable[[], float],
                 going_down: Callable[[], bool] = lambda: False) -> None:
        self._name = name
        self._going_down = going_down
        """Return True while the kernel is going down: failures stop the module instead."""
        self._restart = restart
        self._health = health
        self._enabled = enabled
        self._clock = clock
        self._state = ModuleState.AVAILABLE
        self._reason = Reason.NONE
        self._message = ''
        self._failure: Optional[Failure] = None
        self._restarts = 0
        self._configured = False
        self._job: Optional[Job] = None
        self._job_deadline = 0.0
        self._epoch = 0
        self._restart_at: Optional[float] = None
        self._check_at: Optional[float] = None
        self._left = False
        """Set when the module failed or left while the kernel was going down (STOPPED)."""
        self._gave_up = False
        """Set when the machine gives up (FAILED after its restarts); taken once."""
        self._tracker = self._new_tracker()

    def _new_tracker(self) -> RestartTracker:
        r = self._restart
        return RestartTracker(r.policy, r.max_restarts, r.window_s, r.backoff_initial_s,
                              r.backoff_max_s, clock=self._clock)

    # -- what it reports (read-only) -------------------------------------------------------

    @property
    def name(self) -> str:
        """Return the module's name."""
        return self._name

    @property
    def state(self) -> ModuleState:
        """Return where the module is."""
        return self._state

    @property
    def reason(self) -> Reason:
        """Return why the module is in its state."""
        return self._reason

    @property
    def message(self) -> str:
        """Return why the module is in its state, in words ('' when there is nothing to say)."""
        return self._message

    @property
    def failure(self) -> Optional[Failure]:
        """Return the module's last failure; None after a success or an operator reset."""
        return self._failure

    @property
    def restarts(self) -> int:
        """Return how many times the module was restarted after a failure."""
        return self._restarts

    @property
    def enabled(self) -> bool:
        """Return True when the module is to be brought up."""
        return self._enabled

    @property
    def configured(self) -> bool:
        """Return True when the runner holds a configured module: inactive or active."""
        return self._configured

    @property
    def job(self) -> Optional[Job]:
        """Return the job in flight, or None."""
        return self._job

    @property
    def epoch(self) -> int:
        """Return the number of the current attempt (a job's result names its own)."""
        return self._epoch

    @property
    def idle(self) -> bool:
        """Return True when no job is in flight."""
        return self._job is None

    @property
    def left(self) -> bool:
        """Return True for a module stopped because it went away while the kernel went down."""
        return self._left

    @property
    def restart_at(self) -> Optional[float]:
        """Return when the back-off ends (None when no restart is due)."""
        return self._restart_at

    @property
    def check_at(self) -> Optional[float]:
        """Return when the next health check is due (None when none is)."""
        return self._check_at

    @property
    def health(self) -> HealthLimits:
        """Return the module's health limits."""
        return self._health

    @property
    def restart_policy(self) -> RestartPolicy:
        """Return the module's restart policy."""
        return self._restart

    def deadlines(self) -> List[float]:
        """Return the deadlines the scheduler must wake up for (only the job's, while busy)."""
        if self._job is not None:
            return [self._job_deadline]
        return [t for t in (self._restart_at, self._check_at) if t is not None]

    def can(self, transition: Transition) -> bool:
        """Return True when the table has ``transition`` from the current state."""
        return transition_target(self._state, transition) is not None

    # -- the one place the state changes ---------------------------------------------------

    def _require(self, transition: Transition) -> ModuleState:
        """Return where ``transition`` leads; raise ModuleTransitionError if the table lacks it."""
        target = transition_target(self._state, transition)
        if target is None:
            raise ModuleTransitionError(self._name, transition.value, self._state.value)
        return target

    def _move(self, transition: Transition, reason: Reason, message: str = '') -> None:
        target = self._require(transition)
        self._state = target
        self._reason = reason
        self._message = message

    def reset(self, restart: Optional[RestartPolicy] = None,
              health: Optional[HealthLimits] = None) -> None:
        """Forget failures and restart history (operator command, reload, new manifest)."""
        if restart is not None:
            self._restart = restart
        if health is not None:
            self._health = health
        self._tracker = self._new_tracker()
        self._failure = None
        self._restart_at = None
        self._gave_up = False

    def take_gave_up(self) -> bool:
        """Return True once after the machine gave up on the module."""
        gave_up, self._gave_up = self._gave_up, False
        return gave_up

    # -- jobs ------------------------------------------------------------------------------

    def begin(self, job: Job, now: float) -> int:
        """Record ``job`` as in flight; return its epoch (passed back to ``job_done``)."""
        if job is Job.START:
            self._move(Transition.START, Reason.STARTING, 'starting')
        elif job is Job.RELOAD:
            self._move(Transition.RELOAD, Reason.RELOADING, 'reloading')
        self._job = job
        self._job_deadline = now + job_deadline_s(job, self._health)
        if job is Job.CHECK:
            self._check_at = None  # set again when its result comes
        return self._epoch

    def job_started(self, job: Job, epoch: int, now: float) -> None:
        """Count the deadline of ``job`` from ``now``, when a worker took it (if still current)."""
        if self._job is job and self._epoch == epoch:
            self._job_deadline = now + job_deadline_s(job, self._health)

    def abandon_job(self) -> None:
        """Forget the job in flight: it could not be handed to a worker (they are gone)."""
        self._job = None

    def abandon_check(self) -> bool:
        """Abandon a health check in flight (its late result is ignored); True if there was one."""
        if self._job is not Job.CHECK:
            return False
        self._epoch += 1
        self._job = None
        return True

    def runner_missing(self) -> None:
        """Take note that a job that needs a runner found none: nothing is configured."""
        self._configured = False

    def check_now(self, now: float) -> None:
        """Move the next health check of an active module to ``now`` (it left ``active``)."""
        if self._state is ModuleState.ACTIVE:
            self._check_at = now

    def next_job(self, now: float, running: bool, deps_active: bool,
                 waiting_for: str = '') -> Optional[Job]:
        """
        Return the job to run now, or None.

        ``running``: the kernel is active (modules may start). ``deps_active``: every
        dependency is active; ``waiting_for`` names those that are not.
        """
        if self._job is not None or not self._enabled or not running:
            return None
        state = self._state
        if state in (ModuleState.FAILED, ModuleState.STOPPED, ModuleState.STARTING):
            return None
        if state is ModuleState.ACTIVE:
            if not deps_active:
                self._move(Transition.LOSE_DEPENDENCY, Reason.DEPENDENCY_LOST,
                           f'dependency {waiting_for} is not active')
                self._check_at = None
                return Job.DEACTIVATE
            if self._check_at is not None and now >= self._check_at:
                return Job.CHECK
            return None
        if state is ModuleState.RECOVERING:
            if self._restart_at is None or now < self._restart_at:
                return None
            self._restart_at = None
            if not deps_active:
                self._move(Transition.WAIT, Reason.WAITING_FOR_DEPENDENCIES,
                           f'waiting for {waiting_for}')
                return None
            self._restarts += 1
            return Job.START
        # AVAILABLE (just enabled), WAITING, INACTIVE
        if not deps_active:
            if self._reason is not Reason.DEPENDENCY_LOST:
                self._move(Transition.WAIT, Reason.WAITING_FOR_DEPENDENCIES,
                           f'waiting for {waiting_for}')
            return None
        return Job.ACTIVATE if self._configured else Job.START

    def job_done(self, job: Job, epoch: int, failure: Optional[Failure],
                 now: float) -> Optional[Job]:
        """Take a job's result; return a follow-up job (a kill after a failure), or None."""
        if epoch != self._epoch:
            if self._job is job:
                self._job = None  # an abandoned attempt finally ended
            return None
        self._job = None
        if job in (Job.KILL, Job.STOP):
            self._configured = False
            return None
        if failure is not None:
            if job is Job.DEACTIVATE:
                # it is no longer usable as a configured module: start it afresh later
                self._configured = False
                return Job.KILL
            return self.fail(failure, now)
        if job in (Job.START, Job.ACTIVATE, Job.RELOAD):
            self._configured = True
            self._move(Transition.ACTIVATE, Reason.NONE)
            self._check_at = now + self._health.heartbeat_period_s
        elif job is Job.CHECK:
            self._check_at = now + self._health.heartbeat_period_s
        return None

    def expire(self, now: float) -> Optional[Job]:
        """End the attempt of a job past its deadline; return the follow-up job, or None."""
        if self._job is None or now < self._job_deadline:
            return None
        job = self._job
        self._job = None  # the worker may still be busy; its late result is ignored
        if job in (Job.KILL, Job.STOP):
            self._epoch += 1
            self._configured = False
            return None
        return self.fail(Failure(FailureKind.TIMEOUT, f'{job.value} did not finish within '
                                 f'{job_deadline_s(job, self._health):g}s'), now)

    # -- failures --------------------------------------------------------------------------

    def fail(self, failure: Failure, now: float) -> Optional[Job]:
        """
        Take a failure of the module: back off (restart deadline) or give up.

        Return the job that ends what is left of it (KILL), or None when nothing runs.
        While the kernel is going down (``going_down``) the module is not recovered: it is
        stopped at once (LEAVE) and nothing is waited for.
        """
        if failure.kind in GRAPH_FAILURES or failure.kind is FailureKind.BAD_MANIFEST:
            self._move(Transition.FAIL_GRAPH, Reason.GRAPH, failure.detail)
            self._epoch += 1
            self._failure = failure
            self._check_at = self._restart_at = None
            return None
        if self._going_down():
            self._leave(failure)
            return None
        self._require(Transition.BACK_OFF)  # (GIVE_UP starts from the same states)
        delay = self._tracker.next_delay(clean_exit=failure.clean_exit)
        if delay is None:
            restarts = self._tracker.restarts_in_window
            policy = self._restart
            why = (f'{failure}; not restarted (policy {policy.policy})'
                   if policy.policy == 'never' or failure.clean_exit and
                   policy.policy != 'always'
                   else f'{failure}; gave up after {restarts} restart(s) in '
                        f'{policy.window_s:g}s')
            self._move(Transition.GIVE_UP, Reason.GAVE_UP, why)
            self._restart_at = None
            self._gave_up = True
        else:
            self._move(Transition.BACK_OFF, Reason.FAILURE, str(failure))
            self._restart_at = now + delay
        self._epoch += 1
        self._failure = failure
        self._check_at = None
        self._configured = False
        return Job.KILL

    def node_left(self, failure: Failure) -> bool:
        """
        Take a node that shut itself down while the kernel goes down (one Ctrl-C for all).

        Return True when the module is stopped by it (LEAVE): not when it is already stopped
        or failed, nor while a job other than a health check is in flight.
        """
        if not self.can(Transition.LEAVE) or self._job not in (None, Job.CHECK):
            return False
        self._leave(failure)
        return True

    def _leave(self, failure: Failure) -> None:
        """
        Stop the module that exited, left the ROS graph or failed while the kernel goes down.

        Under ``ros2 launch`` a terminal's Ctrl-C reaches every process at once: a module
        going away by itself then is expected, not a failure to recover from. The kernel's
        orderly shutdown ends what is left of it without asking it anything (``left``).
        """
        self._move(Transition.LEAVE, Reason.KERNEL_GOING_DOWN, f'kernel going down; {failure}')
        self._epoch += 1  # the result of a job still in flight is ignored
        self._failure = failure
        self._check_at = self._restart_at = None
        self._configured = False
        self._left = True

    def graph_failure(self, failure: Optional[Failure]) -> bool:
        """
        Mark the module failed by its dependency graph (``failure``) or clear that (None).

        Return True when this changed anything.
        """
        current = self._failure if self._state is ModuleState.FAILED else None
        if failure is not None:
            if current is not None and current == failure:
                return False
            self._move(Transition.FAIL_GRAPH, Reason.GRAPH, failure.detail)
            self._epoch += 1
            self._failure = failure
            self._restart_at = self._check_at = None
            return True
        if current is not None and current.kind in GRAPH_FAILURES:
            self._move(Transition.REPAIR, Reason.DEPENDENCIES_REPAIRED, 'dependencies repaired')
            self._failure = None
            return True
        return False

    # -- the kernel's own transitions ------------------------------------------------------

    def resume(self) -> bool:
        """
        Take back a module stopped while the kernel was going down (it is active again).

        Return True when the module is to be brought up again (it was ``left``).
        """
        if not self._left or self._state is not ModuleState.STOPPED:
            return False
        self._move(Transition.RESUME, Reason.KERNEL_ACTIVE_AGAIN, 'kernel active again')
        self._left = False
        self._failure = None
        return True

    def pause(self) -> None:
        """Take note that the kernel deactivated the (active) module."""
        self._move(Transition.PAUSE, Reason.KERNEL_INACTIVE, 'kernel inactive')
        self._epoch += 1
        self._check_at = None

    def shut_down(self) -> None:
        """Take note that the kernel stopped the module (one that ``left`` keeps its reason)."""
        if not (self._left and self._state is ModuleState.STOPPED):
            self._move(Transition.SHUT_DOWN, Reason.KERNEL_SHUTTING_DOWN,
                       'kernel shutting down')
        self._epoch += 1
        self._configured = False
        self._check_at = self._restart_at = None

    def prepare_reload(self) -> None:
        """Take a new version that waits for the dependents: an active module leaves ``active``."""
        if self._state is ModuleState.ACTIVE:
            self._move(Transition.RELOAD, Reason.RELOADING, 'reloading')
            self._epoch += 1
            self._check_at = None

    # -- operator commands -----------------------------------------------------------------

    def restart(self) -> None:
        """Start the module afresh: forget its failures; refused unless it is enabled."""
        if not self._enabled:
            raise ModuleError(self._name, 'is not enabled: restart acts on enabled modules '
                                          '(enable it first)')
        self._move(Transition.RESTART, Reason.RESTART_REQUESTED, 'restart requested')
        self._restart_afresh()

    def enable(self) -> bool:
        """Enable the module; return False when it already was (nothing changes)."""
        if self._enabled:
            return False
        self._enabled = True
        if self.can(Transition.ENABLE):
            self._move(Transition.ENABLE, Reason.ENABLED, 'enabled')
            self._restart_afresh()
        return True

    def disable(self, reason: Reason) -> bool:
        """
        Disable the module and stop it (``reason``: DISABLED or UNLOADED).

        Return False when it was not enabled and is already stopped or never started.
        """
        was_enabled, self._enabled = self._enabled, False
        if not was_enabled and self._state in (ModuleState.AVAILABLE, ModuleState.STOPPED):
            return False
        self._move(Transition.DISABLE, reason, reason.value)
        self._epoch += 1
        self._left = False
        self._check_at = self._restart_at = None
        return True

    def _restart_afresh(self) -> None:
        self.reset()
        self._epoch += 1
        self._left = False
