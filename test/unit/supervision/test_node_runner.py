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

"""Who starts a node module's process: the kernel, or the launch file (no process started)."""

import pathlib

import pytest

from unity_kernel_core.supervision.manifest import Manifest, parse_manifest
from unity_kernel_core.supervision.node_runner import (LaunchedNodeRunner, NodeRunner,
                                                       runner_class)


def node(name: str, executable: str) -> Manifest:
    return parse_manifest(f'name: {name}\nversion: 1.0.0\nkind: node\n'
                          f'executable: {executable}\nhealth: {{transition_timeout_s: 1}}\n',
                          f'{name}/manifest.yaml', pathlib.Path('/nonexistent'))


class Client:
    """A lifecycle client whose node is there, unconfigured."""

    def __init__(self) -> None:
        self.asked: list = []

    def get_state(self, node_name: str, timeout: float) -> str:
        self.asked.append(node_name)
        return 'unconfigured'

    def watch(self, node_name: str, callback) -> None:
        pass

    def forget(self, node_name: str) -> None:
        pass


@pytest.mark.parametrize('spawn_modules,launched,executable,kind', [
    (True, {'camera'}, 'camera', NodeRunner),            # unity-kernel up starts them all
    (False, {'camera'}, 'camera', LaunchedNodeRunner),   # the launch file started it
    (False, set(), 'camera', NodeRunner),                # enabled at run time: no one else will
    (False, {'camera'}, 'camera_node.py', NodeRunner),   # by path: never launched
])
def test_the_kernel_starts_every_node_module_the_launch_file_does_not(
        spawn_modules, launched, executable, kind):
    assert runner_class(node('camera', executable), spawn_modules, launched) is kind


def test_a_launched_node_runner_starts_no_process_and_cannot_be_told_to(tmp_path):
    client = Client()
    runner = LaunchedNodeRunner(node('camera', 'camera'), client, tmp_path)  # type: ignore
    runner.start()
    assert client.asked == ['/camera'] and runner.proc is None
    assert runner.describe()['owned_process'] is False and runner.describe()['log'] == ''
    assert type(runner.fresh()) is LaunchedNodeRunner
    assert NodeRunner.spawned and not LaunchedNodeRunner.spawned
    with pytest.raises(TypeError):  # no spawn argument to ignore any more
        LaunchedNodeRunner(node('camera', 'camera'), client, tmp_path,  # type: ignore
                           spawn=True)


def test_a_module_log_is_opened_without_following_what_was_planted_in_its_place(tmp_path):
    """Regression: the log was opened (and chmod-ed) through a symlink in its place."""
    import os
    outside = tmp_path / 'outside.txt'
    outside.write_text('not for the kernel\n')
    os.chmod(outside, 0o644)
    runner = NodeRunner(node('camera', 'camera'), Client(), tmp_path / 'state')  # type: ignore
    (tmp_path / 'state').mkdir(mode=0o700)
    logs = tmp_path / 'state' / 'logs'
    logs.mkdir(mode=0o700)
    (logs / 'camera.log').symlink_to(outside)
    fd = runner._open_log()
    os.write(fd, b'module output\n')
    os.close(fd)
    assert outside.read_text() == 'not for the kernel\n'
    assert oct(outside.stat().st_mode & 0o777) == '0o644'
    assert not (logs / 'camera.log').is_symlink()
    assert (logs / 'camera.log').read_text() == 'module output\n'
    assert any(p.name.startswith('camera.log.damaged-') for p in logs.iterdir())
    assert runner._last_log_line() == 'module output'
    # the folder itself replaced by a symlink: moved aside, a private one made
    other = tmp_path / 'elsewhere'
    other.mkdir()
    os.rename(logs, tmp_path / 'old-logs')
    logs.symlink_to(other)
    os.close(runner._open_log())
    assert not logs.is_symlink() and not any(other.iterdir())
