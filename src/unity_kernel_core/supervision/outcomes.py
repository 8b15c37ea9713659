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
The outcomes of operator commands, by id: written by the scheduler's loop, read by anyone.

Pure Python, thread-safe. A command gets an id when it is taken (``take``) and stays
``scheduled`` until the loop settles it (``done``, ``refused`` or ``failed``, once: a
finished outcome never changes). Readers ask by id, at once (``get``) or waiting up to a
deadline (``wait``). Only the last ``KEEP`` outcomes are kept; an id carries a prefix drawn
at start, so an id of an earlier kernel is not taken for one of this kernel.
"""

import collections
import secrets
import threading
import time
from typing import Optional

from unity_kernel_core.module_commands import CommandOutcome, ModuleCommand, OutcomeStatus

KEEP = 256
"""How many outcomes are kept (the oldest is forgotten first)."""


class OutcomeBook:
    """The outcomes of the last ``keep`` commands."""

    def __init__(self, keep: int = KEEP, prefix: Optional[str] = None) -> None:
        self._keep = keep
        self._prefix = prefix if prefix is not None else secrets.token_hex(3)
        self._count = 0
        self._outcomes: 'collections.OrderedDict[str, CommandOutcome]' = \
            collections.OrderedDict()
        self._changed = threading.Condition()

    def take(self, command: ModuleCommand, target: str,
             status: OutcomeStatus = OutcomeStatus.SCHEDULED,
             message: str = '') -> CommandOutcome:
        """Take a command: return its outcome (``scheduled`` unless told otherwise)."""
        with self._changed:
            self._count += 1
            outcome = CommandOutcome(f'{self._prefix}-{self._count}', command, target, status,
                                     message or f'{command.value} of {target} scheduled')
            self._outcomes[outcome.command_id] = outcome
            while len(self._outcomes) > self._keep:
                self._outcomes.popitem(last=False)
            self._changed.notify_all()
            return outcome

    def settle(self, outcome_id: Optional[str], status: OutcomeStatus, message: str) -> None:
        """Record a command's final (or, with ``scheduled``, its latest) word."""
        if outcome_id is None:
            return
        with self._changed:
            outcome = self._outcomes.get(outcome_id)
            if outcome is None or outcome.finished:
                return
            if outcome.status is status and outcome.message == message:
                return
            self._outcomes[outcome_id] = CommandOutcome(outcome.command_id, outcome.command,
                                                        outcome.target, status, message)
            self._changed.notify_all()

    def get(self, outcome_id: str) -> Optional[CommandOutcome]:
        """Return the outcome of command ``outcome_id``, or None when it is not known."""
        with self._changed:
            return self._outcomes.get(outcome_id)

    def wait(self, outcome_id: str, timeout: float) -> Optional[CommandOutcome]:
        """Return the outcome once it is final, or as it stands after ``timeout`` seconds."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._changed:
            while True:
                outcome = self._outcomes.get(outcome_id)
                left = deadline - time.monotonic()
                if outcome is None or outcome.finished or left <= 0:
                    return outcome
                self._changed.wait(left)
