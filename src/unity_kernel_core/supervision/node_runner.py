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
Run a node module: start its process (or find it, under ``ros2 launch``) and drive its lifecycle.

When the kernel starts the process itself (``unity-kernel up``) it owns it: the process gets
its own session (a Ctrl-C at the terminal reaches the kernel only, which then shuts the
modules down in order) and dies with the kernel (``PR_SET_PDEATHSIG``). Its output goes to
``<state_dir>/logs/<module>.log``, rotated at 5 MB; the folder and the files are state of the
kernel's (``common.files``): a symlink, another user's file or a group-writable one in their
place is moved aside, never followed. A manifest's ``scheduling`` runs the
command through the prefix of :mod:`unity_kernel_core.supervision.scheduling`
(:mod:`unity_kernel_core.common.os_scheduling`'s program); when the
setting is not permitted, the start fails with the prefix's one-line reason.
"""

import ctypes
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Collection, Dict, IO, List, Optional, Type

from unity_kernel_core.common import os_scheduling
from unity_kernel_core.common.files import create_private, open_private, private_subdir
from unity_kernel_core.common.files import quarantine
from unity_kernel_core.errors import ModuleError, StateFileError
from unity_kernel_core.supervision import scheduling
from unity_kernel_core.supervision.lifecycle_client import LifecycleClient
from unity_kernel_core.supervision.machine import Failure, FailureKind
from unity_kernel_core.supervision.manifest import console_script_packages, Manifest
from unity_kernel_core.supervision.manifest import ModuleFileError

LOG_ROTATE_BYTES = 5 * 1024 * 1024
CLIENT_REBUILD_S = 3.0
"""While a started node does not answer, its service clients are rebuilt this often."""
STOP_PROBE_S = 2.0
"""How long ``stop`` waits for a node to answer before taking it as gone (or going)."""
PACKAGE = 'unity_kernel'


def _param_arg(value: Any) -> str:
    """Format a parameter value as a ``-p name:=value`` YAML scalar/list."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)


def resolve_executable(manifest: Manifest) -> List[str]:
    """
    Return the command that runs a node module's executable (the trust model, docs/modules.md).

    A path (with ``/`` or ending in ``.py``) is a file inside the module's folder after
    symlinks are resolved; a ``.py`` file runs with this Python. A bare name is a console
    script declared by an installed distribution's entry points, found next to this Python,
    or an executable in ``<prefix>/lib/unity_kernel`` of the ament index. ``PATH`` is never
    searched; anything else is refused with the path named.
    """
    exe = manifest.executable
    assert exe is not None
    if manifest.executable_is_path():
        try:
            path = manifest.module_file(exe)
        except ModuleFileError as exc:
            raise ModuleError(manifest.name, f'executable refused: {exc}') from None
        if not path.is_file():
            raise ModuleError(manifest.name, f'executable not found: {path}')
        if path.suffix == '.py':
            return [sys.executable, str(path)]
        if not os.access(path, os.X_OK):
            raise ModuleError(manifest.name, f'{path} is not executable')
        return [str(path)]
    candidates = []
    if console_script_packages(exe):
        candidates.append(pathlib.Path(sys.executable).parent / exe)
    try:
        from ament_index_python.packages import get_package_prefix
        candidates.append(pathlib.Path(get_package_prefix(PACKAGE)) / 'lib' / PACKAGE / exe)
    except Exception:  # not installed in an ament prefix: fine, keep looking
        pass
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate)]
    raise ModuleError(manifest.name, f'executable {exe!r} refused: not a console script of an '
                                     'installed package (looked in '
                                     f'{", ".join(str(c.parent) for c in candidates) or "nowhere"}'
                                     '; PATH is not searched) and not a file in the module '
                                     f'folder {manifest.directory}')


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL('libc.so.6', use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class NodeRunner:
    """The supervisor's handle on one node module whose process the kernel owns."""

    spawned = True
    """The kernel starts (and ends) the module's process itself."""

    def __init__(self, manifest: Manifest, client: LifecycleClient, state_dir: pathlib.Path,
                 env: Optional[Dict[str, str]] = None,
                 on_transition: Optional[Callable[[str], None]] = None,
                 halt: Optional[threading.Event] = None) -> None:
        self.manifest = manifest
        self.on_transition = on_transition
        """Called with the new state label whenever the node reports a transition."""
        self.last_transition = ''
        self.halt = halt
        """Set when the kernel is going down: ``start`` stops waiting for the node."""
        self.client = client
        self.state_dir = state_dir
        self.env = env
        self.proc: Optional[subprocess.Popen] = None
        self._log: Optional[IO[bytes]] = None
        self.log_path = state_dir / 'logs' / f'{manifest.name}.log'
        self.starts = 0

    def fresh(self) -> 'NodeRunner':
        """Return a new, stopped runner of the same module."""
        return type(self)(self.manifest, self.client, self.state_dir, self.env,
                          self.on_transition, self.halt)

    def load(self) -> None:
        """Check that the executable can be found (raise ModuleError when not)."""
        if self.spawned:
            resolve_executable(self.manifest)

    @property
    def node(self) -> str:
        """Return the node's fully qualified name."""
        return self.manifest.fully_qualified_node_name

    def command(self) -> List[str]:
        """Return the command line that starts the node."""
        m = self.manifest
        args = [*scheduling.prefix(m), *resolve_executable(m), '--ros-args', '-r',
                f'__node:={m.ros_node_name}',
                '-r', f'__ns:={m.namespace}']
        for key, value in m.parameters.items():
            args += ['-p', f'{key}:={_param_arg(value)}']
        return args

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the process (when the kernel owns it) and wait until its services answer."""
        limits = self.manifest.health
        if self.spawned:
            self._spawn()
        deadline = time.monotonic() + limits.transition_timeout_s
        rebuild_at = time.monotonic() + CLIENT_REBUILD_S
        while True:
            if self.halt is not None and self.halt.is_set():
                raise ModuleError(self.manifest.name, 'start abandoned: the kernel is going '
                                                      'down')
            if self.proc is not None and self.proc.poll() is not None:
                if self.proc.returncode == os_scheduling.REFUSED:
                    raise ModuleError(self.manifest.name, os_scheduling.refusal(
                        self._last_log_line(), self.manifest.name))
                raise ModuleError(self.manifest.name, f'process exited with status '
                                                      f'{self.proc.returncode} during start; '
                                                      f'see {self.log_path}')
            state = self.client.get_state(self.node, timeout=0.5)
            if state == 'finalized':
                raise ModuleError(self.manifest.name, f'lifecycle node {self.node} is '
                                  'finalized: it must be restarted (under ros2 launch, the '
                                  'launch file respawns it once it exits)')
            if state is not None:
                self.client.watch(self.node, self._transition_event)
                if state == 'active':
                    self._transition('deactivate')
                    state = 'inactive'
                if state == 'inactive':
                    self._transition('cleanup')
                return
            if time.monotonic() > rebuild_at:
                # a client that matched a dead predecessor's endpoints (DDS keeps them until
                # their lease runs out) may never reach the new process: start afresh
                self.client.forget(self.node)
                rebuild_at = time.monotonic() + CLIENT_REBUILD_S
            if time.monotonic() > deadline:
                where = f'; see {self.log_path}' if self.spawned else \
                    ' (is it launched? under ros2 launch the launch file starts it)'
                raise ModuleError(self.manifest.name, f'lifecycle node {self.node} did not '
                                  f'appear within {limits.transition_timeout_s}s{where}')

    def configure(self) -> None:
        """Run the configure transition."""
        self._transition('configure')

    def activate(self) -> None:
        """Run the activate transition."""
        self._transition('activate')

    def deactivate(self) -> None:
        """
        Run the deactivate transition (when active).

        While the kernel is going down, a process that has exited is left alone and a node
        that does not answer within ``STOP_PROBE_S`` is taken as going too (``ros2 launch``
        signals every process at once): the kernel waits no transition timeout on it.
        """
        if not self.alive():
            return
        timeout = self.manifest.health.transition_timeout_s
        going_down = self.halt is not None and self.halt.is_set()
        if going_down:
            if not self.client.node_present(self.node):
                return
            timeout = min(timeout, STOP_PROBE_S)
        if self.client.get_state(self.node, timeout) != 'active':
            return
        try:
            self._transition('deactivate', timeout)
        except ModuleError:
            if going_down and not (self.alive() and self.client.node_present(self.node)):
                return  # it went down by itself meanwhile
            raise

    def stop(self) -> None:
        """
        Take the node down to ``unconfigured``; shut it down too when the kernel owns it.

        When the kernel owns the process it ends it as well. A node launched by someone
        else (``ros2 launch``) is left unconfigured, not finalized, so that a kernel that
        comes back can configure it again. A node that does not answer within
        ``STOP_PROBE_S`` is taken as gone or going (``ros2 launch`` stops every process at
        once) and left alone.
        """
        timeout = self.manifest.health.transition_timeout_s
        try:
            # a node not in the graph (its process ended: ros2 launch stops all at once) is
            # not asked at all
            state = self.client.get_state(self.node, min(timeout, STOP_PROBE_S)) \
                if self.alive() and self.client.node_present(self.node) else None
            if state == 'active':
                self._transition('deactivate')
                state = 'inactive'
            if state == 'inactive':
                self._transition('cleanup')
                state = 'unconfigured'
            if state == 'unconfigured' and self.spawned:
                self.client.change_state(self.node, 'shutdown', timeout)
        except ModuleError:
            pass  # it is going away anyway; the process is ended below
        finally:
            self._end_process(graceful=True)
            self.client.forget(self.node)

    def kill(self) -> None:
        """End the process at once (SIGKILL) when the kernel owns it."""
        self._end_process(graceful=False)
        self.client.forget(self.node)

    # -- health ----------------------------------------------------------------------------

    def alive(self) -> bool:
        """Return False when the kernel's own process of this module has exited."""
        return self.proc is None or self.proc.poll() is None

    def poll(self) -> Optional[Failure]:
        """Return the failure of the kernel's own process once it has exited (never blocks)."""
        code = self.proc.poll() if self.proc is not None else None
        if code is None:
            return None
        return Failure(FailureKind.EXITED, f'process exited with status {code}', code=code)

    def check(self, expected: str) -> Optional[Failure]:
        """Return why the node is not healthy in state ``expected``, or None."""
        exited = self.poll()
        if exited is not None:
            return exited
        timeout = self.manifest.health.heartbeat_timeout_s
        state = self.client.get_state(self.node, timeout)
        if state is None:
            if not self.client.node_present(self.node):
                return Failure(FailureKind.GONE, 'node is gone from the ROS graph')
            return Failure(FailureKind.HUNG, f'no answer to get_state within {timeout}s (hung?)')
        if state != expected:
            return Failure(FailureKind.WRONG_STATE, f'in state {state}, expected {expected}')
        return None

    def _transition_event(self, label: str) -> None:
        self.last_transition = label
        if self.on_transition is not None:
            self.on_transition(label)

    def describe(self) -> Dict[str, Any]:
        """Return details for /diagnostics."""
        return {'node': self.node, 'pid': self.proc.pid if self.proc else '',
                'owned_process': self.spawned, 'starts': self.starts,
                'last_transition': self.last_transition,
                'log': str(self.log_path) if self.spawned else ''}

    # -- internals -------------------------------------------------------------------------

    def _transition(self, name: str, timeout: Optional[float] = None) -> None:
        timeout = self.manifest.health.transition_timeout_s if timeout is None else timeout
        result = self.client.change_state(self.node, name, timeout)
        if result is None:
            raise ModuleError(self.manifest.name, f'{name}: no answer from {self.node} within '
                                                  f'{timeout}s')
        if not result:
            state = self.client.get_state(self.node, timeout)
            log = self.log_path if self.spawned else 'its log'
            raise ModuleError(self.manifest.name, f'{name} failed (node now {state}); see {log}')

    def _spawn(self) -> None:
        self._end_process(graceful=False)
        command = self.command()
        self._log = os.fdopen(self._open_log(), 'ab')
        self._log.write(f'--- start: {" ".join(command)}\n'.encode())
        self._log.flush()
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault('PYTHONUNBUFFERED', '1')
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        self.starts += 1

    def _open_log(self) -> int:
        """
        Return the module's log opened to append, without following a symlink.

        The folder is made private (whatever is in its place moved aside); a log that is not
        this user's regular file, or is writable by others, is moved aside and a new one
        made; one over :data:`LOG_ROTATE_BYTES` becomes ``<module>.log.1``.
        """
        try:
            private_subdir(self.log_path.parent, 'module log folder')
        except (OSError, StateFileError) as exc:
            raise ModuleError(self.manifest.name, f'module log folder {self.log_path.parent}: '
                                                  f'{exc}') from None
        flags = os.O_WRONLY | os.O_APPEND
        try:
            fd = open_private(self.log_path, flags)
        except FileNotFoundError:
            return create_private(self.log_path, flags)
        except StateFileError as exc:
            quarantine(self.log_path, 'module log', str(exc).split(': ', 1)[-1],
                       'nothing written to it; a new one is made')
            return create_private(self.log_path, flags)
        os.fchmod(fd, 0o600)  # a log left readable by an older version
        if os.fstat(fd).st_size > LOG_ROTATE_BYTES:
            os.close(fd)
            os.replace(self.log_path, self.log_path.with_suffix('.log.1'))
            return create_private(self.log_path, flags)
        return fd

    def _last_log_line(self) -> str:
        """Return the last line the process wrote to its log."""
        if self._log is not None:
            self._log.flush()
        try:
            fd = open_private(self.log_path)
        except (OSError, StateFileError):
            return ''
        with os.fdopen(fd, 'rb') as f:
            f.seek(max(f.seek(0, os.SEEK_END) - 4096, 0))
            lines = f.read().decode(errors='replace').strip().splitlines()
        return lines[-1] if lines else ''

    def _end_process(self, graceful: bool) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                if graceful:
                    os.killpg(proc.pid, signal.SIGINT)
                    try:
                        proc.wait(5.0)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
                else:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5.0)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if self._log is not None:
            self._log.close()
            self._log = None


class LaunchedNodeRunner(NodeRunner):
    """
    The supervisor's handle on a node module someone else started (``ros2 launch``).

    The kernel drives its lifecycle only: it never starts or ends the process, and leaves
    the node ``unconfigured`` when it stops it.
    """

    spawned = False


def runner_class(manifest: Manifest, spawn_modules: bool,
                 launched: Collection[str]) -> Type[NodeRunner]:
    """
    Return how the kernel runs node module ``manifest``: its own process, or a launched one.

    ``spawn_modules`` False: the kernel runs under ``ros2 launch``, whose launch file starts
    ``launched`` (the config's enabled modules that are ``launchable``, as
    ``api.launch_plan`` lists them). Every other node module the kernel starts itself: a
    module run by path, and one that is loaded or enabled at run time, which no launch file
    starts.
    """
    if spawn_modules or not manifest.launchable or manifest.name not in launched:
        return NodeRunner
    return LaunchedNodeRunner
