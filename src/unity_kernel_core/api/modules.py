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
Talk to a running kernel's module services (what ``unity-kernel modules`` does).

A command is sent to ``<kernel>/modules/<command>``; the kernel answers with its outcome
(``scheduled`` under an id, or already ``refused``), and ``<kernel>/modules/outcome`` is
asked for that id until the outcome is final or the wait runs out. The arguments are
checked here first (``kernel_name``, ``seconds``, ``command_argument``), so that bad input
is one line naming the argument, never a traceback.
"""

import math
import pathlib
import time
from typing import Any, Callable, Dict, List, Optional, Type

from unity_kernel_core.api.cli_node import cli_node
from unity_kernel_core.errors import UnityKernelError
from unity_kernel_core.module_commands import (CommandError, CommandOutcome, LIST_SERVICE,
                                               MAX_ARGUMENT_CHARS, ModuleCommand,
                                               OUTCOME_SERVICE, OutcomeStatus)

__all__ = ['CommandError', 'CommandOutcome', 'KernelClient', 'KernelUnreachableError',
           'ModuleCommand', 'OutcomeStatus', 'command', 'command_argument', 'exit_code',
           'format_table', 'kernel_name', 'list_modules', 'seconds']

DEFAULT_KERNEL = '/unity_kernel'
DEFAULT_TIMEOUT_S = 10.0
"""How long to wait for the kernel's services to answer."""
DEFAULT_WAIT_S = 60.0
"""How long a command waits for its outcome."""
MAX_SECONDS = 86400.0
"""The longest timeout or wait accepted (a day)."""
POLL_S = 0.2
"""How often a command's outcome is asked for while it is scheduled."""

EXIT_DONE = 0
EXIT_REFUSED = 1
"""The command was refused, or carried out and failed."""
EXIT_USAGE = 2
"""A bad argument, or no kernel answered."""
EXIT_PENDING = 3
"""The command was still scheduled when the wait ran out."""


class KernelUnreachableError(UnityKernelError):
    """The kernel's module services did not answer."""


def kernel_name(text: str) -> str:
    """Return the kernel node's fully qualified name; raise CommandError saying what is wrong."""
    from rclpy.validate_full_topic_name import validate_full_topic_name
    name = text if text.startswith('/') else f'/{text}'
    try:
        validate_full_topic_name(name)
        name.encode('utf-8')
    except UnicodeEncodeError:
        raise CommandError('expected a ROS node name such as /unity_kernel, not valid '
                           'UTF-8') from None
    except Exception as exc:  # rclpy's InvalidTopicNameException (a ValueError-like)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        why = first.split(': ', 1)[-1].rstrip(':').replace('topic name', 'the name')
        raise CommandError(f'expected a ROS node name such as /unity_kernel ({why}), got '
                           f'{text[:80]!r}') from None
    return name


def seconds(text: str, allow_zero: bool = False) -> float:
    """Return a number of seconds in (0, MAX_SECONDS] ([0, ...] with ``allow_zero``)."""
    low = 'at least 0' if allow_zero else 'more than 0'
    expected = f'expected seconds: a number {low} and at most {MAX_SECONDS:g}'
    try:
        value = float(text)
    except (TypeError, ValueError, OverflowError):
        raise CommandError(f'{expected}, got {str(text)[:40]!r}') from None
    if not math.isfinite(value) or value > MAX_SECONDS or value < 0 or \
            (value == 0 and not allow_zero):
        raise CommandError(f'{expected}, got {str(text)[:40]!r}')
    return value


def command_argument(command: ModuleCommand, text: str) -> str:
    """Return the argument to send (``load``: the absolute path); raise CommandError."""
    what = 'a path to a module folder' if command is ModuleCommand.LOAD else 'a module name'
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        raise CommandError(f'expected {what}, not valid UTF-8') from None
    if not text.strip() or len(text) > MAX_ARGUMENT_CHARS:
        raise CommandError(f'expected {what} of 1 to {MAX_ARGUMENT_CHARS} characters')
    if command is not ModuleCommand.LOAD:
        return text
    try:
        path = str(pathlib.Path(text).expanduser().resolve())
    except (OSError, RuntimeError, ValueError) as exc:  # ~nosuchuser, a loop, ...
        raise CommandError(f'expected {what}: {exc}') from None
    if len(path) > MAX_ARGUMENT_CHARS:
        raise CommandError(f'expected {what} of at most {MAX_ARGUMENT_CHARS} characters')
    return path


