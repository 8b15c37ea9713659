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

"""The kernel process: a missing module fails configure; overrides reach the running node."""

import sys
import textwrap

import pytest
from rcl_interfaces.srv import GetParameters
import support

pytestmark = pytest.mark.ros


def start_kernel(processes, ros_env, tmp_path, config, *extra):
    args = [sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args',
            '-p', f'config_file:={config}', '-p', 'autostart:=true', *extra]
    return processes.start(args, ros_env, tmp_path / 'kernel.log')


def state(probe, node):
    """Return the node's lifecycle state, None while it does not answer yet."""
    try:
        return probe.get_state(node)
    except AssertionError:  # its services are not there yet (the kernel is starting it)
        return None


def parameter(probe, node, name):
    request = GetParameters.Request(names=[name])
    [value] = probe._call(GetParameters, f'{node}/get_parameters', request).values
    return value


def test_kernel_with_a_missing_enabled_module_fails_configure_naming_it(
        processes, ros_env, tmp_path):
    config = tmp_path / 'conf' / 'kernel.yaml'
    config.parent.mkdir()
    config.write_text(textwrap.dedent(f"""\
        kernel: {{state_dir: {tmp_path / 'state'}}}
        redis: {{enabled: false}}
        modules:
          search_paths: [package://unity_kernel/modules, mods]
          enabled: [heartbeat, lidar]
        """))
    kernel = start_kernel(processes, ros_env, tmp_path, config)
    assert kernel.wait(60) == 1
    out = kernel.output()
    assert "enabled module 'lidar' not found" in out, out[-3000:]
    assert f'{tmp_path / "conf" / "mods"} (no such folder)' in out
    assert 'modules (has: ' in out  # the shipped folder, with what it has


def test_override_reaches_the_node_the_kernel_starts(processes, ros_env, tmp_path, probe):
    config = tmp_path / 'kernel.yaml'
    config.write_text(textwrap.dedent(f"""\
        kernel: {{state_dir: {tmp_path / 'state'}}}
        redis: {{enabled: false}}
        modules:
          search_paths: [package://unity_kernel/modules]
          enabled: [camera]
          overrides:
            camera:
              parameters: {{fps: 4, width: 160, height: 120, frame_id: deployed_cam}}
              health: {{heartbeat_period_s: 0.5}}
        """))
    kernel = start_kernel(processes, ros_env, tmp_path, config)
    support.wait_for(lambda: state(probe, 'sensors/camera') == 'active', 60,
                     message='camera brought up by the kernel')
    fps = parameter(probe, '/sensors/camera', 'fps')
    assert fps.double_value == 4.0
    assert parameter(probe, '/sensors/camera', 'frame_id').string_value == 'deployed_cam'
    assert parameter(probe, '/sensors/camera', 'width').integer_value == 160
    assert 'ERROR' not in kernel.output()
