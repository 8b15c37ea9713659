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

"""A thread's OS scheduling in words, and the prefix program's refusal line (no exec here)."""

import pytest

from unity_kernel_core.common import os_scheduling


def test_a_setting_in_words_and_what_it_needs():
    assert os_scheduling.describe(-10, 'other', None) == 'nice -10'
    assert os_scheduling.describe(None, 'fifo', 10) == 'policy fifo priority 10'
    assert 'RLIMIT_NICE of at least 30' in os_scheduling.needs(-10, 'other', None)
    assert 'RLIMIT_RTPRIO of at least 10' in os_scheduling.needs(None, 'fifo', 10)


def test_the_refusal_line_is_read_back_without_the_module_name():
    line = "module 'cam': scheduling nice -6 not permitted (Operation not permitted)\n"
    assert os_scheduling.refusal(line, 'cam') == \
        'scheduling nice -6 not permitted (Operation not permitted)'


@pytest.mark.parametrize('argv, message', [
    (['--module', 'm', '--priority', '5', '--', '/bin/true'], '--priority goes with'),
    (['--module', 'm', '--nice', '0', '--', 'true'], 'must start with an absolute path'),
])
def test_the_prefix_refuses_bad_arguments_before_it_applies_anything(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        os_scheduling.main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err
