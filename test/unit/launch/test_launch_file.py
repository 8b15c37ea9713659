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

"""The launch file starts only executables the package installs, with parameters they read."""

import ast
import importlib.util
import re

import pytest
import support

LAUNCH = support.ROOT / 'launch' / 'bringup.launch.py'


def console_scripts():
    text = (support.ROOT / 'setup.py').read_text()
    return set(re.findall(r"'([a-z_][a-z0-9_-]*) = [a-z_.]+:[a-z_]+'", text))


def launch_nodes():
    """Return (executable, [parameter names]) of every Node/LifecycleNode call in the file."""
    nodes = []
    for call in ast.walk(ast.parse(LAUNCH.read_text())):
        if isinstance(call, ast.Call) and getattr(call.func, 'id', '') in (
                'Node', 'LifecycleNode'):
            kwargs = {k.arg: k.value for k in call.keywords}
            if not isinstance(kwargs['executable'], ast.Constant):
                continue  # module nodes: from the launch plan, checked below
            exe = ast.literal_eval(kwargs['executable'])
            params = []
            for item in getattr(kwargs.get('parameters'), 'elts', []):
                if isinstance(item, ast.Dict):
                    params += [ast.literal_eval(k) for k in item.keys]
            nodes.append((exe, params))
    return nodes


def test_every_launched_executable_is_installed_by_setup_py():
    nodes = launch_nodes()
    assert nodes, 'no nodes found in the launch file'
    missing = {exe for exe, _ in nodes} - console_scripts()
    assert not missing, f'launch file starts executables setup.py does not install: {missing}'


def test_kernel_parameters_in_launch_are_declared_by_the_node():
    from unity_kernel_core.kernel.node import parameters
    declared = {spec.name for spec in parameters()}
    assert 'config_file' in declared
    for exe, params in launch_nodes():
        if exe == 'kernel':
            assert set(params) <= declared, set(params) - declared


def test_launch_plan_of_the_shipped_config_starts_installed_node_modules():
    from unity_kernel_core.api.launch_plan import node_modules
    plan = node_modules(support.ROOT / 'config' / 'kernel.yaml')
    missing = {m.executable for m in plan} - console_scripts()
    assert not missing, f'modules with executables setup.py does not install: {missing}'


def test_launch_plan_orders_node_modules_and_leaves_out_the_rest(tmp_path):
    from unity_kernel_core.api.launch_plan import node_modules
    mods = tmp_path / 'mods'
    for name, kind, extra in [
            ('cam', 'node', 'executable: camera\nparameters: {fps: 15.0}'),
            ('fusion', 'node', 'executable: fusion\ndepends: [cam]\nnamespace: /robot'),
            ('local', 'node', 'executable: ./run.py'),
            ('mon', 'inprocess', 'entry: m.py:M\ndepends: [fusion]')]:
        (mods / name).mkdir(parents=True)
        (mods / name / 'manifest.yaml').write_text(
            f'name: {name}\nversion: 1.0.0\nkind: {kind}\n{extra}\n')
    config = tmp_path / 'kernel.yaml'
    config.write_text('modules:\n  search_paths: [mods]\n'
                      '  enabled: [mon, fusion, cam, local]\n')
    plan = node_modules(config)
    assert [(m.module, m.executable, m.namespace) for m in plan] == [
        ('cam', 'camera', '/'), ('fusion', 'fusion', '/robot')]
    assert plan[0].parameters == {'fps': 15.0}


@pytest.mark.skipif(importlib.util.find_spec('launch_ros') is None,
                    reason='launch_ros is not installable here (no PyPI/Debian package); '
                           'the static checks above cover the file')
def test_launch_description_loads_with_launch_ros():
    spec = importlib.util.spec_from_file_location('bringup', LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert description.entities


def test_the_launch_plan_takes_the_config_as_a_package_url():
    from unity_kernel_core.api.launch_plan import node_modules
    from unity_kernel_core.paths import share_dir
    by_url = node_modules('package://unity_kernel/config/kernel.yaml')
    assert by_url == node_modules(str(share_dir() / 'config' / 'kernel.yaml'))
    assert [m.module for m in by_url] == ['camera']


def test_the_launch_arguments_are_checked_before_modules_start(tmp_path):
    """A typo in autostart:= or a bad config:= stops ros2 launch with the reason."""
    from unity_kernel_core.api.launch_plan import autostart_argument, node_modules
    from unity_kernel_core.errors import ConfigError
    assert autostart_argument('true') is True and autostart_argument(' False ') is False
    for word in ('ture', '1', '', 'maybe'):
        with pytest.raises(ConfigError, match='expected true or false'):
            autostart_argument(word)
    bad = tmp_path / 'kernel.yaml'
    bad.write_text('kernel: {bogus: 1}\n')
    for config, why in ((bad, f'{bad}:1: kernel.bogus: unknown key'),
                        (tmp_path / 'missing.yaml', 'file not found'),
                        ('package://no_such_package/k.yaml', "package 'no_such_package'")):
        with pytest.raises(ConfigError, match=why):
            node_modules(str(config))
    assert 'autostart_argument(' in LAUNCH.read_text()
