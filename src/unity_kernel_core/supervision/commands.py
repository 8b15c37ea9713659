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
Operator commands as they come in: checked, given an id, handed to the scheduler's loop.

ROS-free. What the module services, the live view and the ``modules`` verb (through the
services) reach: any text in, an outcome out, never an exception. A command that cannot be
understood (unknown command or module, an argument too long, a path outside the search
paths, a manifest that does not validate) or that the scheduler would refuse as things stand
(``Scheduler.check``) is refused at once; the others are queued for the loop, which checks
again and refuses them or carries them out (``Scheduler.command``), and their outcome is
asked for by id (``outcome``).
"""

import json
import logging
import pathlib
from typing import Any, Callable, List, Optional, Tuple

from unity_kernel_core.errors import ConfigError, ModuleError
from unity_kernel_core.module_commands import (CommandError, CommandOutcome,
                                               MAX_ARGUMENT_CHARS, ModuleCommand,
                                               OutcomeStatus)
from unity_kernel_core.supervision.manifest import load_manifest, Manifest, MANIFEST_NAME
from unity_kernel_core.supervision.outcomes import KEEP
from unity_kernel_core.supervision.scheduler import Scheduler

_log = logging.getLogger('unity_kernel.supervision.commands')


class Commands:
    """
    Take operator commands for ``scheduler`` (any thread).

    ``search_paths()`` returns the folders a module may be loaded from; ``deploy`` applies the
    deployment's overrides to a manifest read from there (and may refuse it, ConfigError).
    """

    def __init__(self, scheduler: Scheduler, search_paths: Callable[[], List[pathlib.Path]],
                 deploy: Callable[[Manifest], Manifest] = lambda m: m) -> None:
        self._scheduler = scheduler
        self._search_paths = search_paths
        self._deploy = deploy

    def submit(self, command: 'ModuleCommand | str', arg: str) -> CommandOutcome:
        """
        Take an operator command: ``load`` PATH, the others a module NAME.

        Return its outcome: ``refused`` at once when it cannot be understood, else
        ``scheduled`` under an id that ``outcome`` answers for (``done``, ``refused`` or
        ``failed`` once the loop knows).
        """
        book = self._scheduler.outcomes
        try:
            command = ModuleCommand.parse(command)
        except CommandError as exc:
            return book.take(ModuleCommand.RESTART, '', OutcomeStatus.REFUSED, str(exc))
        target = str(arg).strip()
        if len(target) > MAX_ARGUMENT_CHARS or not target:
            return book.take(command, target[:80], OutcomeStatus.REFUSED,
                             f'{command.value} needs a {command.argument} of 1 to '
                             f'{MAX_ARGUMENT_CHARS} characters')
        if command is ModuleCommand.LOAD:
            try:
                manifest = self._allowed_manifest(target)
            except (ConfigError, ModuleError, OSError, ValueError, RuntimeError) as exc:
                # a ManifestError is a ConfigError; a path the OS refuses an OSError or a
                # ValueError (a NUL); ~user of no such user a RuntimeError
                return book.take(command, target, OutcomeStatus.REFUSED,
                                 ' '.join(str(exc).split()))
            try:
                self._scheduler.check(command, manifest)
            except ModuleError as exc:
                return book.take(command, manifest.name, OutcomeStatus.REFUSED, str(exc))
            outcome = book.take(command, manifest.name,
                                message=f'load of {manifest.name} from {manifest.source} '
                                        'scheduled')
            self._queue(command, manifest, outcome.command_id)
            return outcome
        with self._scheduler.lock:
            known = sorted(self._scheduler.records)
        if target not in known:
            return book.take(command, target, OutcomeStatus.REFUSED,
                             f'no module named {target!r}; known: ' + ', '.join(known))
        try:
            self._scheduler.check(command, target)
        except ModuleError as exc:  # refused now; the loop would refuse it too
            return book.take(command, target, OutcomeStatus.REFUSED, str(exc))
        outcome = book.take(command, target)
        self._queue(command, target, outcome.command_id)
        return outcome

    def outcome(self, outcome_id: str, wait_s: float = 0.0) -> Optional[CommandOutcome]:
        """Return the outcome of a command, waiting up to ``wait_s`` for it to finish; or None."""
        book = self._scheduler.outcomes
        return book.wait(outcome_id, wait_s) if wait_s > 0 else book.get(outcome_id)

    # -- the services' answers (text in, text out) -----------------------------------------

    def answer(self, command: 'ModuleCommand | str', payload: str) -> Tuple[bool, str]:
        """Answer a command service: (not refused nor failed, the outcome as JSON)."""
        outcome = self.submit(command, payload)
        return outcome.succeeded, json.dumps(outcome.as_dict())

    def answer_outcome(self, payload: str) -> Tuple[bool, str]:
        """Answer the outcome service: (known, the outcome as JSON, or why it is not known)."""
        outcome_id = str(payload).strip()
        outcome = self.outcome(outcome_id) if len(outcome_id) <= MAX_ARGUMENT_CHARS else None
        if outcome is None:
            return False, json.dumps({'error': f'no command {outcome_id[:80]!r} (the kernel '
                                               f'keeps the last {KEEP} outcomes)'})
        return True, json.dumps(outcome.as_dict())

    # -- internals -------------------------------------------------------------------------

    def _queue(self, command: ModuleCommand, target: Any, outcome_id: str) -> None:
        scheduler = self._scheduler

        def run() -> Any:
            try:
                return scheduler.command(command, target, outcome_id)
            except ModuleError as exc:  # its outcome says so
                _log.error(f'{command.value} refused: {exc}')
                return None
        scheduler.call(run)

    def _allowed_manifest(self, raw: str) -> Manifest:
        path = pathlib.Path(raw).expanduser()
        if not path.is_absolute():
            raise ModuleError(raw, 'give an absolute path to the module directory or its '
                                   f'{MANIFEST_NAME}')
        path = path.resolve()
        roots = self._search_paths()
        if not any(path == r or r in path.parents for r in roots):
            raise ModuleError(raw, 'not under a configured module search path ('
                                   f'{", ".join(map(str, roots)) or "none configured"}); '
                                   'modules are only loaded from there')
        return self._deploy(load_manifest(path))
