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
Fuzz: any config text, and any environment override, is a KernelConfig or a ConfigError.

Every ConfigIssue names where it comes from (the file, or the environment variable), so
``check-config`` and ``up`` explain what a user (or an attacker) wrote, never with a traceback.
"""

import json

from hypothesis import given, strategies as st

from unity_kernel_core.config.kernel_config import KernelConfig, parse_config
from unity_kernel_core.errors import ConfigError

SECTIONS = ['kernel', 'redis', 'tiers', 'topics', 'modules', 'live', 'fleet']
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                    st.text(max_size=40))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20)


def _parses_or_explains(text, environ=None):
    try:
        config = parse_config(text, 'fuzz.yaml', environ=environ)
    except ConfigError as exc:
        assert exc.issues, 'a ConfigError names at least one issue'
        for issue in exc.issues:
            line = str(issue)
            assert line.startswith('fuzz.yaml') or 'environment variable' in line, line
        return None
    assert isinstance(config, KernelConfig)
    return config


@given(st.text(max_size=400))
def test_any_text_is_a_config_or_a_config_error(text):
    _parses_or_explains(text)


@given(st.dictionaries(st.sampled_from(SECTIONS), values, max_size=4))
def test_any_structure_under_the_known_sections_is_a_config_or_a_config_error(doc):
    _parses_or_explains(json.dumps(doc, default=str))


@given(st.dictionaries(
    st.from_regex(r'UNITY_KERNEL__[A-Za-z_]{1,20}(__[A-Za-z_]{1,12}){0,2}', fullmatch=True),
    st.text(max_size=30), max_size=3))
def test_any_environment_override_is_a_config_or_a_config_error(environ):
    _parses_or_explains('', environ)
