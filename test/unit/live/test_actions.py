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

"""A live-view server's module commands: outcomes read back by id, only its own, bounded."""

import threading

from live_support import StandInSupervisor

from unity_kernel_core.live.actions import MAX_WAIT_S, ModuleActions
from unity_kernel_core.module_commands import OutcomeStatus


def test_a_command_is_answered_with_its_outcome_and_read_back_by_its_id():
    supervisor = StandInSupervisor()
    actions = ModuleActions(lambda: supervisor)
    taken = actions.submit('restart', 'camera')
    assert taken == {'success': True, 'id': taken['id'], 'command': 'restart',
                     'target': 'camera', 'status': 'scheduled',
                     'message': 'restart of camera scheduled'}
    assert actions.outcome(taken['id'])['status'] == 'scheduled'
    later = threading.Timer(0.2, supervisor.settle,
                            (taken['id'], OutcomeStatus.DONE, 'camera is active'))
    later.start()
    final = actions.outcome(taken['id'], wait_s=3.0)  # waits for the final word
    later.join()
    assert (final['success'], final['status'], final['message']) == (
        True, 'done', 'camera is active')


def test_a_refused_command_says_why_and_is_not_a_success():
    supervisor = StandInSupervisor(decide=lambda command, arg: (
        OutcomeStatus.REFUSED, f"module '{arg}': is not enabled"))
    actions = ModuleActions(lambda: supervisor)
    refused = actions.submit('restart', 'haptic')
    assert (refused['success'], refused['status'], refused['message']) == (
        False, 'refused', "module 'haptic': is not enabled")
    assert actions.outcome(refused['id']) == refused


def test_only_the_servers_own_commands_are_answered_and_only_the_last_ones():
    supervisor = StandInSupervisor()
    dashboard = ModuleActions(lambda: supervisor, keep=2)
    foxglove = ModuleActions(lambda: supervisor)
    others = supervisor.submit('load', '/home/someone/secret/module')  # the CLI's, say
    assert supervisor.outcome(others.command_id) is not None
    assert dashboard.outcome(others.command_id) is None
    assert 'from this server (it answers for the last 2 it took)' in \
        dashboard.unknown(others.command_id)
    mine = [dashboard.submit('restart', 'camera')['id'] for _ in range(3)]
    assert foxglove.outcome(mine[-1]) is None
    assert dashboard.outcome(mine[0]) is None  # forgotten: only the last 2
    assert dashboard.outcome(mine[2]) is not None


def test_a_wait_is_bounded_and_nothing_is_answered_without_a_supervisor():
    waits = []

    class Recording(StandInSupervisor):

        def outcome(self, outcome_id, wait_s=0.0):
            waits.append(wait_s)
            return self.book.get(outcome_id)
    supervisor = Recording()
    actions = ModuleActions(lambda: supervisor)
    taken = actions.submit('enable', 'camera')['id']
    for asked in (1e9, float('inf'), float('nan'), -4.0, 0.5):
        actions.outcome(taken, asked)
    assert waits == [MAX_WAIT_S, 0.0, 0.0, 0.0, 0.5]
    gone = ModuleActions(lambda: None)
    assert gone.submit('restart', 'camera') is None
    assert gone.outcome(taken) is None
