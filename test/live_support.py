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

"""Start ``unity-kernel up`` with the live view on free ports; Debian's Chromium for the pages."""

import contextlib
import dataclasses
import os
import pathlib
import re
import shutil
import sys
from typing import Any, Callable, Dict, Iterator, List, Optional
import urllib.request

import support

from unity_kernel_core.module_commands import CommandOutcome, ModuleCommand, OutcomeStatus
from unity_kernel_core.supervision.outcomes import OutcomeBook

CLI = [sys.executable, '-m', 'unity_kernel_core.cli.main']
NODES = support.ROOT / 'test' / 'nodes'
CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                 '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync']
SHOTS_ENV = 'UNITY_KERNEL_SCREENSHOTS'
"""A folder for the screenshots docs/live_view.md shows (``docs/img``; unset: the test's tmp)."""


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Yield Playwright's browser on the system's Chromium (never a downloaded one)."""
    if shutil.which('chromium') is None and not os.path.exists(CHROMIUM):
        raise RuntimeError('chromium is not installed: run scripts/install-system-deps.sh')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def screenshot(page_or_locator: Any, tmp_path: pathlib.Path, name: str, **options: Any) -> None:
    """Save a screenshot as ``name`` in ``$UNITY_KERNEL_SCREENSHOTS`` (docs/img), else tmp."""
    folder = pathlib.Path(os.environ.get(SHOTS_ENV) or tmp_path)
    page_or_locator.screenshot(path=str(folder / name), **options)


@dataclasses.dataclass
class LiveKernel:
    """A running ``unity-kernel up`` and where its live view listens."""

    process: support.ManagedProcess
    foxglove_url: str
    dashboard_url: str
    config: pathlib.Path
    env: Dict[str, str]
    token: Optional[str] = None   # the token of this start, from the status line (if shown)

    @property
    def owner_url(self) -> str:
        """Return the Foxglove URL with this start's token (what the status line prints)."""
        assert self.token, 'no token in the status line (a configured token is not shown)'
        return f'{self.foxglove_url}/?token={self.token}'

    def state(self, token: Optional[str] = None) -> dict:
        """Return the dashboard's JSON snapshot."""
        import json
        request = urllib.request.Request(self.dashboard_url + 'api/state')
        if token:
            request.add_header('Authorization', f'Bearer {token}')
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def module(self, name: str) -> dict:
        """Return one module's entry from the snapshot."""
        return next(m for m in self.state()['modules'] if m['name'] == name)


class StandInSupervisor:
    """
    The supervisor as the live view uses it, without a kernel: commands get outcome ids.

    ``decide(command, arg)`` returns the final (status, message) of each command at once, or
    None to leave it ``scheduled`` (``settle`` finishes it later); ``calls`` records them.
    """

    def __init__(self, modules: Optional[List[Dict[str, Any]]] = None,
                 decide: Optional[Callable[[str, str], Any]] = None) -> None:
        self.modules = modules if modules is not None else [
            {'name': 'camera', 'state': 'active', 'enabled': True}]
        self.decide = decide or (lambda command, arg: None)
        self.calls: List[tuple] = []
        self.book = OutcomeBook()

    def list_modules(self) -> List[Dict[str, Any]]:
        return [dict(m) for m in self.modules]

    def submit(self, command: str, arg: str) -> CommandOutcome:
        self.calls.append((command, arg))
        final = self.decide(command, arg)
        if final is None:
            return self.book.take(ModuleCommand(command), arg)
        return self.book.take(ModuleCommand(command), arg, *final)

    def outcome(self, outcome_id: str, wait_s: float = 0.0) -> Optional[CommandOutcome]:
        return self.book.wait(outcome_id, wait_s) if wait_s > 0 else self.book.get(outcome_id)

    def settle(self, outcome_id: str, status: OutcomeStatus, message: str) -> None:
        self.book.settle(outcome_id, status, message)


def start_live_kernel(processes: support.ProcessGroup, env: Dict[str, str],
                      tmp_path: pathlib.Path, enabled: List[str],
                      live: str = '', extra: str = '',
                      expect_dashboard: bool = True, modules: str = '') -> LiveKernel:
    """
    Write a config (private redis), start ``up``, wait for its status line.

    The live view listens on free ports (``support.ros_environment`` sets them to 0); their
    URLs (without the token) and the token of this start are read from the status line.
    ``modules`` adds keys to the ``modules`` section (``overrides: {...}``).
    """
    config = tmp_path / 'kernel.yaml'
    config.write_text(
        f'kernel: {{state_dir: {tmp_path / "state"}, discovery_period_s: 0.2}}\n'
        f'modules: {{search_paths: [{support.ROOT / "modules"}], '
        f'enabled: [{", ".join(enabled)}]{", " + modules if modules else ""}}}\n'
        f'live: {{state_period_s: 0.2{", " + live if live else ""}}}\n' + extra)
    env = {k: v for k, v in env.items() if k != 'UNITY_REDIS_URL'}
    up = processes.start(CLI + ['up', '--config', str(config)], env, tmp_path / 'up.log')
    out = up.wait_output('Ctrl-C to stop', 60)
    foxglove = re.search(r'Foxglove (wss?://[^/,| ]+)(/\?token=[\w-]+)?[,| ]', out)
    dashboard = re.search(r'dashboard (https?://[^/,| ]+/)(\?token=[\w-]+)?[,| ]', out)
    assert foxglove and (dashboard or not expect_dashboard), \
        f'no live view URLs in the status line:\n{out}'
    token = re.search(r'\?token=([\w-]+)', foxglove.group(0) + (
        dashboard.group(0) if dashboard else ''))
    return LiveKernel(up, foxglove.group(1), dashboard.group(1) if dashboard else '', config,
                      env, token.group(1) if token else None)


def start_talker(processes: support.ProcessGroup, env: Dict[str, str],
                 tmp_path: pathlib.Path, topic: str, count: int, rate: float,
                 msg_type: str = 'std_msgs/msg/String') -> support.ManagedProcess:
    """Start test/nodes/talker.py; it waits for the kernel to subscribe."""
    name = topic.strip('/').replace('/', '_')
    return processes.start(
        [sys.executable, str(NODES / 'talker.py'), '--topic', topic, '--count', str(count),
         '--rate', str(rate), '--type', msg_type, '--linger', '2'], env,
        tmp_path / f'talker_{name}.log')
