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

"""Module supervision with a real kernel process and real lifecycle node modules."""

import os
import signal
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from diagnostic_msgs.srv import AddDiagnostics
import pytest
from supervision_support import (events_of, inprocess_module, INPROCESS_SOURCE, kernel_config,
                                 list_modules, marks, module_states, node_module, start_kernel)
import support

pytestmark = pytest.mark.ros


def test_modules_come_up_in_dependency_order_and_stop_in_reverse(processes, ros_env, tmp_path,
                                                                 probe):
    marker = tmp_path / 'marks.txt'
    mods = tmp_path / 'modules'
    node_module(mods, 'base', marker=marker)
    inprocess_module(mods, 'middle', marker, depends=['base'])
    node_module(mods, 'top', depends=['middle'], marker=marker)
    node_module(mods, 'side', marker=marker)
    kernel = start_kernel(processes, ros_env, tmp_path,
                          kernel_config(tmp_path, mods, ['top', 'middle', 'base', 'side']))
    support.wait_for(lambda: len(events_of(marker, 'top', 'activated')) == 1, 60,
                     message='top activated')
    lines = [(m[0], m[1]) for m in marks(marker)]
    assert lines.index(('base', 'activated')) < lines.index(('middle', 'activated')) < \
        lines.index(('top', 'configured'))
    support.wait_for(lambda: set(module_states(probe).values()) == {'active'}, 20,
                     message='all modules active')
    kernel.signal(signal.SIGINT)
    assert kernel.wait(60) == 0
    lines = [(m[0], m[1]) for m in marks(marker)]
    assert lines.index(('top', 'deactivated')) < lines.index(('middle', 'deactivated')) < \
        lines.index(('base', 'deactivated'))
    assert lines.index(('top', 'shutdown')) < lines.index(('base', 'shutdown'))
    for name in ('base', 'top', 'side'):
        assert ('shutdown' in [w for n, w in lines if n == name]), name


def test_killed_node_module_is_restarted_and_dependents_come_back(processes, ros_env, tmp_path,
                                                                  probe):
    marker = tmp_path / 'marks.txt'
    mods = tmp_path / 'modules'
    node_module(mods, 'base', marker=marker)
    node_module(mods, 'top', depends=['base'], marker=marker)
    start_kernel(processes, ros_env, tmp_path, kernel_config(tmp_path, mods, ['base', 'top']))
    support.wait_for(lambda: len(events_of(marker, 'top', 'activated')) == 1, 60,
                     message='top activated')
    pid = int(events_of(marker, 'base', 'activated')[0][3])
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    support.wait_for(lambda: len(events_of(marker, 'base', 'activated')) == 2, 30,
                     message='base restarted and active again')
    recovered = time.monotonic() - killed
    assert int(events_of(marker, 'base', 'activated')[1][3]) != pid
    # the dependent was taken down while its dependency was away and brought back after it
    support.wait_for(lambda: len(events_of(marker, 'top', 'activated')) == 2, 30,
                     message='top reactivated')
    assert events_of(marker, 'top', 'deactivated')
    assert recovered < 30
    support.wait_for(lambda: module_states(probe) == {'base': 'active', 'top': 'active'}, 20,
                     message='both active')
    assert list_modules(probe)['base']['restarts'] == 1


def test_module_that_keeps_crashing_ends_failed_and_kernel_stays_up(
        processes, ros_env, tmp_path, probe):
    marker = tmp_path / 'marks.txt'
    mods = tmp_path / 'modules'
    node_module(mods, 'flaky', marker=marker, crash_after_s=0.3)
    node_module(mods, 'steady', marker=marker)
    diagnostics = probe.collect('/diagnostics', DiagnosticArray)
    start_kernel(processes, ros_env, tmp_path, kernel_config(tmp_path, mods, ['flaky', 'steady']))
    support.wait_for(lambda: module_states(probe).get('flaky') == 'failed', 90,
                     message='flaky marked failed')
    info = list_modules(probe)
    assert 'gave up after 3 restart(s)' in info['flaky']['message']
    assert len(events_of(marker, 'flaky', 'crashing')) == 4
    assert info['steady']['state'] == 'active'
    assert probe.get_state('unity_kernel') == 'active'

    def levels():
        out = {}
        for array in list(diagnostics)[-4:]:
            for s in array.status:
                out[s.name] = s.level
        return out
    support.wait_for(lambda: levels().get('unity_kernel: module flaky') == DiagnosticStatus.ERROR
                     and levels().get('unity_kernel: module steady') == DiagnosticStatus.OK,
                     10, message='module levels on /diagnostics')


