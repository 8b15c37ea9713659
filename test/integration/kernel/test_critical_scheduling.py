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

"""``kernel.critical_scheduling``: the kernel's CRITICAL threads run with it, or it says why."""

import os
import sys

import pytest
import support

from unity_kernel_core import native

pytestmark = pytest.mark.ros

CAP_SYS_NICE = 23


def policies(pid: int) -> list:
    """Return (policy, real-time priority) of every thread of a process."""
    out = []
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            out.append((os.sched_getscheduler(int(tid)),
                        os.sched_getparam(int(tid)).sched_priority))
        except ProcessLookupError:  # the thread ended meanwhile
            pass
    return out


INTAKES = [pytest.param('native', marks=pytest.mark.skipif(
    native.rcl() is None, reason=native.why_not())), 'python']
CRITICAL_INTAKE_THREADS = {'native': 2, 'python': 1}
"""The CRITICAL intake's threads: the native take thread and its hand-off thread, or the
EventsExecutor's."""


def start_kernel(processes, ros_env, tmp_path, prefix=(), intake='native'):
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{state_dir: {tmp_path / "state"}, discovery_period_s: 0.2,\n'
                      '         critical_scheduling: {policy: fifo, priority: 7},\n'
                      f'         intake: {intake}}}\n'
                      'redis: {enabled: false}\nlive: {enabled: false}\n')
    return processes.start([*prefix, sys.executable, '-m', 'unity_kernel_core.kernel.node',
                            '--ros-args', '-p', f'config_file:={config}',
                            '-p', 'autostart:=true'], ros_env, tmp_path / 'kernel.log')


@pytest.mark.parametrize('intake', INTAKES)
def test_the_critical_workers_and_intake_thread_run_at_the_critical_scheduling(
        processes, ros_env, tmp_path, intake):
    kernel = start_kernel(processes, ros_env, tmp_path, intake=intake)
    kernel.wait_output('active', 60)
    fifo = (os.SCHED_FIFO, 7)
    # the two CRITICAL bus workers; nothing else of the kernel
    assert policies(kernel.pid).count(fifo) == 2, policies(kernel.pid)
    talker = processes.start(
        [sys.executable, str(support.ROOT / 'test' / 'nodes' / 'talker.py'), '--topic',
         '/safety/estop', '--count', '20', '--rate', '20'], ros_env, tmp_path / 'talker.log')
    talker.wait_output('talker: done', 30)
    kernel.wait_output('mapped /safety/estop', 20)
    # and the CRITICAL intake's threads, made when the first CRITICAL topic was mapped
    count = 2 + CRITICAL_INTAKE_THREADS[intake]
    support.wait_for(lambda: policies(kernel.pid).count(fifo) == count, 10,
                     message=f'{count} CRITICAL threads at fifo 7')
    others = [p for p in policies(kernel.pid) if p != fifo]
    assert others and all(policy == os.SCHED_OTHER for policy, _ in others)


@pytest.mark.parametrize('intake', INTAKES)
def test_an_edit_of_the_critical_scheduling_waits_for_the_next_configure(
        processes, ros_env, tmp_path, intake):
    kernel = start_kernel(processes, ros_env, tmp_path, intake=intake)
    kernel.wait_output('active', 60)
    config = tmp_path / 'kernel.yaml'
    config.write_text(config.read_text().replace('priority: 7', 'priority: 9'))
    kernel.wait_output('kernel.critical_scheduling changed: it takes effect at the next '
                       'configure', 20)
    talker = processes.start(
        [sys.executable, str(support.ROOT / 'test' / 'nodes' / 'talker.py'), '--topic',
         '/safety/estop', '--count', '20', '--rate', '20'], ros_env, tmp_path / 'talker.log')
    talker.wait_output('talker: done', 30)
    kernel.wait_output('mapped /safety/estop', 20)
    # the CRITICAL intake's threads, made after the edit, run as their siblings do
    count = 2 + CRITICAL_INTAKE_THREADS[intake]
    support.wait_for(lambda: policies(kernel.pid).count((os.SCHED_FIFO, 7)) == count, 10,
                     message=f'{count} CRITICAL threads at fifo 7')
    assert (os.SCHED_FIFO, 9) not in policies(kernel.pid)


def test_a_critical_scheduling_not_permitted_fails_configure_with_one_clear_line(
        processes, ros_env, tmp_path):
    # root without CAP_SYS_NICE (dropped from the bounding set) and RLIMIT_RTPRIO at 0
    kernel = start_kernel(processes, ros_env, tmp_path,
                          ['prlimit', '--rtprio=0:0', 'setpriv', '--bounding-set=-sys_nice'])
    kernel.wait_output('config: kernel.critical_scheduling:', 60)
    out = kernel.output()
    line = next(t for t in out.splitlines() if 'config: kernel.critical_scheduling:' in t)
    assert 'scheduling policy fifo priority 7 not permitted' in line, line
    assert 'RLIMIT_RTPRIO of at least 7' in line and 'CAP_SYS_NICE' in line, line
    assert 'Traceback' not in out
    assert 'active: mapping topics' not in out
