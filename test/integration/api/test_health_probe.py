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

"""``unity-kernel health`` against a real kernel over DDS, as a container probe runs it."""

import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
import support

from unity_kernel_core.ros.diagnostics import ERROR, OK, status

CLI = [sys.executable, '-m', 'unity_kernel_core.cli.main']


def test_health_follows_the_kernel_active_then_inactive(processes, probe, ros_env, tmp_path):
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{state_dir: {tmp_path / "state"}}}\n'
                      'modules: {enabled: []}\n')
    up = processes.start(CLI + ['up', '--config', str(config)], ros_env, tmp_path / 'up.log')
    up.wait_output('Ctrl-C to stop', 60)
    healthy = support.cli(ros_env, 'health', '--config', str(config))
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stdout.startswith('unity_kernel active; mirroring to unix://'), healthy.stdout
    assert probe.change_state('unity_kernel', 'deactivate')
    unhealthy = support.cli(ros_env, 'health', '--config', str(config))
    assert unhealthy.returncode == 1
    assert unhealthy.stderr.strip() == 'unity_kernel is inactive, not active'


def test_no_kernel_is_unhealthy_within_the_timeout(ros_env):
    started = time.monotonic()
    result = support.cli(ros_env, 'health', '--node', 'unity_kernel', '--timeout', '2')
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f'no /diagnostics report from unity_kernel within 2s (ROS_DOMAIN_ID '
        f'{ros_env["ROS_DOMAIN_ID"]}): is the kernel running?')
    assert elapsed < 30  # the wait is bounded (the rest is starting Python and rclpy)


def test_a_failing_mirror_makes_the_kernel_unhealthy(probe, ros_env):
    # a kernel's report as the mirror sends it when events are held in memory
    publisher = probe.node.create_publisher(DiagnosticArray, '/diagnostics', 10)
    stop = threading.Event()

    def report():
        while not stop.wait(0.2):
            publisher.publish(DiagnosticArray(status=[
                status('robot_k: kernel', OK, 'active', {'state': 'active'}),
                status('robot_k: mirror', ERROR, '3 event(s) held in memory', {})]))

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        result = support.cli(ros_env, 'health', '--node', 'robot_k', '--timeout', '20')
    finally:
        stop.set()
        thread.join(5)
    assert result.returncode == 1
    assert result.stderr.strip() == ('robot_k active but its audit mirror is failing: '
                                     '3 event(s) held in memory')


def test_bad_arguments_are_one_line_and_exit_2(ros_env, tmp_path):
    result = support.cli(ros_env, 'health', '--timeout', '0')
    assert result.returncode == 2
    assert result.stderr.strip() == 'unity-kernel health: --timeout must be > 0 seconds'
    bad = tmp_path / 'bad.yaml'
    bad.write_text('kernel: {diagnostics_period_s: -1}\n')
    result = support.cli(ros_env, 'health', '--config', str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith('unity-kernel health: ') and 'diagnostics_period_s' in \
        result.stderr and len(result.stderr.strip().splitlines()) == 1
