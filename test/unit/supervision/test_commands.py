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

"""Operator commands as the services take them: any text in, an outcome out."""

import json
import textwrap

import pytest
from test_scheduler import manifest, World

from unity_kernel_core.module_commands import CommandOutcome, ModuleCommand, OutcomeStatus
from unity_kernel_core.supervision.commands import Commands


@pytest.fixture
def desk(tmp_path):
    mods = tmp_path / 'mods'
    mods.mkdir()
    world = World(manifest('heartbeat'), manifest('monitor', depends=['heartbeat']),
                  manifest('haptic'), enabled=['heartbeat', 'monitor'])
    world.settle()
    yield world, Commands(world.scheduler, lambda: [mods]), mods
    world.close()


def module_folder(root, name, depends=()):
    d = root / name
    d.mkdir()
    (d / 'manifest.yaml').write_text(textwrap.dedent(f"""\
        name: {name}
        version: 1.0.0
        kind: inprocess
        entry: x.py:X
        depends: {json.dumps(list(depends))}
        """))
    return d


@pytest.mark.parametrize('command,arg,words', [
    ('frobnicate', 'x', "unknown module command 'frobnicate': expected one of restart, enable, "
                        'disable, load, unload'),
    ('restart', 'nope', "no module named 'nope'; known: haptic, heartbeat, monitor"),
    ('restart', '', 'restart needs a name of 1 to 4096 characters'),
    ('disable', 'x' * 5000, 'disable needs a name of 1 to 4096 characters'),
    ('load', 'relative/dir', "module 'relative/dir': give an absolute path to the module "
                             'directory or its manifest.yaml'),
    ('load', '/etc', "module '/etc': not under a configured module search path"),
    ('load', '~nosuchuser4242/x', 'Could not determine home directory.'),
    ('load', '/tmp/a\x00b', 'embedded null byte'),
])
def test_what_cannot_be_understood_is_refused_at_once(desk, command, arg, words):
    world, commands, _mods = desk
    outcome = commands.submit(command, arg)
    assert outcome.status is OutcomeStatus.REFUSED
    assert words in outcome.message
    assert commands.outcome(outcome.command_id) == outcome  # it has an id like any other


@pytest.mark.parametrize('command,arg,words', [
    ('unload', 'heartbeat', "module 'heartbeat': still needed by monitor; unload those first"),
    ('restart', 'haptic', "module 'haptic': is not enabled: restart acts on enabled modules"),
])
def test_what_the_scheduler_would_refuse_is_refused_at_once(desk, command, arg, words):
    world, commands, _mods = desk
    outcome = commands.submit(command, arg)
    assert outcome.status is OutcomeStatus.REFUSED and outcome.message.startswith(words)
    world.settle()
    assert world.state(arg) in ('active', 'available')  # nothing was done


def test_load_from_a_search_path_is_scheduled_then_done(desk):
    world, commands, mods = desk
    folder = module_folder(mods, 'late', depends=['heartbeat'])
    outcome = commands.submit('load', str(folder))
    assert outcome.status is OutcomeStatus.SCHEDULED
    assert outcome.message == f'load of late from {folder / "manifest.yaml"} scheduled'
    world.settle()
    assert commands.outcome(outcome.command_id).status is OutcomeStatus.DONE
    assert world.state('late') == 'active'


def test_a_manifest_that_does_not_validate_is_refused_naming_file_and_line(desk):
    world, commands, mods = desk
    folder = mods / 'broken'
    folder.mkdir()
    (folder / 'manifest.yaml').write_text('name: broken\nversion: [\n')
    outcome = commands.submit(ModuleCommand.LOAD, str(folder))
    assert outcome.status is OutcomeStatus.REFUSED
    assert f'{folder / "manifest.yaml"}:' in outcome.message and '\n' not in outcome.message


def test_the_services_answer_an_outcome_as_json_and_its_id_finds_it_again(desk):
    world, commands, _mods = desk
    ok, text = commands.answer('restart', 'heartbeat')
    first = CommandOutcome.from_dict(json.loads(text))
    assert ok and first.status is OutcomeStatus.SCHEDULED and first.target == 'heartbeat'
    world.settle()
    known, text = commands.answer_outcome(first.command_id)
    done = CommandOutcome.from_dict(json.loads(text))
    assert known and (done.status, done.message) == (OutcomeStatus.DONE, 'heartbeat is active')
    assert commands.answer('restart', 'nope')[0] is False
    unknown, text = commands.answer_outcome('no-such-id')
    assert not unknown and json.loads(text) == {
        'error': "no command 'no-such-id' (the kernel keeps the last 256 outcomes)"}
