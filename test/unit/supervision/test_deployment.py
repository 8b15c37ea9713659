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

"""Configs work from anywhere; enabled modules must be found; per-deployment overrides."""

import os
import shlex
import shutil
import textwrap

import pytest
import support

from unity_kernel_core.api.launch_plan import node_modules
from unity_kernel_core.config.kernel_config import load_config
from unity_kernel_core.errors import ConfigError
from unity_kernel_core.paths import share_dir
from unity_kernel_core.supervision import deployment, scheduling
from unity_kernel_core.supervision.node_runner import NodeRunner

SHIPPED = support.ROOT / 'config' / 'kernel.yaml'


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def module(root, name, parameters='{}', kind='node'):
    entry = 'executable: camera' if kind == 'node' else 'entry: m.py:M'
    write(root / name / 'manifest.yaml', f"""\
        name: {name}
        version: 1.0.0
        kind: {kind}
        {entry}
        parameters: {parameters}
        """)


def problems(path):
    with pytest.raises(ConfigError) as info:
        deployment.resolve(load_config(path, environ={}))
    return [str(i) for i in info.value.issues]


def test_a_copy_of_the_shipped_config_elsewhere_still_finds_the_shipped_modules(
        tmp_path, monkeypatch):
    copy = tmp_path / 'elsewhere' / 'kernel.yaml'
    copy.parent.mkdir()
    shutil.copy(SHIPPED, copy)
    monkeypatch.chdir(tmp_path)  # and started from yet another folder
    found = deployment.resolve(load_config(copy, environ={}))
    assert found.search_paths == [(share_dir() / 'modules').resolve()]
    assert found.enabled == load_config(SHIPPED, environ={}).modules.enabled
    assert 'camera' in found.enabled and found.manifests['camera'].executable == 'camera'
    assert [m.module for m in node_modules(copy)] == ['camera']


def test_relative_paths_resolve_against_the_config_folder_not_the_working_directory(
        tmp_path, monkeypatch):
    module(tmp_path / 'site' / 'mods', 'cam')
    config = write(tmp_path / 'site' / 'kernel.yaml', """\
        kernel: {state_dir: state}
        redis: {password_file: secrets/redis.txt}
        modules: {search_paths: [mods, ~/nowhere], enabled: [cam]}
        """)
    monkeypatch.chdir(tmp_path)
    loaded = load_config(config, environ={})
    site = (tmp_path / 'site').resolve()
    assert loaded.kernel.state_dir == str(site / 'state')
    assert loaded.redis.password_file == str(site / 'secrets' / 'redis.txt')
    assert loaded.modules.search_paths == [str(site / 'mods'), '~/nowhere']
    assert deployment.resolve(loaded).enabled == ['cam']


def test_missing_enabled_module_names_itself_and_every_folder_searched(tmp_path):
    module(tmp_path / 'mods', 'cam')
    config = write(tmp_path / 'kernel.yaml', """\
        modules:
          search_paths: [mods, gone]
          enabled:
            - cam
            - lidar
        """)
    [issue] = problems(config)
    assert issue.startswith(f"{config}:5: modules.enabled[1]: enabled module 'lidar' not found")
    assert f'{tmp_path / "mods"} (has: cam)' in issue
    assert f'{tmp_path / "gone"} (no such folder)' in issue
    assert 'modules.optional' in issue


def test_optional_module_may_be_missing(tmp_path):
    module(tmp_path / 'mods', 'cam')
    config = write(tmp_path / 'kernel.yaml', """\
        modules: {search_paths: [mods], enabled: [cam, lidar], optional: [lidar]}
        """)
    found = deployment.resolve(load_config(config, environ={}))
    assert found.enabled == ['cam'] and found.missing_optional == ['lidar']


def test_unknown_package_url_is_an_error_at_its_line(tmp_path):
    config = write(tmp_path / 'kernel.yaml', """\
        modules:
          search_paths: [package://no_such_package/modules]
        """)
    with pytest.raises(ConfigError) as info:
        load_config(config, environ={})
    assert str(info.value.issues[0]).startswith(
        f"{config}:2: modules.search_paths[0]: package 'no_such_package' is not in the "
        'ament index')


