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

"""Topic pattern matching."""

import pytest

from unity_kernel_core.bus.patterns import compile_pattern, first_match, matches
from unity_kernel_core.errors import PatternError


@pytest.mark.parametrize('pattern,topic,expected', [
    ('/safety/*', '/safety/estop', True),
    ('/safety/*', '/safety/arm/estop', False),
    ('/safety/*', '/safety', False),
    ('/safety/**', '/safety', True),
    ('/safety/**', '/safety/arm/estop', True),
    ('/safety/**', '/safetyx', False),
    ('/**', '/anything/at/all', True),
    ('/*/image_raw', '/cam/image_raw', True),
    ('/*/image_raw', '/a/cam/image_raw', False),
    ('/a/**/b', '/a/b', True),
    ('/a/**/b', '/a/x/y/b', True),
    ('/cam?', '/cam1', True),
    ('/cam?', '/cam/', False),
    ('/exact', '/exact', True),
    ('/exact', '/exactly', False),
])
def test_pattern_matching(pattern, topic, expected):
    assert matches(pattern, topic) is expected


@pytest.mark.parametrize('pattern,fragment', [
    ('safety/*', "must start with '/'"),
    ('', 'non-empty'),
    ('/a/***', "'***'"),
    ('/a**', "'**' must be a whole segment"),
    ('/a//b', 'empty name segment'),
    ('/a b', 'may only contain'),
    ('/a.b', 'may only contain'),
])
def test_malformed_patterns_are_refused_with_a_reason(pattern, fragment):
    with pytest.raises(PatternError, match=None) as info:
        compile_pattern(pattern)
    assert fragment in str(info.value)


def test_first_match_wins():
    rules = [('/safety/**', 'CRITICAL'), ('/**', 'NORMAL')]
    assert first_match(rules, '/safety/estop') == 'CRITICAL'
    assert first_match(rules, '/chatter') == 'NORMAL'
    assert first_match([('/x', 1)], '/y') is None
