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

"""A node module's ``scheduling``: its process really runs with it, or fails to start clearly."""

import json
import os
import pathlib
import shlex
import sys

import pytest
from supervision_support import kernel_config, list_modules, marks, node_module, start_kernel
import support

from unity_kernel_core.common import os_scheduling
from unity_kernel_core.supervision import scheduling
from unity_kernel_core.supervision.manifest import load_manifest

pytestmark = pytest.mark.ros

CAP_SYS_NICE = 23


def with_scheduling(module_dir: pathlib.Path, setting: str, restart: str = '') -> None:
    manifest = module_dir / 'manifest.yaml'
    text = manifest.read_text() + f'scheduling: {setting}\n'
    if restart:
        text = text.replace('restart: {max_restarts: 3', f'restart: {{{restart}, max_restarts: 3')
    manifest.write_text(text)


def module_pid(marker: pathlib.Path, name: str) -> int:
    """Return the pid of the module's node (it writes it with each transition)."""
    return int([m for m in marks(marker) if m[0] == name and m[1] == 'activated'][-1][3])


def thread_scheduling(pid: int) -> dict:
    """Return {tid: (policy, rt priority, nice)} of every thread of a process."""
    out = {}
    for tid in os.listdir(f'/proc/{pid}/task'):
        t = int(tid)
        out[t] = (os.sched_getscheduler(t), os.sched_getparam(t).sched_priority,
                  os.getpriority(os.PRIO_PROCESS, t))
    return out


def test_kernel_runs_node_modules_at_their_nice_and_fifo_on_every_thread(
        processes, ros_env, tmp_path, probe):
    marker = tmp_path / 'marks.txt'
    mods = tmp_path / 'modules'
    with_scheduling(node_module(mods, 'niced', marker=marker), '{nice: -6}')
    with_scheduling(node_module(mods, 'realtime', marker=marker),
                    '{policy: fifo, priority: 11}')
    node_module(mods, 'plain', marker=marker)
    start_kernel(processes, ros_env, tmp_path,
                 kernel_config(tmp_path, mods, ['niced', 'realtime', 'plain']))
    support.wait_for(lambda: all(m['state'] == 'active'
                                 for m in list_modules(probe).values()), 60,
                     message='every module active')
    niced = thread_scheduling(module_pid(marker, 'niced'))
    realtime = thread_scheduling(module_pid(marker, 'realtime'))
    plain = thread_scheduling(module_pid(marker, 'plain'))
    assert len(niced) > 1 and len(realtime) > 1  # rclpy and DDS threads, made after the start
    assert set(niced.values()) == {(os.SCHED_OTHER, 0, -6)}, niced
    # in a session of its own: its autogroup (the CPU share against other sessions) too
    autogroup = pathlib.Path(f'/proc/{module_pid(marker, "niced")}/autogroup')
    assert autogroup.read_text().split()[-2:] == ['nice', '-6'], autogroup.read_text()
    assert {(policy, prio) for policy, prio, _ in realtime.values()} == {(os.SCHED_FIFO, 11)}
    assert set(plain.values()) == {(os.SCHED_OTHER, 0, os.getpriority(os.PRIO_PROCESS, 0))}


def test_launch_prefix_runs_the_node_at_its_scheduling(processes, ros_env, tmp_path):
    # what ros2 launch runs: the launch plan's prefix in front of the node's command
    marker = tmp_path / 'marks.txt'
    module_dir = node_module(tmp_path / 'modules', 'niced', marker=marker)
    with_scheduling(module_dir, '{nice: -4}')
    prefix = shlex.join(scheduling.prefix(load_manifest(module_dir)))
    node = processes.start([*shlex.split(prefix), sys.executable,
                            str(module_dir / 'lifecycle_module.py')], ros_env,
                           tmp_path / 'node.log')
    support.wait_for(lambda: len(os.listdir(f'/proc/{node.pid}/task')) > 1, 30,
                     message='the node started its threads')
    threads = thread_scheduling(node.pid)
    assert set(threads.values()) == {(os.SCHED_OTHER, 0, -4)}, threads


@pytest.mark.parametrize('setting, words, needs', [
    ('{nice: -6}', 'scheduling nice -6 not permitted', 'an RLIMIT_NICE of at least 26'),
    ('{policy: rr, priority: 7}', 'scheduling policy rr priority 7 not permitted',
     'an RLIMIT_RTPRIO of at least 7'),
])
def test_a_scheduling_not_permitted_fails_the_module_start_with_one_clear_line(
        processes, ros_env, tmp_path, probe, setting, words, needs):
    # the kernel runs as root without CAP_SYS_NICE (dropped from its bounding set, so its
    # children lack it too) and RLIMIT_NICE/RLIMIT_RTPRIO at 0: the setting is refused
    marker = tmp_path / 'marks.txt'
    mods = tmp_path / 'modules'
    with_scheduling(node_module(mods, 'niced', marker=marker), setting, 'policy: never')
    config = kernel_config(tmp_path, mods, ['niced'])
    args = [sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args',
            '-p', f'config_file:={config}', '-p', 'autostart:=true']
    kernel = processes.start(['prlimit', '--nice=0:0', '--rtprio=0:0', 'setpriv',
                              '--bounding-set=-sys_nice', *args], ros_env,
                             tmp_path / 'kernel.log')
    kernel.wait_output('active', 60)  # (the output says why if it is not)
    status = dict(line.split(':\t', 1) for line in
                  open(f'/proc/{kernel.pid}/status').read().splitlines() if ':\t' in line)
    assert not int(status['CapEff'], 16) & (1 << CAP_SYS_NICE)  # the premise holds
    support.wait_for(lambda: list_modules(probe).get('niced', {}).get('state') == 'failed', 60,
                     message='the module failed')
    failure = list_modules(probe)['niced']['failure']
    assert failure['code'] == os_scheduling.REFUSED, failure
    assert failure['detail'].startswith(f"module 'niced': {words} "), failure
    assert needs in failure['detail'] and 'CAP_SYS_NICE' in failure['detail'], failure
    assert '\n' not in failure['detail']
    assert not marks(marker)  # the node itself never ran
    module_log = (tmp_path / 'state' / 'logs' / 'niced.log').read_text()
    out = kernel.output()
    assert f"module 'niced': {words}" in module_log, module_log
    assert f"module 'niced': {words}" in out, out[-3000:]
    assert 'Traceback' not in module_log + out
    assert json.dumps(failure)  # (what `modules list --json` shows)
