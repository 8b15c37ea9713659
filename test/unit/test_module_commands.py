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

"""The module commands and outcomes every door shares."""

import pytest

from unity_kernel_core.module_commands import (CommandError, CommandOutcome, ModuleCommand,
                                               OutcomeStatus)


def test_commands_name_what_they_take():
    assert [c.value for c in ModuleCommand] == ['restart', 'enable', 'disable', 'load',
                                                'unload']
    assert {c: c.argument for c in ModuleCommand} == {
        ModuleCommand.RESTART: 'name', ModuleCommand.ENABLE: 'name',
        ModuleCommand.DISABLE: 'name', ModuleCommand.LOAD: 'path',
        ModuleCommand.UNLOAD: 'name'}
    assert all(c.summary for c in ModuleCommand)


def test_an_unknown_command_is_refused_naming_the_known_ones():
    assert ModuleCommand.parse('enable') is ModuleCommand.ENABLE
    with pytest.raises(CommandError, match="unknown module command 'stop': expected one of "
                                           'restart, enable, disable, load, unload'):
        ModuleCommand.parse('stop')


def test_an_outcome_goes_through_json_and_back():
    outcome = CommandOutcome('ab-1', ModuleCommand.UNLOAD, 'heartbeat', OutcomeStatus.REFUSED,
                             'still needed by monitor')
    assert outcome.as_dict() == {'id': 'ab-1', 'command': 'unload', 'target': 'heartbeat',
                                 'status': 'refused', 'message': 'still needed by monitor'}
    assert CommandOutcome.from_dict(outcome.as_dict()) == outcome
    assert outcome.finished and not outcome.succeeded


@pytest.mark.parametrize('data,words', [
    ([], 'an outcome is a JSON object'),
    ({'id': 'a'}, 'an outcome needs the strings command, target, status, message'),
    ({'id': 'a', 'command': 'restart', 'target': 'x', 'status': 'maybe', 'message': ''},
     "unknown outcome status 'maybe'"),
    ({'id': 'a', 'command': 'reboot', 'target': 'x', 'status': 'done', 'message': ''},
     "unknown module command 'reboot'"),
])
def test_anything_else_is_not_an_outcome(data, words):
    with pytest.raises(CommandError, match=words):
        CommandOutcome.from_dict(data)
