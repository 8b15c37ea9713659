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

"""``check-config``'s summary says what each way of starting does with the config."""

from unity_kernel_core.api.check_config import check_config, summary
from unity_kernel_core.config.kernel_config import parse_config


def test_no_redis_url_says_who_starts_a_private_server_and_who_runs_without():
    line = summary(parse_config('modules: {enabled: []}\n'))
    assert ('redis: no URL: `unity-kernel up` starts a private redis-server, `kernel` and '
            '`ros2 launch` run without the audit mirror') in line
    assert 'redis: off (redis.enabled: false)' in summary(parse_config(
        'redis: {enabled: false}\nmodules: {enabled: []}\n'))


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
