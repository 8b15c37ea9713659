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

"""The ``unity-kernel`` command: check-config and up, run as a user would."""

import json
import re
import signal
import subprocess
import sys
import textwrap

import pytest
import support

CLI = [sys.executable, '-m', 'unity_kernel_core.cli.main']


def run(args, env=None):
    return subprocess.run(CLI + args, capture_output=True, text=True, env=env, timeout=60)


def test_check_config_accepts_the_shipped_config():
    result = run(['check-config', str(support.ROOT / 'config' / 'kernel.yaml')])
    assert result.returncode == 0, result.stderr
    assert 'OK' in result.stdout and '/safety/**->CRITICAL' in result.stdout


def test_check_config_prints_every_problem_with_file_and_line(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('kernel:\n  diagnostics_period_s: -1\ntopics:\n  - {pattern: x, tier: Y}\n')
    result = run(['check-config', str(bad)])
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert f'{bad}:2: kernel.diagnostics_period_s: Input should be greater than 0 (got -1)' \
        in lines
    assert any(line.startswith(f'{bad}:4: topics[0].pattern:') for line in lines)
    assert any(line.startswith(f'{bad}:4: topics[0].tier:') for line in lines)
    assert lines[-1] == f'{bad}: 3 problem(s)'


def test_unknown_verb_is_a_usage_error():
    result = run(['frobnicate'])
    assert result.returncode == 2 and 'invalid choice' in result.stderr


@pytest.mark.ros
def test_up_prints_status_and_stops_cleanly_on_ctrl_c(processes, ros_env, tmp_path):
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{state_dir: {tmp_path}}}\nredis: {{enabled: false}}\n')
    up = processes.start(CLI + ['up', '--config', str(config)], ros_env, tmp_path / 'up.log')
    out = up.wait_output('Ctrl-C to stop', 30)
    assert 'unity-kernel: unity_kernel active' in out
    up.signal(signal.SIGINT)
    assert up.wait(30) == 0
    assert 'unity-kernel: stopped (clean)' in up.output()


@pytest.mark.ros
def test_up_prints_its_status_line_once_the_modules_are_up(processes, ros_env, tmp_path):
    env = {**ros_env, 'UNITY_KERNEL__KERNEL__STATE_DIR': str(tmp_path / 'state')}
    up = processes.start(CLI + ['up'], env, tmp_path / 'up.log')
    out = up.wait_output('Ctrl-C to stop', 60)
    line = next(t for t in out.splitlines() if 'Ctrl-C to stop' in t)
    assert 'modules 3/3 active' in line, line  # heartbeat, monitor, camera
    mapped = int(re.search(r'(\d+) topics mapped', line).group(1))
    assert mapped >= 2, line  # the camera's image_raw and camera_info at least
    result = run(['modules', 'list', '--json'], env=env)
    assert {m['state'] for m in json.loads(result.stdout) if m['enabled']} == {'active'}
    up.signal(signal.SIGINT)
    assert up.wait(60) == 0


@pytest.mark.ros
def test_up_and_export_work_without_a_sourced_ros_environment(processes, ros_env, tmp_path):
    # `.venv/bin/unity-kernel` as README shows it: no AMENT_PREFIX_PATH in the environment
    env = {k: v for k, v in ros_env.items() if k != 'AMENT_PREFIX_PATH'}
    env['UNITY_KERNEL__KERNEL__STATE_DIR'] = str(tmp_path / 'state')
    up = processes.start(CLI + ['up'], env, tmp_path / 'up.log')
    up.wait_output('Ctrl-C to stop', 60)
    support.wait_for(lambda: 'mapped /sensors/camera/image_raw' in up.output(), 60,
                     message='the camera module publishing into the kernel')
    out = run(['export', '--format', 'mcap', '-o', str(tmp_path / 'trail.mcap'),
               '--topics', '/sensors/camera/camera_info'], env=env)
    assert out.returncode == 0, out.stderr
    assert 'wrote' in out.stdout and (tmp_path / 'trail.mcap').stat().st_size > 0
    up.signal(signal.SIGINT)
    assert up.wait(60) == 0


def test_up_refuses_a_bad_config_before_starting(tmp_path, ros_env):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('tiers:\n  LOW: {overflow: explode}\n')
    result = run(['up', '--config', str(bad)], env=ros_env)
    assert result.returncode == 2
    assert f'{bad}:2: tiers.LOW.overflow' in result.stderr


@pytest.mark.ros
def test_up_with_shipped_config_runs_example_modules_and_modules_verb_manages_them(
        processes, ros_env, tmp_path):
    env = {**ros_env, 'UNITY_KERNEL__KERNEL__STATE_DIR': str(tmp_path / 'state')}
    up = processes.start(CLI + ['up'], env, tmp_path / 'up.log')
    up.wait_output('Ctrl-C to stop', 60)

    def states():
        result = run(['modules', 'list', '--json'], env=env)
        assert result.returncode == 0, result.stderr
        return {m['name']: m['state'] for m in json.loads(result.stdout)}
    support.wait_for(lambda: states().get('monitor') == 'active' and
                     states().get('heartbeat') == 'active', 60,
                     message='example modules active')
    table = run(['modules', 'list'], env=env).stdout
    assert table.splitlines()[0].split()[:4] == ['NAME', 'KIND', 'VERSION', 'STATE']
    restart = run(['modules', 'restart', 'heartbeat'], env=env)
    assert (restart.returncode, restart.stdout) == (
        0, 'restart heartbeat: done: heartbeat is active\n'), restart.stderr
    unknown = run(['modules', 'restart', 'nope'], env=env)
    assert unknown.returncode == 1 and "no module named 'nope'" in unknown.stderr
    support.wait_for(lambda: {'heartbeat': 'active', 'monitor': 'active'}.items() <=
                     states().items(), 60,
                     message='both active again after the restart')
    up.signal(signal.SIGINT)
    assert up.wait(60) == 0


def test_modules_verb_says_when_no_kernel_runs(ros_env):
    result = run(['modules', '--timeout', '1', 'list'], env=ros_env)
    assert result.returncode == 2
    assert 'is the kernel running' in result.stderr


def test_check_config_and_up_refuse_a_missing_module_before_starting(tmp_path, ros_env):
    config = tmp_path / 'kernel.yaml'
    config.write_text(textwrap.dedent("""\
        kernel: {state_dir: state}
        redis: {enabled: false}
        modules: {search_paths: [mods], enabled: [lidar]}
        """))
    checked = support.cli(ros_env, 'check-config', str(config))
    assert checked.returncode == 1
    assert "modules.enabled[0]: enabled module 'lidar' not found" in checked.stdout
    assert f'{tmp_path / "mods"} (no such folder)' in checked.stdout
    up = support.cli(ros_env, 'up', '--config', str(config), timeout=60)
    assert up.returncode == 2, up.stdout + up.stderr
    assert "enabled module 'lidar' not found" in up.stderr
    assert not (tmp_path / 'state').exists()  # refused before anything started
