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
Fuzz: any argument vector of ``unity-kernel modules`` ends in an exit status, never a traceback.

The kernel is a fake that refuses every command (no ROS is started): what is fuzzed is the
argument parsing and checking, up to the request sent and the outcome printed. A usage error
is one line on stderr and exit 2.
"""

import contextlib
import io

from hypothesis import example, given, strategies as st
import pytest

from unity_kernel_core.api import modules as api
from unity_kernel_core.cli.main import main
from unity_kernel_core.module_commands import CommandOutcome, OutcomeStatus

TOKENS = ['list', '--json', 'restart', 'enable', 'disable', 'load', 'unload', '--timeout',
          '--wait', '--kernel', '--help', '-h', 'camera', '1e400', '99999999999999999999999',
          'bad name!', '/unity_kernel', '0', '-1', 'nan', '~', '/', '--']
# what the OS can hand a process: no NUL, and undecodable bytes as lone surrogates
argument = st.one_of(st.sampled_from(TOKENS),
                     st.text(st.characters(blacklist_characters='\x00',
                                           blacklist_categories=('Cs',)), max_size=40),
                     st.binary(max_size=20).map(
                         lambda b: b.replace(b'\x00', b'').decode('utf-8', 'surrogateescape')))


class _RefusingKernel:
    """A kernel that lists one module and refuses every command."""

    def __init__(self, kernel, timeout, ros_args) -> None:
        pass

    def __enter__(self) -> '_RefusingKernel':
        return self

    def __exit__(self, *exc) -> None:
        pass

    def list_modules(self) -> list:
        return [{'name': 'camera', 'kind': 'node', 'version': '1', 'state': 'active',
                 'restarts': 0, 'message': ''}]

    def send(self, command, argument) -> CommandOutcome:
        argument.encode('utf-8')  # what rclpy needs of a string field
        return CommandOutcome('k-1', command, argument, OutcomeStatus.REFUSED, 'no')

    def outcome(self, command_id):
        return None


@pytest.fixture(autouse=True)
def _no_ros(monkeypatch):
    monkeypatch.setattr(api, 'KernelClient', _RefusingKernel)


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(['modules', *argv])
        except SystemExit as exc:  # argparse: a usage error, or --help
            code = exc.code
    return code, out.getvalue(), err.getvalue()


@given(st.lists(argument, max_size=6))
@example(['--timeout', '1e400', 'list'])
@example(['--timeout', '99999999999999999999999', 'list'])
@example(['--kernel', 'bad name!', 'list'])
@example(['load', '~nosuchuser4242/x'])
@example(['restart', '\udcff'])
def test_any_argument_vector_ends_in_an_exit_status(argv):
    code, out, err = _run(argv)
    assert code in (0, 1, 2, 3), (code, err)
    assert 'Traceback' not in err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
