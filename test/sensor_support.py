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
"""Helpers shared by the sensor-node tests: start a node process, drive its lifecycle."""

import json
import sys
import textwrap
from typing import Optional

import support

CALIBRATION = textwrap.dedent("""\
    image_width: 64
    image_height: 48
    camera_name: test_cam
    camera_matrix:
      rows: 3
      cols: 3
      data: [50.0, 0.0, 32.0, 0.0, 51.0, 24.0, 0.0, 0.0, 1.0]
    distortion_model: plumb_bob
    distortion_coefficients:
      rows: 1
      cols: 5
      data: [0.1, -0.2, 0.0, 0.0, 0.01]
    rectification_matrix:
      rows: 3
      cols: 3
      data: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    projection_matrix:
      rows: 3
      cols: 4
      data: [50.0, 0.0, 32.0, 0.0, 0.0, 51.0, 24.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    """)
"""A camera_info calibration YAML of a 64x48 camera (camera tests)."""


def write_video(path, frames=10, size=(64, 48), fps=15.0, fourcc='MJPG'):
    """Write a fixture video whose frame i is filled with grey level 20 * i."""
    import cv2
    import numpy as np
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened(), f'cannot write {fourcc} here'
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), (20 * i) % 256, np.uint8))
    writer.release()
    return path


def start_node(processes, ros_env, tmp_path, module: str, *params: str):
    """Run ``python -m module`` with ``-p`` parameters (diagnostics every 0.3 s)."""
    args = [sys.executable, '-m', module, '--ros-args', '-p', 'diagnostics_period_s:=0.3']
    for p in params:
        args += ['-p', p]
    return processes.start(args, ros_env, tmp_path / f'{module.rsplit(".", 1)[-1]}.log')


def state(probe, node: str) -> Optional[str]:
    """
    Return the node's lifecycle state, or None when no answer came.

    A service client that is created and called at once can lose the first response while
    DDS is still matching the reply path; polling with this tolerates that.
    """
    from lifecycle_msgs.srv import GetState
    try:
        return probe._call(GetState, f'/{node}/get_state', GetState.Request(),
                           timeout=3.0).current_state.label
    except AssertionError:
        return None


def wait_state(probe, node: str, expected: str, timeout: float = 30.0) -> None:
    """Wait until the node reports ``expected``."""
    support.wait_for(lambda: state(probe, node) == expected, timeout,
                     message=f'{node} to be {expected}')


def bring_up(probe, node: str, configure: bool = True, activate: bool = True) -> bool:
    """Wait for the node, then configure and activate it; return False when one failed."""
    wait_state(probe, node, 'unconfigured')
    ok = True
    if configure:
        ok = probe.change_state(node, 'configure')
    if ok and activate:
        ok = probe.change_state(node, 'activate')
    return ok


def start_kernel_with_module(processes, ros_env, tmp_path, name: str, parameters: dict,
                             event_echo: bool = False):
    """
    Run a kernel process supervising one node module ``name`` (executable ``name``).

    The module restarts quickly (0.2 s backoff, up to 50 times) and is checked every 0.3 s.
    """
    mods = tmp_path / 'modules'
    (mods / name).mkdir(parents=True)
    (mods / name / 'manifest.yaml').write_text(textwrap.dedent(f"""\
        name: {name}
        version: 1.0.0
        kind: node
        executable: {name}
        parameters: {json.dumps(parameters)}
        restart: {{max_restarts: 50, window_s: 120, backoff_initial_s: 0.2, backoff_max_s: 1}}
        health: {{heartbeat_period_s: 0.3, heartbeat_timeout_s: 2.0, transition_timeout_s: 20}}
        """))
    config = tmp_path / 'kernel.yaml'
    echo = ', event_echo_topic: /unity_kernel/events' if event_echo else ''
    config.write_text(textwrap.dedent(f"""\
        kernel: {{state_dir: {tmp_path / 'state'}, diagnostics_period_s: 0.5{echo}}}
        redis: {{enabled: false}}
        modules: {{search_paths: [{mods}], enabled: [{name}]}}
        """))
    return processes.start([sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args',
                            '-p', f'config_file:={config}', '-p', 'autostart:=true'],
                           ros_env, tmp_path / 'kernel.log')