def test_overrides_reach_the_manifest_and_the_launch_plan(tmp_path):
    module(tmp_path / 'mods', 'cam', '{fps: 10.0, source: device, loop: true}')
    config = write(tmp_path / 'kernel.yaml', """\
        modules:
          search_paths: [mods]
          enabled: [cam]
          overrides:
            cam:
              parameters: {fps: 5, source: pattern}
              restart: {max_restarts: 2}
              health: {transition_timeout_s: 30}
        """)
    cam = deployment.resolve(load_config(config, environ={})).manifests['cam']
    assert cam.parameters == {'fps': 5.0, 'source': 'pattern', 'loop': True}
    assert isinstance(cam.parameters['fps'], float)  # a ROS double parameter, not an int
    assert cam.restart.max_restarts == 2 and cam.health.transition_timeout_s == 30
    [launched] = node_modules(config)
    assert launched.parameters == {'fps': 5.0, 'source': 'pattern', 'loop': True}


def test_scheduling_override_reaches_the_node_runner_and_the_launch_prefix_alike(tmp_path):
    module(tmp_path / 'mods', 'cam', '{fps: 10.0}')
    config = write(tmp_path / 'kernel.yaml', """\
        modules:
          search_paths: [mods]
          enabled: [cam]
          overrides:
            cam:
              scheduling: {policy: fifo, priority: 12}
        """)
    cam = deployment.resolve(load_config(config, environ={})).manifests['cam']
    assert (cam.scheduling.policy, cam.scheduling.priority) == ('fifo', 12)
    prefix = scheduling.prefix(cam)
    assert prefix[1:] == ['-m', 'unity_kernel_core.common.os_scheduling', '--module', 'cam',
                          '--policy', 'fifo', '--priority', '12', '--']
    [launched] = node_modules(config)
    assert shlex.split(launched.prefix) == prefix  # one source for both ways of starting it
    runner = NodeRunner(cam, None, tmp_path)  # type: ignore[arg-type]
    assert runner.command()[:len(prefix)] == prefix


def test_the_shipped_haptic_module_runs_simulated_by_override(tmp_path):
    config = write(tmp_path / 'kernel.yaml', """\
        modules:
          search_paths: [package://unity_kernel/modules]
          enabled: [haptic]
          overrides:
            haptic: {parameters: {driver: simulated}}
        """)
    [haptic] = node_modules(config)
    assert (haptic.executable, haptic.namespace) == ('haptic', '/sensors')
    assert haptic.parameters['driver'] == 'simulated'
    manifest = (share_dir() / 'modules' / 'haptic' / 'manifest.yaml').read_text()
    assert 'driver: serial' in manifest  # the shipped manifest is untouched


@pytest.mark.parametrize('override, line, key, expected', [
    ('{parameters: {fsp: 5.0}}', 6, 'modules.overrides.cam.parameters.fsp',
     "unknown parameter of module 'cam'"),
    ('{parameters: {fps: fast}}', 6, 'modules.overrides.cam.parameters.fps',
     "expected a float like the manifest default 10.0, got 'fast'"),
    ('{restart: {max_restartz: 2}}', 6, 'modules.overrides.cam.restart.max_restartz',
     'unknown key'),
    ('{restart: {max_restarts: -1}}', 6, 'modules.overrides.cam.restart.max_restarts',
     'greater than or equal to 0'),
    ('{paramters: {fps: 5.0}}', 6, 'modules.overrides.cam.paramters', 'unknown key'),
    ('{scheduling: {nice: -40}}', 6, 'modules.overrides.cam.scheduling.nice',
     'greater than or equal to -20'),
    ('{scheduling: {policy: fifo}}', 6, 'modules.overrides.cam.scheduling',
     "policy 'fifo' needs a priority"),
    ('{scheduling: {nise: -5}}', 6, 'modules.overrides.cam.scheduling.nise',
     'unknown key (a manifest scheduling section has: nice, policy, priority)'),
])
def test_bad_override_is_a_clear_error_with_file_and_line(tmp_path, override, line, key,
                                                          expected):
    module(tmp_path / 'mods', 'cam', '{fps: 10.0}')
    config = write(tmp_path / 'kernel.yaml', f"""\
        modules:
          search_paths: [mods]
          enabled: [cam]
          overrides:
            cam:
              {override}
        """)
    with pytest.raises(ConfigError) as info:
        deployment.resolve(load_config(config, environ={}))
    [issue] = info.value.issues
    assert (issue.source, issue.line, issue.path) == (str(config), line, key), str(issue)
    assert expected in issue.message, issue.message


