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
Operator commands on modules and their outcomes: one vocabulary for every door.

The supervisor carries the commands out; its ROS services, the ``unity-kernel modules``
verb and the live view (dashboard and Foxglove actions) name them with
:class:`ModuleCommand` and report them with :class:`CommandOutcome`. Pure data: no ROS,
no I/O, so that every layer may use it.
"""

import dataclasses
import enum
from typing import Any, Dict

from unity_kernel_core.errors import UnityKernelError

LIST_SERVICE = 'list'
"""The module service that lists the modules (``<kernel>/modules/list``)."""
OUTCOME_SERVICE = 'outcome'
"""The module service that reports a command's outcome by its id."""
MAX_ARGUMENT_CHARS = 4096
"""A command's argument (a module name or a path) longer than this is refused."""


class CommandError(UnityKernelError):
    """A module command or its outcome could not be understood."""


class ModuleCommand(str, enum.Enum):
    """What an operator can ask of the supervisor about one module."""

    RESTART = 'restart'
    ENABLE = 'enable'
    DISABLE = 'disable'
    LOAD = 'load'
    UNLOAD = 'unload'

    @property
    def argument(self) -> str:
        """Return what the command names: ``path`` (load) or ``name`` (the others)."""
        return 'path' if self is ModuleCommand.LOAD else 'name'

    @property
    def summary(self) -> str:
        """Return one line saying what the command does (the verb's help)."""
        return _SUMMARIES[self]

    @classmethod
    def parse(cls, text: str) -> 'ModuleCommand':
        """Return the command called ``text``; raise CommandError naming the valid ones."""
        try:
            return cls(text)
        except ValueError:
            raise CommandError(f'unknown module command {str(text)[:40]!r}: expected one of '
                               f'{", ".join(c.value for c in cls)}') from None


_SUMMARIES = {
    ModuleCommand.RESTART: 'stop an enabled module and start it afresh',
    ModuleCommand.ENABLE: 'bring up a module that is not enabled',
    ModuleCommand.DISABLE: 'take an enabled module down; it stays listed',
    ModuleCommand.LOAD: 'add a module from a folder under a search path and enable it',
    ModuleCommand.UNLOAD: 'take a module down (as disable)',
}


class OutcomeStatus(str, enum.Enum):
    """Where a command stands."""

    SCHEDULED = 'scheduled'  # accepted; the supervisor is carrying it out
    DONE = 'done'            # carried out: the module is where the command puts it
    REFUSED = 'refused'      # not carried out, and nothing changed (``message`` says why)
    FAILED = 'failed'        # carried out, but the module did not get there (why)

    @property
    def finished(self) -> bool:
        """Return True when the status is final."""
        return self is not OutcomeStatus.SCHEDULED


@dataclasses.dataclass(frozen=True)
class CommandOutcome:
    """One command's outcome: its id (to ask again later), what it was and where it stands."""

    command_id: str
    """Its id (``id`` in JSON): what ``<kernel>/modules/outcome`` is asked with."""
    command: ModuleCommand
    target: str
    status: OutcomeStatus
    message: str

    @property
    def finished(self) -> bool:
        """Return True when the outcome is final."""
        return self.status.finished

    @property
    def succeeded(self) -> bool:
        """Return True unless the command was refused or failed."""
        return self.status in (OutcomeStatus.SCHEDULED, OutcomeStatus.DONE)

    def as_dict(self) -> Dict[str, str]:
        """Return the outcome as the JSON object the services answer with."""
        return {'id': self.command_id, 'command': self.command.value, 'target': self.target,
                'status': self.status.value, 'message': self.message}

    @classmethod
    def from_dict(cls, data: Any) -> 'CommandOutcome':
        """Return the outcome a service answered with; raise CommandError if it is not one."""
        if not isinstance(data, dict):
            raise CommandError('an outcome is a JSON object')
        fields = ('id', 'command', 'target', 'status', 'message')
        missing = [f for f in fields if not isinstance(data.get(f), str)]
        if missing:
            raise CommandError(f'an outcome needs the strings {", ".join(missing)}')
        try:
            status = OutcomeStatus(data['status'])
        except ValueError:
            raise CommandError(f'unknown outcome status {data["status"][:40]!r}') from None
        return cls(data['id'], ModuleCommand.parse(data['command']), data['target'], status,
                   data['message'])
