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

"""``unity-kernel modules`` against a real kernel: each command waits for its outcome."""

import json

from diagnostic_msgs.srv import AddDiagnostics
import pytest
from supervision_support import (events_of, inprocess_module, kernel_config, marks,
                                 module_states, node_module, start_kernel)
import support

pytestmark = pytest.mark.ros


def modules(env, *args):
    return support.cli(env, 'modules', *args)


def test_module_commands_report_their_outcome_and_exit_with_it(
        processes, ros_env, tmp_path, probe):
    marker = tmp_path / 'marks.txt'
    mods = tmp_path / 'modules'
    node_module(mods, 'heartbeat', marker=marker)
    inprocess_module(mods, 'monitor', marker, depends=['heartbeat'])
    inprocess_module(mods, 'haptic', marker)
    start_kernel(processes, ros_env, tmp_path,
                 kernel_config(tmp_path, mods, ['heartbeat', 'monitor']))
    up = {'heartbeat': 'active', 'monitor': 'active', 'haptic': 'available'}
    support.wait_for(lambda: module_states(probe) == up, 60,
                     message='heartbeat and monitor active')

    refused = modules(ros_env, 'unload', 'heartbeat')
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        1, '', "unity-kernel modules: unload heartbeat: refused: module 'heartbeat': still "
               'needed by monitor; unload those first\n')

    refused = modules(ros_env, 'restart', 'haptic')
    assert refused.returncode == 1
    assert refused.stderr == ("unity-kernel modules: restart haptic: refused: module 'haptic': "
                              'is not enabled: restart acts on enabled modules (enable it '
                              'first)\n')

    unknown = modules(ros_env, 'disable', 'nope')
    assert unknown.returncode == 1 and "no module named 'nope'" in unknown.stderr

    restarted = modules(ros_env, 'restart', 'heartbeat')
    assert (restarted.returncode, restarted.stdout) == (
        0, 'restart heartbeat: done: heartbeat is active\n'), restarted.stderr
    assert len(events_of(marker, 'heartbeat', 'activated')) == 2

    disabled = modules(ros_env, 'disable', 'monitor')
    assert (disabled.returncode, disabled.stdout) == (
        0, 'disable monitor: done: monitor is stopped (disabled)\n'), disabled.stderr
    assert ['monitor', 'deactivated', 'v1'] in marks(marker)

    enabled = modules(ros_env, 'enable', 'haptic')
    assert (enabled.returncode, enabled.stdout) == (
        0, 'enable haptic: done: haptic is active\n'), enabled.stderr
    assert module_states(probe) == {'heartbeat': 'active', 'monitor': 'stopped',
                                    'haptic': 'active'}

    scheduled = modules(ros_env, '--wait', '0', 'enable', 'monitor')
    assert scheduled.returncode == 3, scheduled.stderr
    assert scheduled.stdout.startswith('enable monitor: enable of monitor scheduled (command ')
    support.wait_for(lambda: module_states(probe)['monitor'] == 'active', 30,
                     message='monitor enabled again')


def test_the_outcome_service_answers_for_a_command_id(processes, ros_env, tmp_path, probe):
    marker = tmp_path / 'marks.txt'
    mods = tmp_path / 'modules'
    inprocess_module(mods, 'counter', marker)
    start_kernel(processes, ros_env, tmp_path, kernel_config(tmp_path, mods, ['counter']))
    support.wait_for(lambda: module_states(probe).get('counter') == 'active', 60,
                     message='counter active')

    def call(service, arg):
        return probe._call(AddDiagnostics, f'/unity_kernel/modules/{service}',
                           AddDiagnostics.Request(load_namespace=arg))
    accepted = call('disable', 'counter')
    outcome = json.loads(accepted.message)
    assert accepted.success and outcome['status'] == 'scheduled', outcome

    def final():
        answer = json.loads(call('outcome', outcome['id']).message)
        return answer if answer['status'] != 'scheduled' else None
    support.wait_for(final, 30, message='the disable finished')
    assert final() == {'id': outcome['id'], 'command': 'disable', 'target': 'counter',
                       'status': 'done', 'message': 'counter is stopped (disabled)'}
    unknown = call('outcome', 'x' * 100_000)
    assert not unknown.success and 'no command' in json.loads(unknown.message)['error']


def test_hostile_requests_are_refused_and_the_kernel_stays_up(
        processes, ros_env, tmp_path, probe):
    mods = tmp_path / 'modules'
    mods.mkdir()
    kernel = start_kernel(processes, ros_env, tmp_path, kernel_config(tmp_path, mods, []))
    support.wait_for(lambda: probe.get_state('unity_kernel') == 'active', 60,
                     message='kernel active')
    for service, arg, words in [
            ('load', '~nosuchuser4242/x', 'Could not determine home directory'),
            ('load', f'{mods}/{"x" * 300}/{"y" * 300}', 'File name too long'),
            ('load', '/' + 'a' * 200_000, 'load needs a path of 1 to 4096 characters'),
            ('enable', '\u202e\x1b[31m', 'no module named'),
            ('unload', '', 'unload needs a name')]:
        answer = probe._call(AddDiagnostics, f'/unity_kernel/modules/{service}',
                             AddDiagnostics.Request(load_namespace=arg))
        outcome = json.loads(answer.message)
        assert not answer.success and outcome['status'] == 'refused', outcome
        assert words in outcome['message'], outcome
    assert probe.get_state('unity_kernel') == 'active' and kernel.proc.poll() is None
    assert 'Traceback' not in (tmp_path / 'kernel.log').read_text()
