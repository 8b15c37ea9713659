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

"""Exception types of the kernel; every error carries the context needed to act on it."""

from typing import Optional, Sequence


class UnityKernelError(Exception):
    """Base class of every error raised by UnityKernel."""


class ConfigIssue:
    """One problem found in a configuration: where it is and what was expected."""

    __slots__ = ('source', 'line', 'path', 'message')

    def __init__(self, source: str, line: Optional[int], path: str, message: str) -> None:
        self.source = source
        self.line = line
        self.path = path
        self.message = message

    def __str__(self) -> str:
        where = self.source if self.line is None else f'{self.source}:{self.line}'
        key = f' {self.path}:' if self.path else ''
        return f'{where}:{key} {self.message}'

    def __repr__(self) -> str:
        return f'ConfigIssue({str(self)!r})'


class ConfigError(UnityKernelError):
    """A configuration could not be read or did not validate."""

    what = 'configuration'

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        if len(self.issues) == 1:  # one problem, one line
            super().__init__(f'invalid {self.what}: {self.issues[0]}')
            return
        lines = '\n  '.join(str(i) for i in self.issues)
        super().__init__(f'invalid {self.what} ({len(self.issues)} problem(s)):\n  {lines}')


class PatternError(UnityKernelError):
    """A topic pattern is malformed."""


class BusError(UnityKernelError):
    """The event bus refused an operation."""


class BusStoppedError(BusError):
    """An event was published to a bus that is not running."""


class BusFullError(BusError):
    """A blocking tier stayed full for longer than its back-pressure timeout."""


class MessageTypeError(UnityKernelError):
    """A ROS message type name could not be resolved or a payload could not be decoded."""


class ManifestError(ConfigError):
    """A module manifest could not be read or did not validate."""

    what = 'module manifest'


class ModuleGraphError(UnityKernelError):
    """Module dependencies cannot be ordered: a cycle or a missing module."""

    def __init__(self, message: str, modules: Sequence[str]) -> None:
        super().__init__(message)
        self.modules = list(modules)


class ModuleError(UnityKernelError):
    """A module could not be loaded, started or driven through a transition."""

    def __init__(self, module: str, message: str) -> None:
        super().__init__(f'module {module!r}: {message}')
        self.module = module


class ModuleTransitionError(ModuleError):
    """A module's state machine was asked for a move its transition table lacks."""

    def __init__(self, module: str, transition: str, state: str) -> None:
        super().__init__(module, f'no transition {transition!r} from state {state!r}')
        self.transition = transition
        self.state = state


class AuditError(UnityKernelError):
    """The audit trail could not do what was asked (Redis, journal, replay, export)."""


class ConfigEditError(UnityKernelError):
    """
    An edit of a config file from the live view cannot be made.

    ``conflict``: the request is fine but the files are not as it expects (one changed on
    disk since it was read, or there is nothing to undo); otherwise the request is wrong.
    """

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


class SecretError(UnityKernelError):
    """A configured secret (password, token, API key) could not be read."""


class StateFileError(UnityKernelError):
    """
    A file the kernel keeps in its state cannot be used safely.

    A symlink, a directory or device where a file belongs, a file owned by another user or
    writable by group or others, or one larger than it can be.
    """
