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
A bad ROS argument or environment stops ``up`` (and every node) with one line, exit 2.

Nothing is started first: no private Redis is left behind (a ``ROS_DOMAIN_ID`` of 999 used to
end the process from inside DDS after the private Redis had started, orphaning it).
"""

import sys
import textwrap

import psutil
import pytest
import support


def config(tmp_path, redis='{}'):
    path = tmp_path / 'kernel.yaml'
    path.write_text(textwrap.dedent(f"""\
        kernel: {{state_dir: {tmp_path / 'state'}}}
        redis: {redis}
        modules: {{enabled: []}}
        live: {{enabled: false}}
        """))
    return path


def redis_servers_of(tmp_path):
    return [p for p in psutil.process_iter(['name', 'cmdline'])
            if p.info['name'] == 'redis-server'
            and str(tmp_path) in ' '.join(p.info['cmdline'] or [])]


@pytest.mark.parametrize('ros_args, env, expected', [
    (['-p'], {}, "invalid ROS arguments: Couldn't parse trailing -p flag"),
    (['--bogus-flag'], {}, 'unknown ROS arguments after --ros-args: --bogus-flag'),
    (['-r', '__node:=bad name!'], {}, "invalid ROS arguments: Couldn't parse remap rule"),
    ([], {'ROS_DOMAIN_ID': '999'}, 'ROS_DOMAIN_ID=999 is out of range: DDS takes 0..232'),
    ([], {'ROS_DOMAIN_ID': 'abc'}, "ROS_DOMAIN_ID='abc' is not a number (0..232)"),
])
def test_a_bad_ros_argument_or_domain_is_one_line_before_anything_starts(
        tmp_path, ros_env, ros_args, env, expected):
    args = ['up', '--config', str(config(tmp_path))]
    if ros_args:
        args += ['--ros-args', *ros_args]
    done = support.cli({**ros_env, **env}, *args, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith('unity-kernel: cannot start: ') and expected in line, line
    assert not (tmp_path / 'state').exists()  # not even the state dir: nothing started
    assert not redis_servers_of(tmp_path)


def test_an_unwritable_ros_log_dir_is_one_line_and_stops_the_private_redis(tmp_path, ros_env):
    blocker = tmp_path / 'a-file'
    blocker.write_text('')
    env = {**ros_env, 'ROS_LOG_DIR': str(blocker / 'log')}
    done = support.cli(env, 'up', '--config', str(config(tmp_path)), timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert 'Traceback' not in done.stderr
    assert 'unity-kernel: cannot start: failed to initialize logging' in done.stderr
    assert 'make one of them a writable folder' in done.stderr
    assert 'unity-kernel: stopped (exit 2)' in done.stdout
    assert not redis_servers_of(tmp_path)


@pytest.mark.parametrize('module', ['unity_kernel_core.kernel.node',
                                    'unity_sensors.camera.node'])
def test_every_node_refuses_bad_ros_arguments_in_one_line(tmp_path, ros_env, module):
    import subprocess
    done = subprocess.run([sys.executable, '-m', module, '--ros-args', '-p'], env=ros_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().endswith(
        "cannot start: invalid ROS arguments: Couldn't parse trailing -p flag. "
        'No parameter override rule found.')
    assert 'Traceback' not in done.stderr


@pytest.mark.parametrize('module, parameter', [
    ('unity_kernel_core.kernel.node', 'autostart:=maybe'),
    ('unity_sensors.camera.node', 'width:=wide'),
    ('unity_sensors.haptic.node', 'baud:=fast'),
    ('unity_sensors.audio.node', 'chunk_frames:=many'),
    ('unity_llm_bridge.node', 'autostart:=[1,2]')])
def test_a_start_parameter_of_the_wrong_type_is_one_line_not_a_traceback(tmp_path, ros_env,
                                                                         module, parameter):
    """Regression: rclpy's InvalidParameterTypeException ended every node with a traceback."""
    import subprocess
    done = subprocess.run([sys.executable, '-m', module, '--ros-args', '-p', parameter],
                          env=ros_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    name = parameter.split(':=')[0]
    assert f"cannot start: cannot set parameter '{name}'" in done.stderr
    assert 'expecting type' in done.stderr and 'Traceback' not in done.stderr


def test_up_with_a_start_parameter_of_the_wrong_type_stops_its_private_redis(tmp_path,
                                                                             ros_env):
    done = support.cli(ros_env, 'up', '--config', str(config(tmp_path)), '--ros-args', '-p',
                       'spawn_modules:=perhaps', timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert 'Traceback' not in done.stderr
    assert "unity-kernel: cannot start: cannot set parameter 'spawn_modules'" in done.stderr
    assert not redis_servers_of(tmp_path)


def test_a_fifo_as_the_fast_dds_profile_file_is_one_line_not_a_wait_for_ever(tmp_path,
                                                                             ros_env):
    """Regression: Fast DDS opened the FIFO at the first node and waited for a writer."""
    import os
    fifo = tmp_path / 'profiles.xml'
    os.mkfifo(fifo)
    env = {**ros_env, 'FASTDDS_DEFAULT_PROFILES_FILE': str(fifo)}
    done = support.cli(env, 'up', '--config', str(config(tmp_path)), timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == ('unity-kernel: cannot start: FASTDDS_DEFAULT_PROFILES_FILE='
                                   f"'{fifo}' is not a regular file (a FIFO or a device): Fast "
                                   'DDS would wait on it for ever')
    assert not (tmp_path / 'state').exists()


def test_a_static_peer_rcl_cannot_resolve_is_one_line_and_stops_the_private_redis(tmp_path,
                                                                                  ros_env):
    """Regression: rcl's RCLError at node creation ended up with a traceback."""
    env = {**ros_env, 'ROS_STATIC_PEERS': '[[[;;'}
    done = support.cli(env, 'up', '--config', str(config(tmp_path)), timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert 'Traceback' not in done.stderr
    assert 'unity-kernel: cannot start: error creating node: Unable to resolve peer [[[' \
        in done.stderr
    assert not redis_servers_of(tmp_path)


def test_another_rmw_than_the_installed_one_ends_before_anything_starts(tmp_path, ros_env):
    """Show rcl ending the process (102) when rclpy is imported: before Redis starts."""
    env = {**ros_env, 'RMW_IMPLEMENTATION': 'rmw_no_such_dds'}
    done = support.cli(env, 'up', '--config', str(config(tmp_path)), timeout=60)
    assert done.returncode == 102, done.stdout + done.stderr
    assert "Expected RMW implementation identifier of 'rmw_no_such_dds'" in done.stderr
    assert not redis_servers_of(tmp_path) and not (tmp_path / 'state' / 'redis').exists()
