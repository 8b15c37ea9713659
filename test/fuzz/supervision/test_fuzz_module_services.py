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
Fuzz: any request to the module services is an outcome, and the supervision loop goes on.

The services (``<kernel>/modules/<command>`` and ``<kernel>/modules/outcome``) hand their
``load_namespace`` string to ``Commands.answer`` / ``answer_outcome``: whatever it holds, the
answer is (bool, JSON of an outcome or of an error), never an exception, and the scheduler's
loop that carries the accepted commands out never raises either.
"""

import json
import pathlib
from typing import Dict, Optional

from hypothesis import example, given, strategies as st

from unity_kernel_core.module_commands import CommandOutcome, ModuleCommand
from unity_kernel_core.supervision.commands import Commands
from unity_kernel_core.supervision.machine import Failure
from unity_kernel_core.supervision.manifest import Manifest, parse_manifest
from unity_kernel_core.supervision.scheduler import Scheduler

NAMES = ['heartbeat', 'monitor', 'haptic']
COMMANDS = [c.value for c in ModuleCommand]
texts = st.one_of(st.sampled_from(NAMES + ['', ' ', '/', '~', '..']), st.text(max_size=60),
                  st.text(max_size=5000).map(lambda t: '/' + t))


def _manifest(name: str, depends=()) -> Manifest:
    text = (f'name: {name}\nversion: 1.0.0\nkind: inprocess\nentry: x.py:X\n'
            f'depends: {list(depends)}\n')
    return parse_manifest(text, f'{name}/manifest.yaml', pathlib.Path('/nonexistent'))


class _Runner:
    """A module that does whatever it is told at once."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest

    def load(self) -> None:
        pass

    start = configure = activate = deactivate = stop = kill = load

    def poll(self) -> Optional[Failure]:
        return None

    def check(self, expected: str) -> Optional[Failure]:
        return None

    def describe(self) -> Dict[str, object]:
        return {}

    def fresh(self) -> '_Runner':
        return _Runner(self.manifest)


def _desk(search_path: pathlib.Path):
    scheduler = Scheduler(_Runner)
    scheduler.set_manifests({'heartbeat': _manifest('heartbeat'),
                             'monitor': _manifest('monitor', ['heartbeat']),
                             'haptic': _manifest('haptic')}, ['heartbeat', 'monitor'])
    scheduler.running = True
    return scheduler, Commands(scheduler, lambda: [search_path])


def _is_outcome(ok: bool, text: str) -> None:
    outcome = CommandOutcome.from_dict(json.loads(text))
    assert ok == outcome.succeeded
    assert len(outcome.message) < 20_000 and '\n' not in outcome.message


def test_any_command_request_is_an_outcome_and_the_loop_goes_on(tmp_path):
    scheduler, commands = _desk(tmp_path)
    try:
        @given(st.one_of(st.sampled_from(COMMANDS), st.text(max_size=20)), texts)
        @example('load', '~nosuchuser4242/x')
        @example('load', '/tmp/a\x00b')
        @example('restart', 'haptic')
        @example('unload', 'heartbeat')
        def check(command: str, payload: str) -> None:
            ok, text = commands.answer(command, payload)
            _is_outcome(ok, text)
            scheduler.run_once(max_wait=0.0)  # carry out what was accepted: never raises
        check()
    finally:
        scheduler.close()


def test_any_outcome_request_is_an_answer(tmp_path):
    scheduler, commands = _desk(tmp_path)
    known = commands.submit('restart', 'heartbeat').command_id
    try:
        @given(st.one_of(st.just(known), texts))
        def check(payload: str) -> None:
            ok, text = commands.answer_outcome(payload)
            if ok:
                _is_outcome(True, text) if payload.strip() != known else \
                    CommandOutcome.from_dict(json.loads(text))
            else:
                assert json.loads(text)['error'].startswith('no command ')
        check()
    finally:
        scheduler.close()