class KernelClient:
    """One short-lived ROS node that calls a kernel's module services."""

    def __init__(self, kernel: str = DEFAULT_KERNEL, timeout: float = DEFAULT_TIMEOUT_S,
                 ros_args: Optional[List[str]] = None) -> None:
        self.kernel = kernel
        self.timeout = timeout
        self.ros_args = ros_args
        self._node: Any = None
        self._executor: Any = None
        self._clients: Dict[str, Any] = {}
        self._cm: Any = None

    def __enter__(self) -> 'KernelClient':
        from rclpy.executors import SingleThreadedExecutor
        self._cm = cli_node('unity_kernel_cli', self.ros_args)
        self._node = self._cm.__enter__()
        try:
            self._executor = SingleThreadedExecutor(context=self._node.context)
            self._executor.add_node(self._node)
        except BaseException as exc:  # leave no node behind
            self._cm.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._executor.shutdown()
        finally:
            self._cm.__exit__(*exc)

    def call(self, service: str, srv_type: Any, request: Any) -> Any:
        """Call ``<kernel>/modules/<service>``; raise KernelUnreachableError when unanswered."""
        name = f'{self.kernel.rstrip("/")}/modules/{service}'
        client = self._clients.get(name)
        if client is None:
            client = self._clients[name] = self._node.create_client(srv_type, name)
            if not client.wait_for_service(timeout_sec=self.timeout):
                raise KernelUnreachableError(
                    f'{name} is not available: is the kernel running (and active) on this '
                    f'ROS_DOMAIN_ID? (waited {self.timeout:g}s)')
        future = client.call_async(request)
        self._executor.spin_until_future_complete(future, timeout_sec=self.timeout)
        if not future.done():
            raise KernelUnreachableError(f'{name} did not answer within {self.timeout:g}s')
        return future.result()

    def list_modules(self) -> List[Dict[str, Any]]:
        """Return the kernel's modules (name, state, message, restarts, ...)."""
        from std_srvs.srv import Trigger
        response = self.call(LIST_SERVICE, Trigger, Trigger.Request())
        modules = _json(response.message, 'the module list')
        if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
            raise CommandError('the kernel answered a module list that is not a JSON list')
        return modules

    def send(self, command: ModuleCommand, argument: str) -> CommandOutcome:
        """Send one command; return the outcome the kernel answered with."""
        from diagnostic_msgs.srv import AddDiagnostics
        response = self.call(command.value, AddDiagnostics,
                             AddDiagnostics.Request(load_namespace=argument))
        return CommandOutcome.from_dict(_json(response.message, f'{command.value}'))

    def outcome(self, outcome_id: str) -> Optional[CommandOutcome]:
        """Return the outcome of command ``outcome_id`` (None when the kernel forgot it)."""
        from diagnostic_msgs.srv import AddDiagnostics
        response = self.call(OUTCOME_SERVICE, AddDiagnostics,
                             AddDiagnostics.Request(load_namespace=outcome_id))
        if not response.success:
            return None
        return CommandOutcome.from_dict(_json(response.message, 'outcome'))


def _json(text: str, what: str) -> Any:
    from unity_kernel_core.config.documents import loads_json
    try:
        return loads_json(text)
    except ValueError as exc:
        raise CommandError(f'the kernel answered {what} with something that is not JSON: '
                           f'{exc}') from None


def list_modules(kernel: str = DEFAULT_KERNEL, timeout: float = DEFAULT_TIMEOUT_S,
                 ros_args: Optional[List[str]] = None,
                 client: Optional[Type[KernelClient]] = None) -> List[Dict[str, Any]]:
    """Return the kernel's modules (name, state, message, restarts, ...)."""
    with (client or KernelClient)(kernel, timeout, ros_args) as kernel_client:
        return kernel_client.list_modules()


def command(action: 'ModuleCommand | str', argument: str, kernel: str = DEFAULT_KERNEL,
            timeout: float = DEFAULT_TIMEOUT_S, ros_args: Optional[List[str]] = None,
            wait: float = DEFAULT_WAIT_S, client: Optional[Type[KernelClient]] = None,
            clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> CommandOutcome:
    """
    Send a module command and wait up to ``wait`` seconds for its outcome.

    Return the outcome as it stands then: final (``done``, ``refused``, ``failed``) or still
    ``scheduled``. Raise CommandError for a bad command or argument, KernelUnreachableError
    when the kernel does not answer.
    """
    which = ModuleCommand.parse(action)
    argument = command_argument(which, argument)
    with (client or KernelClient)(kernel, timeout, ros_args) as kernel_client:
        outcome = kernel_client.send(which, argument)
        deadline = clock() + wait
        while not outcome.finished and clock() < deadline:
            sleep(min(POLL_S, max(0.0, deadline - clock())))
            latest = kernel_client.outcome(outcome.command_id)
            if latest is None:  # the kernel restarted, or forgot it among many others
                return CommandOutcome(outcome.command_id, which, outcome.target,
                                      OutcomeStatus.SCHEDULED,
                                      f'{outcome.message}; the kernel no longer knows command '
                                      f'{outcome.command_id} (did it restart?)')
            outcome = latest
        return outcome


def exit_code(outcome: CommandOutcome) -> int:
    """Return the exit status of ``unity-kernel modules COMMAND`` for ``outcome``."""
    if outcome.status is OutcomeStatus.DONE:
        return EXIT_DONE
    if outcome.status is OutcomeStatus.SCHEDULED:
        return EXIT_PENDING
    return EXIT_REFUSED


def format_table(modules: List[Dict[str, Any]]) -> str:
    """Format the module list as an aligned text table."""
    rows = [('NAME', 'KIND', 'VERSION', 'STATE', 'RESTARTS', 'MESSAGE')]
    for m in modules:
        message = str(m.get('message', ''))
        if m.get('reload_error'):
            message = f'{message}; reload failed: {m["reload_error"]}'
        rows.append((str(m.get('name', '')), str(m.get('kind', '')), str(m.get('version', '')),
                     str(m.get('state', '')), str(m.get('restarts', '')), message))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return '\n'.join('  '.join(c.ljust(w) for c, w in zip(r[:5], widths)) + '  ' + r[5]
                     for r in rows).rstrip()
