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
A generated token reaches its user where no status line is printed (``ros2 launch``).

The live view writes its URLs with the token to ``<state_dir>/live-url`` (0600) while it
runs; the token never goes to the ROS log.
"""

import signal
import stat

import live_support


def test_the_urls_with_a_generated_token_are_in_a_private_file_while_the_view_runs(
        processes, ros_env, tmp_path):
    kernel = live_support.start_live_kernel(processes, ros_env, tmp_path, [])
    url_file = tmp_path / 'state' / 'live-url'
    assert stat.S_IMODE(url_file.stat().st_mode) == 0o600
    text = url_file.read_text()
    assert f'{kernel.foxglove_url}/?token={kernel.token}' in text
    assert f'{kernel.dashboard_url}?token={kernel.token}' in text
    log_lines = [line for line in kernel.process.output().splitlines() if line.startswith('[')]
    assert f'are in {url_file}' in '\n'.join(log_lines)
    assert not [line for line in log_lines if kernel.token in line]  # the ROS log: never
    kernel.process.signal(signal.SIGINT)
    assert kernel.process.wait(30) == 0
    assert not url_file.exists()


def test_no_file_is_written_when_the_token_is_configured(processes, ros_env, tmp_path):
    env = {**ros_env, 'UNITY_LIVE_TOKEN': 'configured-token-1234'}
    kernel = live_support.start_live_kernel(processes, env, tmp_path, [])
    assert kernel.token is None
    assert not (tmp_path / 'state' / 'live-url').exists()
    assert 'configured-token-1234' not in kernel.process.output()