def test_hung_module_is_detected_and_restarted(processes, ros_env, tmp_path, probe):
    marker = tmp_path / 'marks.txt'
    mods = tmp_path / 'modules'
    node_module(mods, 'sleepy', marker=marker, hang_after_s=1.0)
    start_kernel(processes, ros_env, tmp_path, kernel_config(tmp_path, mods, ['sleepy']))
    support.wait_for(lambda: len(events_of(marker, 'sleepy', 'hanging')) >= 1, 60,
                     message='module hangs')
    first = int(events_of(marker, 'sleepy', 'hanging')[0][3])
    support.wait_for(lambda: len(events_of(marker, 'sleepy', 'activated')) >= 2, 30,
                     message='hung module restarted')
    assert int(events_of(marker, 'sleepy', 'activated')[1][3]) != first
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)


def test_module_leaving_active_on_its_own_is_seen_by_its_transition_event_and_restarted(
        processes, ros_env, tmp_path, probe):
    marker = tmp_path / 'marks.txt'
    mods = tmp_path / 'modules'
    # a heartbeat poll every 10 minutes: only the transition event can reveal the change
    node_module(mods, 'driver', marker=marker, heartbeat_period_s=600, deactivate_after_s=1.0)
    start_kernel(processes, ros_env, tmp_path, kernel_config(tmp_path, mods, ['driver']))
    support.wait_for(lambda: events_of(marker, 'driver', 'leaving-active'), 60,
                     message='module deactivates itself')
    first = int(events_of(marker, 'driver', 'leaving-active')[0][3])
    support.wait_for(lambda: len(events_of(marker, 'driver', 'activated')) >= 2, 30,
                     message='module restarted after leaving active')
    assert int(events_of(marker, 'driver', 'activated')[1][3]) != first
    support.wait_for(lambda: list_modules(probe)['driver']['state'] == 'active', 20,
                     message='driver active again')
    assert 'in state inactive' in ' '.join(
        line for line in (tmp_path / 'kernel.log').read_text().splitlines()
        if 'driver' in line)


def test_cycle_is_refused_with_the_modules_named(processes, ros_env, tmp_path, probe):
    marker = tmp_path / 'marks.txt'
    mods = tmp_path / 'modules'
    node_module(mods, 'alpha', depends=['beta'], marker=marker)
    node_module(mods, 'beta', depends=['alpha'], marker=marker)
    kernel = start_kernel(processes, ros_env, tmp_path,
                          kernel_config(tmp_path, mods, ['alpha', 'beta']))
    kernel.wait_output('dependency cycle: alpha -> beta -> alpha', 30)
    assert probe.get_state('unity_kernel') == 'active'
    assert not marks(marker)


def test_inprocess_module_hot_reload_and_broken_edit_keeps_old(
        processes, ros_env, tmp_path, probe):
    marker = tmp_path / 'marks.txt'
    mods = tmp_path / 'modules'
    d = inprocess_module(mods, 'counter', marker)
    start_kernel(processes, ros_env, tmp_path, kernel_config(tmp_path, mods, ['counter']))
    support.wait_for(lambda: ['counter', 'activated', 'v1'] in marks(marker), 30,
                     message='v1 active')
    (d / 'counter.py').write_text(INPROCESS_SOURCE.replace('VERSION_TAG', 'v2'))
    support.wait_for(lambda: ['counter', 'activated', 'v2'] in marks(marker), 30,
                     message='v2 active after edit')
    assert ['counter', 'deactivated', 'v1'] in marks(marker)
    (d / 'counter.py').write_text('this is not python (\n')
    support.wait_for(lambda: 'SyntaxError' in list_modules(probe)['counter']['reload_error'],
                     30, message='broken edit reported')
    assert list_modules(probe)['counter']['state'] == 'active'
    assert ['counter', 'deactivated', 'v2'] not in marks(marker)


