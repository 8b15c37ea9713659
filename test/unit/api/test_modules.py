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

"""The modules API without a kernel: arguments checked, outcomes awaited, exit codes."""

from typing import List, Optional

import pytest

from unity_kernel_core.api import modules as api
from unity_kernel_core.module_commands import (CommandError, CommandOutcome, ModuleCommand,
                                               OutcomeStatus)


class FakeClock:
    """A clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def fake_client(answers: List[Optional[CommandOutcome]], sent: list):
    """
    Return a KernelClient whose kernel answers the send, then each poll, from ``answers``.

    The last answer is repeated for as long as it is asked for.
    """
    class Client:
        """The fake client."""

        def __init__(self, kernel, timeout, ros_args) -> None:
            sent.append(('kernel', kernel, timeout))

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            sent.append(('closed',))

        def send(self, command, argument):
            sent.append(('send', command, argument))
            return answers.pop(0) if len(answers) > 1 else answers[0]

        def outcome(self, command_id):
            sent.append(('outcome', command_id))
            return answers.pop(0) if len(answers) > 1 else answers[0]
    return Client


def outcome(status: OutcomeStatus, message: str = '') -> CommandOutcome:
    return CommandOutcome('k-7', ModuleCommand.RESTART, 'camera', status, message)


@pytest.mark.parametrize('text', ['1e400', '99999999999999999999999', 'nan', '-1', '0', 'x',
                                  'inf', '86400.5'])
def test_a_timeout_is_a_number_of_seconds_within_a_day(text):
    with pytest.raises(CommandError, match='expected seconds: a number more than 0 and at '
                                           'most 86400'):
        api.seconds(text)


def test_a_wait_may_be_zero():
    assert api.seconds('0', allow_zero=True) == 0.0 and api.seconds('2.5') == 2.5


@pytest.mark.parametrize('text,why', [
    ('bad name!', "must not contain characters other than alphanumerics, '_', or '/'"),
    ('/a//b', "must not contain repeated '/'"),
    ('/1kernel', 'must not have a token that starts with a number'),
    ('/unity_kernel/', "must not end with a '/'"),
])
def test_a_kernel_name_is_a_ros_node_name(text, why):
    with pytest.raises(CommandError) as refused:
        api.kernel_name(text)
    assert why in str(refused.value) and str(refused.value).startswith(
        'expected a ROS node name such as /unity_kernel')
    assert api.kernel_name('robot1/unity_kernel') == '/robot1/unity_kernel'


def test_an_argument_is_checked_and_a_path_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert api.command_argument(ModuleCommand.LOAD, 'mods/x') == str(tmp_path / 'mods' / 'x')
    assert api.command_argument(ModuleCommand.RESTART, 'camera') == 'camera'
    for bad in ('', ' ', 'x' * 4097, '\udcff'):
        with pytest.raises(CommandError, match='expected a module name'):
            api.command_argument(ModuleCommand.ENABLE, bad)
    with pytest.raises(CommandError, match='Could not determine home directory'):
        api.command_argument(ModuleCommand.LOAD, '~nosuchuser4242/x')


def test_a_command_waits_for_its_outcome():
    clock, sent = FakeClock(), []
    answers = [outcome(OutcomeStatus.SCHEDULED), outcome(OutcomeStatus.SCHEDULED, 'starting'),
               outcome(OutcomeStatus.DONE, 'camera is active')]
    result = api.command('restart', 'camera', '/robot/unity_kernel', 3.0,
                         client=fake_client(answers, sent), clock=clock, sleep=clock.sleep)
    assert result.status is OutcomeStatus.DONE and api.exit_code(result) == 0
    assert sent == [('kernel', '/robot/unity_kernel', 3.0),
                    ('send', ModuleCommand.RESTART, 'camera'),
                    ('outcome', 'k-7'), ('outcome', 'k-7'), ('closed',)]


def test_a_refusal_is_final_at_once_and_exits_1():
    clock, sent = FakeClock(), []
    result = api.command('unload', 'heartbeat',
                         client=fake_client([outcome(OutcomeStatus.REFUSED, 'needed')], sent),
                         clock=clock, sleep=clock.sleep)
    assert (result.message, api.exit_code(result)) == ('needed', 1)
    assert [s[0] for s in sent] == ['kernel', 'send', 'closed']
    assert api.exit_code(outcome(OutcomeStatus.FAILED)) == 1


def test_a_command_still_scheduled_when_the_wait_runs_out_exits_3():
    clock, sent = FakeClock(), []
    result = api.command('enable', 'monitor', wait=1.0,
                         client=fake_client([outcome(OutcomeStatus.SCHEDULED)], sent),
                         clock=clock, sleep=clock.sleep)
    assert result.status is OutcomeStatus.SCHEDULED and api.exit_code(result) == 3
    assert clock.now == pytest.approx(1.0)
    assert sent.count(('outcome', 'k-7')) == 5  # every POLL_S for a second


def test_an_outcome_the_kernel_forgot_is_said_so():
    clock, sent = FakeClock(), []
    result = api.command('restart', 'camera',
                         client=fake_client([outcome(OutcomeStatus.SCHEDULED), None], sent),
                         clock=clock, sleep=clock.sleep)
    assert result.status is OutcomeStatus.SCHEDULED
    assert 'the kernel no longer knows command k-7 (did it restart?)' in result.message