@pytest.mark.parametrize('modules, key, expected', [
    ('{enabled: [cam], overrides: {lidar: {}}}', 'modules.overrides.lidar',
     "'lidar' is not an enabled module (modules.enabled: cam)"),
    ('{enabled: [cam], optional: [lidar]}', 'modules.optional[0]',
     "'lidar' is not in modules.enabled"),
])
def test_overrides_and_optional_must_name_enabled_modules(tmp_path, modules, key, expected):
    config = write(tmp_path / 'kernel.yaml', f'modules: {modules}\n')
    with pytest.raises(ConfigError) as info:
        load_config(config, environ={})
    [issue] = info.value.issues
    assert (issue.line, issue.path) == (1, key) and expected in issue.message, str(issue)


def test_package_urls_resolve_through_the_ament_index_for_search_paths_and_calibration(
        tmp_path, monkeypatch):
    from unity_sensors.camera.calibration import CalibrationError, load_calibration
    prefix = tmp_path / 'robot_ws' / 'install'
    (prefix / 'share' / 'ament_index' / 'resource_index' / 'packages').mkdir(parents=True)
    (prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'my_robot').touch()
    module(prefix / 'share' / 'my_robot' / 'modules', 'lidar')
    (prefix / 'share' / 'my_robot' / 'calib').mkdir()
    (prefix / 'share' / 'my_robot' / 'calib' / 'cam.yaml').write_text(CALIBRATION)
    monkeypatch.setenv('AMENT_PREFIX_PATH',
                       f'{prefix}{os.pathsep}{os.environ.get("AMENT_PREFIX_PATH", "")}')
    config = write(tmp_path / 'kernel.yaml', """\
        modules:
          search_paths: [package://my_robot/modules, package://unity_kernel/modules]
          enabled: [lidar, camera]
        """)
    found = deployment.resolve(load_config(config, environ={}))
    assert found.enabled == ['lidar', 'camera']
    assert found.manifests['lidar'].directory == prefix / 'share' / 'my_robot' / 'modules' / \
        'lidar'
    cal = load_calibration('package://my_robot/calib/cam.yaml')
    assert cal.image_width == 64
    with pytest.raises(CalibrationError, match="package 'nope' is not in the ament index"):
        load_calibration('package://nope/cam.yaml')


CALIBRATION = """\
image_width: 64
image_height: 48
camera_name: test
camera_matrix: {rows: 3, cols: 3, data: [50.0, 0, 32, 0, 50.0, 24, 0, 0, 1]}
distortion_model: plumb_bob
distortion_coefficients: {rows: 1, cols: 5, data: [0.1, -0.2, 0.0, 0.0, 0.01]}
rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
projection_matrix: {rows: 3, cols: 4, data: [50.0, 0, 32, 0, 0, 50.0, 24, 0, 0, 0, 1, 0]}
"""


def test_llm_bridge_config_resolves_its_api_key_file_against_its_own_folder(
        tmp_path, monkeypatch):
    from unity_llm_bridge.config import load_bridge_config
    from unity_llm_bridge.providers.base import read_api_key
    site = tmp_path / 'site'
    write(site / 'secrets' / 'key.txt', 'sk-test\n')
    config = write(site / 'llm.yaml', """\
        models:
          a: {api: openai, base_url: 'http://127.0.0.1:1/v1', model: m,
              api_key_file: secrets/key.txt}
        routes:
          - {name: all, match: [/**], models: [a]}
        """)
    monkeypatch.chdir(tmp_path)
    loaded = load_bridge_config(config)
    assert loaded.models['a'].api_key_file == str((site / 'secrets' / 'key.txt').resolve())
    assert read_api_key('a', loaded.models['a']) == 'sk-test'


def test_an_enabled_module_with_a_broken_manifest_is_no_deployment_error(tmp_path):
    # found but invalid: the supervisor fails it (and its users) while the others come up
    module(tmp_path / 'mods', 'cam')
    write(tmp_path / 'mods' / 'driver' / 'manifest.yaml', 'name: driver\nkind: nod\n')
    config = write(tmp_path / 'kernel.yaml', """\
        modules: {search_paths: [mods], enabled: [cam, driver]}
        """)
    found = deployment.resolve(load_config(config, environ={}))
    assert found.enabled == ['cam']
    assert any('driver' in i.source for e in found.manifest_errors for i in e.issues)
