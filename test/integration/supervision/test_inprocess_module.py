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

"""In-process modules on a real bus: decorators, hooks, error rate, load errors."""

import textwrap

import pytest
import support

from unity_kernel_core.bus.event_bus import EventBus
from unity_kernel_core.bus.events import Tier
from unity_kernel_core.errors import ModuleError
from unity_kernel_core.supervision.inprocess import InProcessRunner
from unity_kernel_core.supervision.machine import FailureKind
from unity_kernel_core.supervision.manifest import parse_manifest

SOURCE = """
from unity_kernel_core.supervision.module_api import Module, on_event, periodic


class Probe(Module):
    def on_configure(self):
        self.seen = []
        self.ticks = 0
        self.fail = self.context.parameters.get('fail', False)

    @on_event('/safety/**', tier='CRITICAL')
    def on_safety(self, event):
        if self.fail:
            raise RuntimeError('boom')
        self.seen.append(event.topic)

    @periodic(0.05)
    def tick(self):
        self.ticks += 1
        self.context.publish('/out/tick', 'std_msgs/msg/String', None, tier='LOW')
"""


def make(tmp_path, source=SOURCE, **params):
    (tmp_path / 'probe.py').write_text(source)
    manifest = parse_manifest(textwrap.dedent(f"""\
        name: probe
        version: 0.1.0
        kind: inprocess
        entry: probe.py:Probe
        parameters: {params or '{}'}
        health: {{max_error_rate: 0.5}}
        """), str(tmp_path / 'manifest.yaml'), tmp_path)
    return manifest


@pytest.fixture
def bus():
    b = EventBus()
    b.start()
    yield b
    b.stop(drain=True, timeout=5)


def test_handlers_and_periodic_run_only_while_active(tmp_path, bus):
    runner = InProcessRunner(make(tmp_path), bus, tmp_path)
    ticks = []
    bus.subscribe('/out/**', ticks.append)
    runner.configure()
    bus.publish('/safety/stop', 'std_msgs/msg/Empty', None, tier=Tier.CRITICAL)
    bus.wait_idle(5)
    runner.activate()
    bus.publish('/safety/stop', 'std_msgs/msg/Empty', None, tier=Tier.CRITICAL)
    bus.publish('/safety/other', 'std_msgs/msg/Empty', None, tier=Tier.NORMAL)
    support.wait_for(lambda: len(ticks) >= 3, 5, message='periodic publishes')
    bus.wait_idle(5)
    assert runner.instance.seen == ['/safety/stop']
    assert runner.check('active') is None
    runner.deactivate()
    bus.wait_idle(5)
    before = len(ticks)
    bus.publish('/safety/stop', 'std_msgs/msg/Empty', None, tier=Tier.CRITICAL)
    bus.wait_idle(5)
    assert runner.instance.seen == ['/safety/stop']
    assert len(ticks) <= before + 1
    runner.cleanup()
    assert runner.instance is None


def test_failing_handlers_make_the_module_unhealthy(tmp_path, bus):
    runner = InProcessRunner(make(tmp_path, fail=True), bus, tmp_path)
    runner.configure()
    runner.activate()
    for _ in range(3):
        bus.publish('/safety/stop', 'std_msgs/msg/Empty', None, tier=Tier.CRITICAL)
    bus.wait_idle(10)
    problem = runner.check('active')
    assert problem is not None and problem.kind is FailureKind.UNHEALTHY
    assert 'handler error rate' in problem.detail and 'boom' in problem.detail
    assert runner.describe()['handler_errors'] >= 3
    runner.stop()


@pytest.mark.parametrize('source,expected', [
    ('def broken(:\n', 'SyntaxError'),
    ('raise ImportError("no such driver")\n', 'ImportError: no such driver'),
    ('class Probe:\n    pass\n', "no class 'Probe' deriving from"),
    ('x = 1\n', "no class 'Probe' deriving from"),
])
def test_module_that_cannot_load_raises_a_clear_error(tmp_path, bus, source, expected):
    runner = InProcessRunner(make(tmp_path, source=source), bus, tmp_path)
    with pytest.raises(ModuleError) as info:
        runner.configure()
    assert "module 'probe'" in str(info.value)
    assert expected in str(info.value)


def test_hook_that_raises_is_reported_with_the_hook(tmp_path, bus):
    source = SOURCE.replace("self.fail = self.context.parameters.get('fail', False)",
                            "raise ValueError('bad parameter')")
    runner = InProcessRunner(make(tmp_path, source=source), bus, tmp_path)
    with pytest.raises(ModuleError, match='on_configure raised ValueError: bad parameter'):
        runner.configure()


EXITING = SOURCE.replace("        if self.fail:\n            raise RuntimeError('boom')",
                         '        if self.fail:\n            raise SystemExit(3)')


@pytest.mark.parametrize('where', ['import', 'constructor', 'on_configure'])
def test_a_module_calling_sys_exit_while_loading_fails_and_ends_nothing(tmp_path, bus, where):
    """Regression: SystemExit passed every `except Exception` and ended the supervisor's loop."""
    source = {'import': 'import sys\nsys.exit(3)\n' + SOURCE,
              'constructor': SOURCE.replace('class Probe(Module):\n',
                                            'class Probe(Module):\n    def __init__(self, c):\n'
                                            '        raise SystemExit(3)\n\n'),
              'on_configure': SOURCE.replace('        self.seen = []\n',
                                             '        raise SystemExit(3)\n')}[where]
    runner = InProcessRunner(make(tmp_path, source=source), bus, tmp_path)
    with pytest.raises(ModuleError, match='SystemExit: 3|raised SystemExit: 3'):
        runner.configure()


def test_a_handler_calling_sys_exit_is_counted_and_the_bus_worker_goes_on(tmp_path, bus):
    """Regression: a handler's SystemExit ended the bus worker of its tier for every module."""
    runner = InProcessRunner(make(tmp_path, source=EXITING, fail=True), bus, tmp_path)
    others = []
    bus.subscribe('/safety/**', lambda event: others.append(event.topic), tiers=[Tier.CRITICAL])
    runner.configure()
    runner.activate()
    for i in range(3):
        bus.publish(f'/safety/{i}', 'std_msgs/msg/Empty', None, tier=Tier.CRITICAL)
    bus.wait_idle(10)
    assert sorted(others) == ['/safety/0', '/safety/1', '/safety/2']
    assert runner.describe()['handler_errors'] >= 3 and 'SystemExit' in runner.last_error
    bus.publish('/safety/after', 'std_msgs/msg/Empty', None, tier=Tier.CRITICAL)
    bus.wait_idle(10)
    assert '/safety/after' in others  # the tier's worker still runs
    runner.stop()
