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

"""The outcome book: ids, final outcomes that never change, bounded memory, waiting."""

import threading
import time

from unity_kernel_core.module_commands import ModuleCommand, OutcomeStatus
from unity_kernel_core.supervision.outcomes import OutcomeBook


def test_an_outcome_is_scheduled_until_settled_and_final_after():
    book = OutcomeBook(prefix='k1')
    outcome = book.take(ModuleCommand.RESTART, 'camera')
    assert (outcome.command_id, outcome.status, outcome.message) == (
        'k1-1', OutcomeStatus.SCHEDULED, 'restart of camera scheduled')
    book.settle(outcome.command_id, OutcomeStatus.SCHEDULED, 'camera is starting')
    assert book.get('k1-1').message == 'camera is starting'
    book.settle('k1-1', OutcomeStatus.DONE, 'camera is active')
    book.settle('k1-1', OutcomeStatus.FAILED, 'too late')
    assert (book.get('k1-1').status, book.get('k1-1').message) == (OutcomeStatus.DONE,
                                                                   'camera is active')
    book.settle(None, OutcomeStatus.DONE, 'nobody asks')  # a command without an id


def test_only_the_last_outcomes_are_kept_and_ids_differ_between_kernels():
    book = OutcomeBook(keep=3)
    ids = [book.take(ModuleCommand.ENABLE, f'm{i}').command_id for i in range(5)]
    assert [book.get(i) is not None for i in ids] == [False, False, True, True, True]
    assert OutcomeBook().take(ModuleCommand.ENABLE, 'm0').command_id != ids[0]


def test_wait_returns_when_the_outcome_is_final_or_at_its_deadline():
    book = OutcomeBook()
    command_id = book.take(ModuleCommand.DISABLE, 'camera').command_id
    started = time.monotonic()
    assert book.wait(command_id, 0.2).status is OutcomeStatus.SCHEDULED
    assert time.monotonic() - started >= 0.2
    threading.Timer(0.1, lambda: book.settle(command_id, OutcomeStatus.DONE, 'stopped')).start()
    assert book.wait(command_id, 10.0).status is OutcomeStatus.DONE
    assert book.wait('unknown', 10.0) is None
