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
"""

import dataclasses
import enum
from typing import Callable, Optional

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


class ModuleMachine:
    """
    The supervision state of one module.

    ``configured`` says whether the module's runner holds a configured (inactive or active)
    module; ``job`` is the job in flight, ``epoch`` numbers the attempts so that the result of
    an abandoned job is ignored. Deadlines: ``restart_at`` (end of the back-off),
    ``check_at`` (next health check), ``job_deadline`` (the job in flight gives up).
    """

    def __init__(self, name: str, restart: RestartPolicy, health: HealthLimits,
                 enabled: bool, clock: Callable[[], float],
                 going_down: Callable[[], bool] = lambda: False) -> None:
        self.name = name
        self.going_down = going_down
        """Return True while the kernel is going down: failures stop the module instead."""
        self.left = False
        """Set when the module failed or left while the kernel was going down (STOPPED)."""
        self.restart = restart
        self.health = health
        self.enabled = enabled
        self.clock = clock
        self.state = ModuleState.AVAILABLE
        self.message = ''
        self.failure: Optional[Failure] = None
        self.restarts = 0
        self.configured = False
        self.job: Optional[Job] = None
        self.job_deadline = 0.0
        self.epoch = 0
        self.restart_at: Optional[float] = None
        self.check_at: Optional[float] = None
        self.gave_up = False
        """Set when the machine gives up (FAILED after its restarts); read and cleared."""
        self.tracker = self._new_tracker()

    def _new_tracker(self) -> RestartTracker:
        r = self.restart
        return RestartTracker(r.policy, r.max_restarts, r.window_s, r.backoff_initial_s,
                              r.backoff_max_s, clock=self.clock)

    # -- state -----------------------------------------------------------------------------

    def move(self, state: ModuleState, message: str = '') -> None:
        """Move to ``state`` with ``message`` (the scheduler reports changes)."""
        self.state = state
        self.message = message

    @property
    def idle(self) -> bool:
        """Return True when no job is in flight."""
        return self.job is None

    def reset(self, restart: Optional[RestartPolicy] = None,
              health: Optional[HealthLimits] = None) -> None:
        """Forget failures and restart history (operator restart, reload, new manifest)."""
        if restart is not None:
            self.restart = restart
        if health is not None:
            self.health = health
        self.tracker = self._new_tracker()
        self.failure = None
        self.restart_at = None
        self.gave_up = False

    def deadlines(self) -> list:
        """Return the deadlines the scheduler must wake up for (only the job's, while busy)."""
        if self.job is not None:
            return [self.job_deadline]
        return [t for t in (self.restart_at, self.check_at) if t is not None]

    # -- what to do next -------------------------------------------------------------------

    def begin(self, job: Job, now: float) -> int:
        """Record ``job`` as in flight; return its epoch (passed back to ``job_done``)."""
        self.job = job
        self.job_deadline = now + job_deadline_s(job, self.health)
        if job is Job.CHECK:
            self.check_at = None  # set again when its result comes
        if job is Job.START:
            self.move(ModuleState.STARTING, 'starting')
        return self.epoch

    def next_job(self, now: float, running: bool, deps_active: bool,
                 waiting_for: str = '') -> Optional[Job]:
        """
        Return the job to run now, or None.

        ``running``: the kernel is active (modules may start). ``deps_active``: every
        dependency is active; ``waiting_for`` names those that are not.
        """
        if self.job is not None or not self.enabled or not running:
            return None
        state = self.state
        if state in (ModuleState.FAILED, ModuleState.STOPPED, ModuleState.STARTING):
            return None
        if state is ModuleState.ACTIVE:
            if not deps_active:
                self.move(ModuleState.WAITING, f'dependency {waiting_for} is not active')
                self.check_at = None
                return Job.DEACTIVATE
            if self.check_at is not None and now >= self.check_at:
                return Job.CHECK
            return None
        if state is ModuleState.RECOVERING:
            if self.restart_at is None or now < self.restart_at:
                return None
            if not deps_active:
                self.restart_at = None
                self.move(ModuleState.WAITING, f'waiting for {waiting_for}')
                return None
            self.restart_at = None
            self.restarts += 1
            return Job.START
        # AVAILABLE (just enabled), WAITING, INACTIVE
        if not deps_active:
            if state is not ModuleState.WAITING or not self.message.startswith('dependency'):
                self.move(ModuleState.WAITING, f'waiting for {waiting_for}')
            return None
        return Job.ACTIVATE if self.configured else Job.START

    def job_done(self, job: Job, epoch: int, failure: Optional[Failure],
                 now: float) -> Optional[Job]:
        """Take a job's result; return a follow-up job (a kill after a failure), or None."""
        if epoch != self.epoch:
            if self.job is job:
                self.job = None  # an abandoned attempt finally ended
            return None
        self.job = None
        if job is Job.KILL:
            self.configured = False
            return None
        if job is Job.STOP:
            self.configured = False
            return None
        if failure is not None:
            if job is Job.DEACTIVATE:
                # it is no longer usable as a configured module: start it afresh later
                self.configured = False
                return Job.KILL
            return self.fail(failure, now)
        if job in (Job.START, Job.ACTIVATE, Job.RELOAD):
            self.configured = True
            self.move(ModuleState.ACTIVE)
            self.check_at = now + self.health.heartbeat_period_s
        elif job is Job.CHECK:
            self.check_at = now + self.health.heartbeat_period_s
        return None

    def fail(self, failure: Failure, now: float) -> Optional[Job]:
        """
        Take a failure of the module: back off (restart deadline) or give up.

        Return the job that ends what is left of it (KILL), or None when nothing runs.
        While the kernel is going down (``going_down``) the module is not recovered: it is
        stopped at once (:meth:`stop_going_down`) and nothing is waited for.
        """
        self.epoch += 1
        self.failure = failure
        self.check_at = None
        if failure.kind in GRAPH_FAILURES or failure.kind is FailureKind.BAD_MANIFEST:
            self.restart_at = None
            self.move(ModuleState.FAILED, failure.detail)
            return None
        if self.going_down():
            self.stop_going_down(failure)
            return None
        delay = self.tracker.next_delay(clean_exit=failure.clean_exit)
        if delay is None:
            restarts = self.tracker.restarts_in_window
            policy = self.restart
            why = (f'{failure}; not restarted (policy {policy.policy})'
                   if policy.policy == 'never' or failure.clean_exit and
                   policy.policy != 'always'
                   else f'{failure}; gave up after {restarts} restart(s) in '
                        f'{policy.window_s:g}s')
            self.restart_at = None
            self.gave_up = True
            self.move(ModuleState.FAILED, why)
        else:
            self.restart_at = now + delay
            self.move(ModuleState.RECOVERING, str(failure))
        self.configured = False
        return Job.KILL

    def stop_going_down(self, failure: Failure) -> None:
        """
        Stop the module that exited, left the ROS graph or failed while the kernel goes down.

        Under ``ros2 launch`` a terminal's Ctrl-C reaches every process at once: a module
        going away by itself then is expected, not a failure to recover from. The kernel's
        orderly shutdown ends what is left of it without asking it anything (``left``).
        """
        self.epoch += 1  # the result of a job still in flight is ignored
        self.failure = failure
        self.check_at = self.restart_at = None
        self.configured = False
        self.left = True
        self.move(ModuleState.STOPPED, f'kernel going down; {failure}')

    def resume(self) -> bool:
        """
        Take back a module stopped while the kernel was going down (it is active again).

        Return True when the module is to be brought up again (it was ``left``).
        """
        if not self.left or self.state is not ModuleState.STOPPED:
            return False
        self.left = False
        self.failure = None
        self.move(ModuleState.WAITING, 'kernel active again')
        return True

    def expire(self, now: float) -> Optional[Job]:
        """End the attempt of a job past its deadline; return the follow-up job, or None."""
        if self.job is None or now < self.job_deadline:
            return None
        job = self.job
        self.job = None  # the worker may still be busy; its late result is ignored
        if job in (Job.KILL, Job.STOP):
            self.epoch += 1
            self.configured = False
            return None
        return self.fail(Failure(FailureKind.TIMEOUT, f'{job.value} did not finish within '
                                 f'{job_deadline_s(job, self.health):g}s'), now)

    def graph_failure(self, failure: Optional[Failure]) -> bool:
        """
        Mark the module failed by its dependency graph (``failure``) or clear that (None).

        Return True when this changed anything.
        """
        current = self.failure if self.state is ModuleState.FAILED else None
        if failure is not None:
            if current is not None and current == failure:
                return False
            self.epoch += 1
            self.failure = failure
            self.restart_at = self.check_at = None
            self.move(ModuleState.FAILED, failure.detail)
            return True
        if current is not None and current.kind in GRAPH_FAILURES:
            self.failure = None
            self.move(ModuleState.WAITING, 'dependencies repaired')
            return True
        return False
