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

"""Bring the kernel up in this process: the main job of ``unity-kernel up``."""

import contextlib
import os
import pathlib
import sys
import threading
import time
from typing import Any, Callable, Iterator, List, Optional, TextIO, Tuple

from unity_kernel_core.api.check_config import check_config
from unity_kernel_core.audit import private_redis
from unity_kernel_core.errors import AuditError, ConfigError
from unity_kernel_core.kernel.node import KernelNode
from unity_kernel_core.paths import default_config_path, ensure_private_dir, lock_state_dir
from unity_kernel_core.paths import private_umask, StateDirError, StateDirInUse
from unity_kernel_core.ros import lifecycle_base


MODULES_SETTLED = frozenset(('active', 'failed', 'stopped'))
"""States in which an enabled module's bring-up is over (up, or given up on)."""
STATUS_WAIT_S = 30.0
"""Longest ``up`` waits for its modules before printing the status line anyway."""


def modules_settled(node: KernelNode) -> Optional[Tuple[int, int]]:
    """Return ``(active, enabled)`` once every enabled module is up or given up; else None."""
    supervisor: Any = next((c for c in node.components if c.name == 'supervisor'), None)
    if supervisor is None:
        return 0, 0
    rows = [m for m in supervisor.list_modules() if m.get('enabled')]
    if any(m.get('state') not in MODULES_SETTLED for m in rows):
        return None
    return sum(m.get('state') == 'active' for m in rows), len(rows)


def status_line(node: KernelNode, modules: Optional[Tuple[int, int]] = None) -> str:
    """Return the one-line status printed once the kernel and its modules are up."""
    config = node.config
    assert config is not None
    mapped = len(node.intake.mapped) if node.intake is not None else 0
    parts = [f'unity-kernel: {node.get_name()} {node.state_label}',
             f'config {node.config_path or "built-in defaults"}',
             f'{len(config.topics)} topic rules, {mapped} topics mapped']
    if modules is not None:
        parts.append(f'modules {modules[0]}/{modules[1]} active')
    parts += [getattr(c, 'status', None) or f'{c.name} ready' for c in node.components]
    return ' | '.join(parts) + ' | Ctrl-C to stop'


def up(config_path: Optional[pathlib.Path], ros_args: Optional[List[str]] = None,
       out: TextIO = sys.stdout,
       on_active: Optional[Callable[[KernelNode], None]] = None,
       then_exit: bool = False) -> int:
    """
    Validate the config, start the kernel, print status, run until Ctrl-C; exit code.

    With ``then_exit`` (the ``up`` command) the process ends once the kernel has run and the
    private Redis server is stopped (``lifecycle_base.end_process``).
    """
    path = config_path if config_path is not None else default_config_path()
    problem = lifecycle_base.startup_problem(_argv(ros_args))
    if problem is not None:  # before anything starts (the private Redis)
        print(f'unity-kernel: cannot start: {problem}', file=sys.stderr)
        return 2
    config, issues = check_config(path)
    if config is None:
        print(f'unity-kernel: cannot start: {ConfigError(issues)}', file=sys.stderr)
        return 2
    try:
        private_umask()  # the journal, ring, logs and Redis data are the user's alone
        ensure_private_dir(config.kernel.state_dir)
        # one kernel per state dir: before anything of it is touched (its private Redis)
        lock = lock_state_dir(config.kernel.state_dir)
    except StateDirInUse as exc:
        print(f'unity-kernel: cannot start: {exc}', file=sys.stderr)
        return 2
    except StateDirError as exc:
        print(f'unity-kernel: cannot start: kernel.{exc}', file=sys.stderr)
        return 2
    try:
        code = _with_redis(config.kernel.state_dir, config.redis.enabled, config.redis.url,
                           lambda: _run(config.kernel.node_name, path, ros_args, out,
                                        on_active), out)
    finally:
        lock.release()
    if then_exit:
        lifecycle_base.end_process(code)
    return code


def _with_redis(state_dir: str, enabled: bool, url: Optional[str], run: Callable[[], int],
                out: TextIO) -> int:
    """Run the kernel with the private Redis when it needs one (started, stopped after)."""
    server = None
    if private_redis.needed(enabled, url):
        try:
            server = private_redis.start_for(pathlib.Path(state_dir))
        except AuditError as exc:
            print(f'unity-kernel: cannot start: {exc}', file=sys.stderr)
            return 2
        print(f'unity-kernel: private redis-server at {server.url} (data in '
              f'{server.directory})', file=out, flush=True)
    try:
        with _redis_url_env(server.url if server is not None else None):
            return run()
    finally:
        if server is not None:
            server.stop()


@contextlib.contextmanager
def _redis_url_env(url: Optional[str]) -> Iterator[None]:
    """Set UNITY_REDIS_URL while the kernel runs (its config, and reloads, read it)."""
    if url is None:
        yield
        return
    previous = os.environ.get('UNITY_REDIS_URL')
    os.environ['UNITY_REDIS_URL'] = url
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop('UNITY_REDIS_URL', None)
        else:
            os.environ['UNITY_REDIS_URL'] = previous


def _argv(ros_args: Optional[List[str]]) -> List[str]:
    return ['unity-kernel'] + (['--ros-args'] + ros_args if ros_args is not None else [])


def _run(node_name: str, path: Optional[pathlib.Path], ros_args: Optional[List[str]],
         out: TextIO, on_active: Optional[Callable[[KernelNode], None]]) -> int:
    def announce(node: KernelNode) -> None:
        threading.Thread(target=announce_when_up, args=(node,), name='up-status',
                         daemon=True).start()
        if on_active is not None:
            on_active(node)

    def announce_when_up(node: KernelNode) -> None:
        # the line says what is up: once every enabled module is up or given up (bounded),
        # and the intake has had a discovery pass to map their topics
        deadline = time.monotonic() + STATUS_WAIT_S
        settled = modules_settled(node)
        while settled is None and time.monotonic() < deadline:
            time.sleep(0.1)
            settled = modules_settled(node)
        if node.config is not None:
            time.sleep(min(2.0, node.config.kernel.discovery_period_s + 0.1))
            print(status_line(node, settled), file=out, flush=True)

    code = lifecycle_base.run(lambda: KernelNode(node_name, config_file=path), _argv(ros_args),
                              autostart=True, on_active=announce, then_exit=False)
    print(f'unity-kernel: stopped ({"clean" if code == 0 else f"exit {code}"})', file=out,
          flush=True)
    return code
