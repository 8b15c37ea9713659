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

"""``unity-kernel modules``: bad arguments are one-line usage errors; outcomes set the exit."""

import pytest

from unity_kernel_core.api import modules as api
from unity_kernel_core.cli.main import main
from unity_kernel_core.module_commands import CommandOutcome, ModuleCommand, OutcomeStatus


@pytest.mark.parametrize('argv,words', [
    (['--timeout', '1e400', 'list'], 'argument --timeout: expected seconds: a number more than '
                                     "0 and at most 86400, got '1e400'"),
    (['--timeout', '99999999999999999999999', 'list'], 'argument --timeout: expected seconds'),
    (['--kernel', 'bad name!', 'list'], 'argument --kernel: expected a ROS node name such as '
                                        '/unity_kernel'),
    (['--wait', 'soon', 'restart', 'x'], 'argument --wait: expected seconds'),
    (['restart', ''], 'argument NAME: expected a module name of 1 to 4096 characters'),
    (['load', '~nosuchuser4242/x'], 'argument PATH: expected a path to a module folder'),
    (['stop', 'camera'], "argument ACTION: invalid choice: 'stop'"),
])
def test_a_bad_argument_is_one_line_naming_it_and_exits_2(argv, words, capsys):
    with pytest.raises(SystemExit) as exited:
        main(['modules', *argv])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert words in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize('status,code,stream,words', [
    (OutcomeStatus.DONE, 0, 'out', 'enable monitor: done: monitor is active'),
    (OutcomeStatus.REFUSED, 1, 'err', 'unity-kernel modules: enable monitor: refused: why'),
    (OutcomeStatus.FAILED, 1, 'err', 'unity-kernel modules: enable monitor: failed: why'),
    (OutcomeStatus.SCHEDULED, 3, 'err',
     'unity-kernel modules: enable monitor: not finished after 60s: why'),
])
def test_the_outcome_sets_the_exit_status(monkeypatch, capsys, status, code, stream, words):
    message = 'monitor is active' if status is OutcomeStatus.DONE else 'why'

    def command(action, argument, kernel, timeout, wait):
        assert (action, argument, kernel, timeout, wait) == (
            ModuleCommand.ENABLE, 'monitor', '/unity_kernel', 10.0, 60.0)
        return CommandOutcome('k-1', action, argument, status, message)
    monkeypatch.setattr(api, 'command', command)
    assert main(['modules', 'enable', 'monitor']) == code
    assert words in getattr(capsys.readouterr(), stream)


def test_no_kernel_is_one_line_and_exits_2(monkeypatch, capsys):
    def unreachable(*args, **kwargs):
        raise api.KernelUnreachableError('/unity_kernel/modules/list is not available')
    monkeypatch.setattr(api, 'list_modules', unreachable)
    assert main(['modules', 'list']) == 2
    assert capsys.readouterr().err == \
        'unity-kernel modules: /unity_kernel/modules/list is not available\n'
