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

"""check-config's logic: every problem of a config as the kernel's configure finds them."""

import textwrap

import support

from unity_kernel_core.api.check_config import check_config, summary


def test_the_shipped_config_checks_clean_and_is_summarised():
    config, issues = check_config(support.ROOT / 'config' / 'kernel.yaml', environ={})
    assert issues == [] and config is not None
    line = summary(config)
    assert f'{len(config.topics)} topic rule(s)' in line and 'modules: ' in line
    assert '/safety/**->CRITICAL' in line


def test_schema_and_deployment_problems_are_listed_with_file_and_line(tmp_path):
    bad = tmp_path / 'kernel.yaml'
    bad.write_text('kernel:\n  node_name: 1-bad\n')
    config, issues = check_config(bad, environ={})
    assert config is None and issues and issues[0].line == 2
    missing = tmp_path / 'missing.yaml'
    missing.write_text(textwrap.dedent(f"""\
        modules:
          search_paths: [{tmp_path / 'mods'}]
          enabled: [nowhere]
        """))
    config, issues = check_config(missing, environ={})
    assert config is None and any('nowhere' in str(i) for i in issues)


def test_the_summary_says_where_redis_is():
    from unity_kernel_core.config.kernel_config import parse_config
    assert ('redis: no URL: `unity-kernel up` starts a private redis-server, `kernel` and '
            '`ros2 launch` run without the audit mirror') in summary(
                parse_config('redis: {url: null}\nmodules: {enabled: []}\n'))
    assert 'redis: off (redis.enabled: false)' in summary(
        parse_config('redis: {enabled: false, url: null}\nmodules: {enabled: []}\n'))


def test_an_optional_module_that_is_not_found_is_named_as_such(tmp_path):
    folder = tmp_path / 'modules' / 'here'
    folder.mkdir(parents=True)
    (folder / 'manifest.yaml').write_text('name: here\nversion: 1.0.0\nkind: inprocess\n'
                                          'entry: mod:Module\n')
    (folder / 'mod.py').write_text('')
    path = tmp_path / 'kernel.yaml'
    path.write_text(f'modules: {{search_paths: [{tmp_path / "modules"}], '
                    'enabled: [here, haptic], optional: [haptic]}\n')
    config, issues = check_config(path)
    assert issues == [], issues
    assert 'modules: here, haptic (optional, not found: not started)' in summary(config)
