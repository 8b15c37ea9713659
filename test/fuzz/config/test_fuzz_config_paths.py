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
Fuzz: every path a config file may hold, as ``load_config`` resolves it against the file.

``package://`` URLs (through ``AMENT_PREFIX_PATH``'s ament index), ``~`` and ``~user``,
``$VARS``, relative and absolute paths, NULs: each is resolved, or the config is refused
with a ConfigError naming the key (a NUL once raised ValueError, ``~nosuchuser`` a
RuntimeError, both out of ``load_config``).
"""

import json
import pathlib

from hypothesis import example, given, strategies as st
import pytest

from unity_kernel_core.config.kernel_config import load_config, PATH_KEYS
from unity_kernel_core.errors import ConfigError
from unity_kernel_core.paths import resolve_path

pieces = st.sampled_from(['package://', 'package://unity_kernel/', 'package://no_such_pkg/',
                          '~', '~/', '~nosuchuser_q/', '$HOME/', '$NO_SUCH_VAR/', '/', '../',
                          './', 'a', 'b c', '\0', '\x85', '..', 'config', 'kernel.yaml', '//'])
paths = st.lists(pieces, min_size=1, max_size=5).map(''.join)


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp('paths')


@given(paths)
@example('package://unity_kernel/../../etc/passwd')
def test_any_path_is_resolved_or_not_found(raw):
    try:
        path = resolve_path(raw, pathlib.Path('/base'))
    except FileNotFoundError as exc:
        assert str(exc)
        return
    assert path.is_absolute() and '\0' not in str(path)


@given(st.sampled_from(PATH_KEYS), paths)
@example(('live', 'token_file'), '/run/a\0b')
@example(('kernel', 'state_dir'), '~nosuchuser_q/state')
def test_any_path_in_a_config_file_is_resolved_or_an_issue_naming_its_key(folder, key, raw):
    section, name = key
    value = [raw] if name == 'search_paths' else raw
    path = folder / 'kernel.json'
    path.write_text(json.dumps({section: {name: value}}))
    try:
        config = load_config(path, environ={})
    except ConfigError as exc:
        assert exc.issues and all(str(i).startswith(str(path)) for i in exc.issues)
        return
    resolved = getattr(getattr(config, section), name)
    for item in resolved if isinstance(resolved, list) else [resolved]:
        assert '\0' not in str(item)
