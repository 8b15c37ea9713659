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
A thread's OS scheduling (a nice value or a real-time policy), and a command prefix applying it.

:func:`apply` sets it on one thread (the kernel's CRITICAL threads). The prefix program sets
it on itself and then runs (``exec``) a command::

    python -m unity_kernel_core.common.os_scheduling --module NAME --nice -10 -- CMD...
    python -m unity_kernel_core.common.os_scheduling --module NAME --policy fifo
        --priority 10 -- CMD...

It is how a node module runs at its manifest's ``scheduling`` (the command line is made by
``unity_kernel_core.supervision.scheduling``). The prefix runs single-threaded, and on Linux
the nice value and the policy belong to a thread, are kept across ``exec`` and are inherited
by every thread created later, so every thread of the node (its executor, the DDS threads)
runs with the setting. A nice value is also given to the process's autogroup when the
process leads its own session (see :func:`autogroup_nice`). When the setting is not
permitted the prefix prints one line naming the module, the setting and what it needs, and
exits with ``REFUSED`` without running the command; :func:`refusal` reads that line back.
"""

import argparse
import errno
import os
import sys
from typing import List, Optional

from unity_kernel_core.errors import UnityKernelError

REFUSED = 77
"""Exit status of the prefix when the setting is not permitted (``EX_NOPERM``)."""
POLICIES = {'fifo': os.SCHED_FIFO, 'rr': os.SCHED_RR}


class SchedulingError(UnityKernelError):
    """The scheduling could not be applied (not permitted, or refused by the OS)."""


def describe(nice: Optional[int], policy: str, priority: Optional[int]) -> str:
    """Return a setting in words, e.g. ``nice -10`` or ``policy fifo priority 10``."""
    if policy != 'other':
        return f'policy {policy} priority {priority}'
    return f'nice {nice}'


def needs(nice: Optional[int], policy: str, priority: Optional[int]) -> str:
    """Return what a process needs to be allowed a setting."""
    if policy != 'other':
        return (f'CAP_SYS_NICE or an RLIMIT_RTPRIO of at least {priority} (ulimit -r; '
                'systemd LimitRTPRIO=; rtprio in /etc/security/limits.conf; in a container '
                '--cap-add=SYS_NICE)')
    return (f'CAP_SYS_NICE or an RLIMIT_NICE of at least {20 - (nice or 0)} (ulimit -e; '
            'systemd LimitNICE=; nice in /etc/security/limits.conf)')


def apply(nice: Optional[int], policy: str = 'other', priority: Optional[int] = None,
          tid: int = 0) -> None:
    """
    Set a thread's nice value or real-time policy; raise SchedulingError if not permitted.

    ``tid``: the thread's native id (``threading.get_native_id()``; 0: the calling thread).
    Threads it creates afterwards, and the program an ``exec`` runs, inherit the setting.
    """
    try:
        if policy != 'other':
            assert priority is not None
            os.sched_setscheduler(tid, POLICIES[policy], os.sched_param(priority))
        elif nice is not None:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError as exc:
        what = describe(nice, policy, priority)
        if exc.errno in (errno.EPERM, errno.EACCES):
            raise SchedulingError(f'scheduling {what} not permitted ({exc.strerror}): needs '
                                  f'{needs(nice, policy, priority)}') from None
        raise SchedulingError(f'scheduling {what} refused: {exc.strerror}') from None


def autogroup_nice(nice: int) -> bool:
    """
    Give the process's autogroup ``nice`` too when the process leads its session; say if so.

    With autogrouping on (``/proc/sys/kernel/sched_autogroup_enabled``, the default of many
    distributions, and no CPU cgroup of its own), Linux shares the CPU between sessions'
    autogroups first and weighs a thread's nice value only against the threads of its own
    group: a module in a session of its own (the node runner starts each one so) at nice -10
    otherwise still gets no more than any other session. A session leader's autogroup holds
    only itself and what it starts, so its group's nice is the module's own.
    """
    path = '/proc/self/autogroup'
    if os.getsid(0) != os.getpid() or not os.path.exists(path):
        return False
    try:
        with open(path, 'w') as f:
            f.write(str(nice))
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            raise SchedulingError(f'scheduling nice {nice} (of its autogroup) not permitted '
                                  f'({exc.strerror}): needs '
                                  f'{needs(nice, "other", None)}') from None
        raise SchedulingError(f'scheduling nice {nice} (of its autogroup) refused: '
                              f'{exc.strerror}') from None
    return True


def refusal(line: str, module: str) -> str:
    """Return the prefix's error ``line`` without its leading ``module 'NAME': ``."""
    return line.strip().removeprefix(f'module {module!r}: ')


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog='python -m unity_kernel_core.common.os_scheduling',
        description="Run a node module's command at an OS scheduling setting.")
    parser.add_argument('--module', required=True)
    parser.add_argument('--nice', type=int, choices=range(-20, 20), metavar='-20..19')
    parser.add_argument('--policy', choices=('other', *POLICIES), default='other')
    parser.add_argument('--priority', type=int, choices=range(1, 100), metavar='1..99')
    parser.add_argument('command', nargs='+')
    args = parser.parse_args(argv)
    if (args.policy == 'other') != (args.priority is None):
        parser.error('--priority goes with --policy fifo or rr, and only with them')
    if not os.path.isabs(args.command[0]):
        parser.error(f'the command must start with an absolute path, got {args.command[0]!r}')
    try:
        apply(args.nice, args.policy, args.priority)
        if args.nice is not None:
            autogroup_nice(args.nice)
    except SchedulingError as exc:
        print(f'module {args.module!r}: {exc}', file=sys.stderr, flush=True)
        return REFUSED
    try:
        os.execv(args.command[0], args.command)
    except OSError as exc:
        print(f'module {args.module!r}: cannot run {args.command[0]}: {exc.strerror}',
              file=sys.stderr, flush=True)
    return 127


if __name__ == '__main__':
    sys.exit(main())
