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

"""docs/modules.md says what the code does: transitions, commands, exit codes, options."""

import pathlib
import re
from typing import Dict, List

from unity_kernel_core.api import modules as api
from unity_kernel_core.module_commands import ModuleCommand
from unity_kernel_core.supervision.machine import ModuleState, Transition, TRANSITIONS

DOC = (pathlib.Path(__file__).resolve().parents[3] / 'docs' / 'modules.md').read_text()


def table(first_header: str) -> List[List[str]]:
    """Return the rows of the doc's table whose first header cell is ``first_header``."""
    lines = DOC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f'| {first_header} |'))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith('|'):
            break
        rows.append([c.strip() for c in line.strip('|').split('|')])
    return rows


def states(cell: str) -> set:
    every = set(ModuleState)
    if cell == 'every state':
        return every
    but = re.fullmatch(r'every state but `(\w+)`', cell)
    if but:
        return every - {ModuleState(but.group(1))}
    return {ModuleState(s) for s in re.findall(r'`(\w+)`', cell)}


def test_the_transition_table_is_the_machines():
    documented: Dict[Transition, tuple] = {}
    for name, sources, target, _when in table('transition'):
        documented[Transition(name.strip('`'))] = (states(sources), ModuleState(target.strip('`')))
    assert documented == {t: (set(s), target) for t, (s, target) in TRANSITIONS.items()}


def test_every_command_and_exit_status_is_documented():
    assert [row[0].split()[0].strip('`') for row in table('command')] == \
        [c.value for c in ModuleCommand]
    for command in ModuleCommand:
        assert f'unity-kernel modules {command.value} ' in DOC
    assert [row[0] for row in table('exit')] == [
        str(api.EXIT_DONE), str(api.EXIT_REFUSED), str(api.EXIT_USAGE), str(api.EXIT_PENDING)]


def test_the_options_defaults_are_the_verbs():
    flat = ' '.join(DOC.split())
    assert f'default `{api.DEFAULT_KERNEL}`' in flat
    assert f'default {api.DEFAULT_TIMEOUT_S:g}, at most {api.MAX_SECONDS:g}' in flat
    assert f'default {api.DEFAULT_WAIT_S:g}, 0 to {api.MAX_SECONDS:g}' in flat
