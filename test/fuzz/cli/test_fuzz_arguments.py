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
Fuzz: any argument vector is parsed by ``unity-kernel`` or refused in one line (exit 2).

And any ``--ros-args`` tail and ``ROS_DOMAIN_ID`` is accepted or explained by the check every
node runs before it starts (``lifecycle_base.startup_problem``): never a traceback.
"""

import contextlib
import io

from hypothesis import given, strategies as st
import pytest

from unity_kernel_core.cli.main import build_parser, VERBS
from unity_kernel_core.ros import lifecycle_base

VERB_NAMES = [v.replace('_', '-') for v in VERBS]
FLAGS = ['--config', '--ros-args', '--timeout', '--kernel', '--topics', '--format', '-o',
         '--dry-run', '--rate', '--from', '--to', '--limit', '--help', '-p', '-r', '--']
words = st.one_of(st.sampled_from(VERB_NAMES + FLAGS), st.text(max_size=20),
                  st.from_regex(r'-?[0-9e.+]{1,30}', fullmatch=True))
PARSER = build_parser()


@given(st.lists(words, max_size=8))
def test_any_argument_vector_parses_or_is_a_usage_error(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            PARSER.parse_args(argv)
        except SystemExit as exc:
            assert exc.code in (0, 2), exc.code
            if exc.code == 2:
                assert err.getvalue().count('\n') == 1, err.getvalue()
                assert 'Traceback' not in err.getvalue()


ros_words = st.one_of(
    st.sampled_from(['-p', '-r', '--param', '--remap', '--params-file', '--log-level',
                     '-e', '--enclave', '--disable-rosout-logs', '--ros-args', '--']),
    st.from_regex(r'[a-zA-Z_~/]{0,8}:=[^\x00]{0,8}', fullmatch=True), st.text(max_size=12))


@given(st.lists(ros_words, max_size=6),
       st.one_of(st.none(), st.text(max_size=6), st.integers(-5, 10_000).map(str)))
def test_any_ros_arguments_and_domain_are_accepted_or_explained(tail, domain):
    with pytest.MonkeyPatch.context() as env:
        if domain is None:
            env.delenv('ROS_DOMAIN_ID', raising=False)
        else:
            env.setenv('ROS_DOMAIN_ID', domain.replace('\x00', ''))
        problem = lifecycle_base.startup_problem(['node', '--ros-args', *tail])
    assert problem is None or (problem and '\n' not in problem), problem
