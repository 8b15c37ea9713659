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

"""``colcon build`` and ``colcon test`` work on the package, with the layout ROS expects."""

import os
import pathlib
import re
import subprocess
import sys

import support

COLCON = pathlib.Path(sys.executable).parent / 'colcon'


def colcon(args, cwd, env):
    result = subprocess.run([str(COLCON)] + args, cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_colcon_build_installs_executables_launch_config_and_index(tmp_path, ros_env):
    env = {**ros_env, 'COLCON_HOME': str(tmp_path / 'colcon_home')}
    colcon(['build', '--base-paths', str(support.ROOT), '--build-base', str(tmp_path / 'build'),
            '--install-base', str(tmp_path / 'install')], tmp_path, env)
    prefix = tmp_path / 'install' / 'unity_kernel'
    for exe in ('kernel', 'unity-kernel'):
        assert os.access(prefix / 'lib' / 'unity_kernel' / exe, os.X_OK), exe
    share = prefix / 'share' / 'unity_kernel'
    assert (share / 'package.xml').is_file()
    assert (share / 'launch' / 'bringup.launch.py').is_file()
    assert (share / 'config' / 'kernel.yaml').is_file()
    assert (share / 'config' / 'unity_kernel.rviz').is_file()
    assert (share / 'modules' / 'camera' / 'manifest.yaml').is_file()
    assert (prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' /
            'unity_kernel').is_file()

    # what `ros2 run unity_kernel unity-kernel ...` does: the installed executable, with the
    # install prefix on AMENT_PREFIX_PATH, finds the installed config
    run_env = {**env, 'AMENT_PREFIX_PATH': f'{prefix}{os.pathsep}{env["AMENT_PREFIX_PATH"]}'}
    code = ('from unity_kernel_core.paths import default_config_path; '
            'print(default_config_path())')
    site = next((prefix / 'lib').glob('python3*/site-packages'))
    # the dashboard's flow editor and plots: built by setup.py's build step, package data
    app = site / 'unity_kernel_core' / 'live' / 'static' / 'app'
    assert {'flow.js', 'flow.css', 'plots.js', 'plots.css'} <= {p.name for p in app.iterdir()}
    assert (site / 'unity_kernel_core' / 'live' / 'static' / 'flows.html').is_file()
    # the native data path: compiled by the same build, against the ROS it found
    native = site / 'unity_kernel_core' / 'native'
    assert list(native.glob('_core.*.so')) and list(native.glob('_rcl.*.so')), \
        sorted(p.name for p in native.iterdir())
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         env={**run_env, 'PYTHONPATH': str(site)}, cwd=tmp_path, timeout=60)
    assert out.stdout.strip() == str(share / 'config' / 'kernel.yaml'), out.stderr

    colcon(['test', '--base-paths', str(support.ROOT), '--build-base', str(tmp_path / 'build'),
            '--install-base', str(tmp_path / 'install'), '--pytest-args',
            str(support.ROOT / 'test' / 'unit' / 'bus' / 'test_patterns.py')], tmp_path, env)
    result = colcon(['test-result', '--test-result-base', str(tmp_path / 'build'), '--all'],
                    tmp_path, env)
    summary = result.stdout.strip().splitlines()[-1]
    assert re.match(r'Summary: [1-9][0-9]* tests, 0 errors, 0 failures', summary), summary