def test_modules_service_restart_load_unload(processes, ros_env, tmp_path, probe):
    marker = tmp_path / 'marks.txt'
    mods = tmp_path / 'modules'
    node_module(mods, 'base', marker=marker)
    extra = inprocess_module(mods, 'extra', marker, depends=['base'])
    start_kernel(processes, ros_env, tmp_path, kernel_config(tmp_path, mods, ['base']))
    support.wait_for(lambda: module_states(probe).get('base') == 'active', 60,
                     message='base active')
    assert module_states(probe)['extra'] == 'available'

    def call(verb, arg):
        request = AddDiagnostics.Request(load_namespace=arg)
        return probe._call(AddDiagnostics, f'/unity_kernel/modules/{verb}', request)

    outside = tmp_path / 'elsewhere'
    inprocess_module(outside, 'rogue', marker)
    refused = call('load', str(outside / 'rogue'))
    assert not refused.success and 'not under a configured module search path' in \
        refused.message
    assert call('load', str(extra)).success
    support.wait_for(lambda: module_states(probe).get('extra') == 'active', 30,
                     message='extra loaded')
    assert call('restart', 'base').success
    support.wait_for(lambda: len(events_of(marker, 'base', 'activated')) == 2, 30,
                     message='base restarted')
    assert not call('restart', 'nope').success
    refused = call('unload', 'base')
    support.wait_for(lambda: module_states(probe).get('extra') == 'active', 30,
                     message='extra back after base restart')
    assert call('unload', 'extra').success
    support.wait_for(lambda: module_states(probe).get('extra') == 'stopped', 30,
                     message='extra unloaded')
    assert ['extra', 'deactivated', 'v1'] in marks(marker)


def test_under_launch_the_kernel_leaves_modules_reconfigurable_and_stops_with_them(
        processes, ros_env, tmp_path, probe):
    """As ``ros2 launch`` runs them: processes started by someone else, one SIGINT to all."""
    mods = tmp_path / 'modules'
    support.launched_camera_module(mods)
    camera = processes.start(
        [sys.executable, '-m', 'unity_sensors.camera.node', '--ros-args', '-r',
         '__node:=camera', '-r', '__ns:=/sensors', '-p', 'source:=pattern', '-p', 'width:=160',
         '-p', 'height:=120', '-p', 'fps:=5.0'], ros_env, tmp_path / 'camera.log')
    config = kernel_config(tmp_path, mods, ['camera'])
    # launch_ros passes the node name as a process-wide remap
    kernel = processes.start(
        [sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args', '-r',
         '__node:=unity_kernel', '-p', f'config_file:={config}', '-p', 'autostart:=true',
         '-p', 'spawn_modules:=false'], ros_env, tmp_path / 'kernel.log')
    support.wait_for(lambda: probe.get_state('sensors/camera') == 'active', 60,
                     message='camera activated by the kernel')
    # (the camera can be active before this probe has discovered the kernel's participant)
    support.wait_for(lambda: ('unity_kernel', '/') in probe.node.get_node_names_and_namespaces(),
                     10, message='kernel node seen in the graph')
    names = probe.node.get_node_names_and_namespaces()
    assert names.count(('unity_kernel', '/')) == 1, names
    # the kernel's own cleanup leaves the module unconfigured (not finalized): it comes back
    for transition in ('deactivate', 'cleanup'):
        assert probe.change_state('unity_kernel', transition)
    assert probe.get_state('sensors/camera') == 'unconfigured'
    for transition in ('configure', 'activate'):
        assert probe.change_state('unity_kernel', transition)
    support.wait_for(lambda: probe.get_state('sensors/camera') == 'active', 60,
                     message='camera active again after the kernel came back')
    # ros2 launch's Ctrl-C: SIGINT to every process at once; launch escalates after 5 s
    camera.signal(signal.SIGINT)
    kernel.signal(signal.SIGINT)
    assert camera.wait(10) == 0
    assert kernel.wait(12) == 0
    assert 'context is invalid' not in camera.output()
    assert 'ERROR' not in camera.output(), camera.output()[-2000:]


def test_under_launch_a_module_enabled_at_run_time_is_started_by_the_kernel(
        processes, ros_env, tmp_path, probe):
    """The launch file starts the config's enabled modules only: the kernel starts the rest."""
    mods = tmp_path / 'modules'
    support.launched_camera_module(mods)
    config = kernel_config(tmp_path, mods, [])
    processes.start(
        [sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args', '-r',
         '__node:=unity_kernel', '-p', f'config_file:={config}', '-p', 'autostart:=true',
         '-p', 'spawn_modules:=false'], ros_env, tmp_path / 'kernel.log')
    support.wait_for(lambda: module_states(probe).get('camera') == 'available', 60,
                     message='kernel up, camera available')
    enabled = support.cli(ros_env, 'modules', 'enable', 'camera', timeout=120)
    assert (enabled.returncode, enabled.stdout) == (
        0, 'enable camera: done: camera is active\n'), enabled.stderr
    assert probe.get_state('sensors/camera') == 'active'
    log = tmp_path / 'state' / 'logs' / 'camera.log'
    assert log.exists() and '--- start:' in log.read_text()  # its own child, with its log
