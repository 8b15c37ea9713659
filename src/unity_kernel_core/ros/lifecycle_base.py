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
The one lifecycle node base of the package: state label, teardown, signals and ``main()``.

Every node of the package (kernel, camera, audio, haptic, LLM bridge) derives from
:class:`ManagedLifecycleNode` and runs with :func:`run`::

    class Talker(ManagedLifecycleNode):
        def on_configure(self, state):          # make publishers, read parameters
            ...
            return TransitionCallbackReturn.SUCCESS

        def halt(self):                         # stop what activate started (idempotent)
        def release(self):                      # undo configure (idempotent)

    def main(args=None):
        return run(Talker, args)

The base implements ``cleanup`` (release), ``shutdown`` (halt, release) and ``error`` (log,
halt, release: back to unconfigured), and keeps :attr:`state_label` in step with every
transition, the node's own included: a transition callback that returns SUCCESS sets the
label of the state it leads to (:data:`TRANSITION_LABELS`), any other outcome leaves the
label it had; no node assigns it. Parameters are
declared from specs (:meth:`ManagedLifecycleNode.declare_specs`, see
:mod:`unity_kernel_core.ros.parameters`): the base refuses what a spec refuses (and
:meth:`~ManagedLifecycleNode.check_parameter` cross-checks), and hands live ones that were set
to :meth:`~ManagedLifecycleNode.apply_parameters`.

Signals (:class:`ShutdownSignals`): SIGINT and SIGTERM are handled once, for the whole
process. The first asks for the node's shutdown transition, which runs on the main thread
while the ROS context is still up (rclpy's own handlers, which would shut the context down
under the node, are not installed). Repeats while the node is already going down are logged
and ignored: ``ros2 launch`` signals the process group at a terminal's Ctrl-C and then each
process again, and no node dies of the second signal. The handlers stay installed until the
process exits (then they are ignored: Python would restore the default handlers while the
interpreter finalizes), so a signal during ``rclpy.shutdown()`` or exit is ignored as well;
a node that hangs while going down is ended with SIGKILL (``ros2 launch`` escalates to it).
The exit code is 0 after a signal, 1 when ``autostart`` could not bring the node up.

Exit (:func:`end_process`): once the shutdown transition has run and the ROS context is shut
down, :func:`run` flushes the logs and ends the process at once, without the interpreter's
finalization (which took about 2 s of garbage collection on a loaded machine, past
``ros2 launch``'s 5 s before it escalates).
"""

import ast
import ctypes
import functools
import gc
import logging
import os
import signal
import stat
import sys
import threading
from typing import Any, Callable, List, NoReturn, Optional, Sequence, TypeVar

from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from rclpy.utilities import remove_ros_args

from unity_kernel_core.errors import UnityKernelError
from unity_kernel_core.ros import callbacks, log_forwarding, startup, transport
from unity_kernel_core.ros.parameters import ParameterStartError, ParameterTable, ParamSpec

RCLError = _rclpy.RCLError
RCLInvalidROSArgsError = _rclpy.RCLInvalidROSArgsError
UnknownROSArgsError = _rclpy.UnknownROSArgsError
SIGNALS = (signal.SIGINT, signal.SIGTERM)
TRANSITION_LABELS = {'on_configure': 'inactive', 'on_activate': 'active',
                     'on_deactivate': 'inactive', 'on_cleanup': 'unconfigured',
                     'on_shutdown': 'finalized', 'on_error': 'unconfigured'}
"""The state a transition callback's SUCCESS leads to, as :attr:`state_label` words."""
Transition = Callable[[Any, LifecycleState], TransitionCallbackReturn]


def _labelled(callback: Transition, label: str) -> Transition:
    """Return ``callback`` setting ``state_label`` to ``label`` when it returns SUCCESS."""
    if getattr(callback, 'sets_state_label', False):
        return callback

    @functools.wraps(callback)
    def transition(node: Any, state: LifecycleState) -> TransitionCallbackReturn:
        before = node.state_label
        result = TransitionCallbackReturn.ERROR
        try:
            result = callback(node, state)
        except Exception as exc:  # rclpy would make it ERROR without a word: counted, logged
            callbacks.ERRORS.record(f'transition {callback.__name__}', exc)
        finally:  # nested (a subclass calls super()): the outermost outcome decides
            node.state_label = label if result == TransitionCallbackReturn.SUCCESS else before
        return result

    setattr(transition, 'sets_state_label', True)
    return transition


class NodeStartError(UnityKernelError):
    """rcl could not create the node (the reason is rcl's first line)."""


class ShutdownSignals:
    """SIGINT/SIGTERM of the process: the first asks for a shutdown, repeats are ignored."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.received = ''
        """The name of the signal that asked for the shutdown ('' before one did)."""
        self.ignored = 0
        """How many signals came while the shutdown was already asked for."""
        self.logger: Optional[Any] = None

    def install(self) -> bool:
        """Handle SIGINT/SIGTERM from now on (main thread only); return True when installed."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in SIGNALS:
            signal.signal(sig, self._on_signal)
        return True

    def ignore(self) -> None:
        """
        Ignore SIGINT/SIGTERM from now on (main thread; the process is about to exit).

        Python resets the handlers it installed to the default (death by the signal) when
        the interpreter finalizes, which takes a while after rclpy and DDS; an ignored
        signal stays ignored through it.
        """
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                signal.signal(sig, signal.SIG_IGN)

    def request(self, reason: str = 'request') -> None:
        """Ask for the shutdown, as a signal would (from any thread)."""
        if not self.requested.is_set():
            self.received = reason
            self.requested.set()

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.requested.is_set():
            self.ignored += 1
            if self.logger is not None:
                self.logger.info(f'{name} while already shutting down (after {self.received}): '
                                 'ignored')
            return
        self.request(name)


class ManagedLifecycleNode(LifecycleNode):
    """A lifecycle node with a state label and one teardown path."""

    shutdown_message = 'shutting down'
    """Logged when a signal starts the shutdown transition."""
    exit_when_finalized = False
    """End the process when the node is shut down over its lifecycle service (for respawn)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Make every transition callback a subclass defines keep ``state_label`` in step."""
        super().__init_subclass__(**kwargs)
        for name, label in TRANSITION_LABELS.items():
            if name in cls.__dict__:
                setattr(cls, name, _labelled(cls.__dict__[name], label))

    def __init__(self, node_name: str, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._log_handler = log_forwarding.install(self.get_logger())
        """The ``unity_kernel`` logging tree goes to this node's ROS logger (/rosout)."""
        self.state_label = 'unconfigured'
        """The lifecycle state as a word: unconfigured, inactive, active, finalized."""
        self.parameter_table = ParameterTable()
        self._declaring = False
        self.add_on_set_parameters_callback(self._gate_parameters)
        self.add_post_set_parameters_callback(self._parameters_set)

    def destroy_node(self) -> None:
        """Destroy the node; the ``unity_kernel`` logging tree no longer goes to it."""
        log_forwarding.uninstall(self._log_handler)
        super().destroy_node()

    # -- parameters ------------------------------------------------------------------------

    def declare_specs(self, specs: Sequence[ParamSpec]) -> None:
        """Declare parameters from their specs (see :mod:`unity_kernel_core.ros.parameters`)."""
        self._declaring = True  # start values: checked at configure, applied by the node
        try:
            self.parameter_table.declare(self, specs)
        finally:
            self._declaring = False

    def parameter_issues(self) -> List[str]:
        """Return what is wrong with the parameters' current values (for configure)."""
        table = self.parameter_table
        return table.start_issues({n: self.get_parameter(n).value for n in table.specs})

    def check_parameter(self, param: Parameter) -> Optional[str]:
        """Return why a new value is refused beyond its spec (cross-checks), or None."""
        return None

    def apply_parameters(self, params: List[Parameter]) -> None:
        """Apply live parameters that were just set (executor thread)."""

    def _gate_parameters(self, params: List[Parameter]) -> SetParametersResult:
        try:
            result = self.parameter_table.gate(params, self.state_label, self.has_parameter)
            if not result.successful:
                return result
            for param in params:
                if self.has_parameter(param.name):
                    reason = self.check_parameter(param)
                    if reason:
                        return SetParametersResult(successful=False,
                                                   reason=f'{param.name}: {reason}')
            return result
        except Exception as exc:  # the caller gets an answer (rclpy would send none): counted
            callbacks.ERRORS.record('parameters', exc)
            return SetParametersResult(successful=False, reason=f'refused: internal error: '
                                       f'{type(exc).__name__}: {exc}')

    def _parameters_set(self, params: List[Parameter]) -> None:
        if self._declaring:
            return
        live = self.parameter_table.live(params)
        if live:
            self.apply_parameters(live)

    # -- hooks -----------------------------------------------------------------------------

    def halt(self) -> None:
        """Stop what activate started (called on shutdown and error; must be idempotent)."""

    def release(self) -> None:
        """Undo what configure made (called on cleanup, shutdown and error; idempotent)."""

    def error_message(self, state: LifecycleState) -> str:
        """Return the line logged when a transition failed with an error."""
        return f'error during a transition from {state.label}: cleaning up'

    def on_exit(self) -> None:
        """Release what must not outlive the process, when it ends without a transition."""

    # -- the transitions the base owns -----------------------------------------------------

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.halt()
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(self.error_message(state))
        self.halt()
        self.release()
        return TransitionCallbackReturn.SUCCESS


for _name, _label in TRANSITION_LABELS.items():  # the base's own and rclpy's defaults too
    setattr(ManagedLifecycleNode, _name,
            _labelled(getattr(ManagedLifecycleNode, _name), _label))


def bring_up(node: Any) -> bool:
    """Drive the node through configure and activate; return True when it is active."""
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        return False
    return node.trigger_activate() == TransitionCallbackReturn.SUCCESS


N = TypeVar('N', bound=ManagedLifecycleNode)


def spin_until_shutdown(node: N, *, autostart: bool,
                        signals: Optional[ShutdownSignals] = None,
                        on_active: Optional[Callable[[N], None]] = None,
                        executor: Optional[Any] = None) -> int:
    """
    Spin ``node`` until a shutdown is asked for, then run its shutdown transition.

    ``signals`` says when (default: a :class:`ShutdownSignals` nobody installed, asked with
    ``request()``, e.g. from a test thread). With ``autostart`` the node is configured and
    activated first (1 is returned when that fails); a shutdown asked for during the bring-up
    is acted on once it is done. The shutdown transition runs while the ROS context is up.
    """
    signals = signals or ShutdownSignals()
    signals.logger = node.get_logger()
    executor = executor or SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    try:
        if autostart:
            if not bring_up(node):
                node.get_logger().error(f'could not bring {node.get_name()} up '
                                        '(see errors above)')
                return 1
            if on_active is not None:
                on_active(node)
        spinning = f'executor of {node.get_name()}'
        while not signals.requested.is_set() and node.context.ok():
            if not callbacks.spin_once(executor, 0.1, name=spinning):
                break
            if node.exit_when_finalized and node.state_label == 'finalized':
                node.get_logger().info('finalized over the lifecycle service: exiting')
                return 0
        if node.state_label != 'finalized' and node.context.ok():
            why = f' ({signals.received})' if signals.received else ''
            node.get_logger().info(f'{node.shutdown_message}{why}')
            node.trigger_shutdown()
        return 0
    finally:
        executor.remove_node(node)


def end_process(code: int) -> NoReturn:
    """
    Flush every log and end the process with ``code`` at once (``os._exit``).

    Call it only when nothing is left to run: the node's shutdown transition is done (its
    threads, child processes such as the audit writer, files: ``release``), the ROS context
    is shut down (which flushes and closes the ROS log file) and destroyed
    (:func:`release_context`), and ``unity-kernel up`` has stopped its private Redis. What
    is skipped is the interpreter's finalization: ``atexit`` handlers (those left would join
    the worker threads of abandoned module jobs) and the teardown of every module and
    object, which ran the garbage collector over rclpy's objects for about 2 s on a loaded
    machine (py-spy: the main thread in GC during finalization), past ``ros2 launch``'s 5 s.
    ``gc.freeze()``/``gc.disable()`` would not do: the teardown still visits every module
    and object, and the context must be destroyed by then anyway (see
    :func:`release_context`), which needs one collection.
    """
    logging.shutdown()  # flush and close Python's log handlers
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or gone (the terminal went away): nothing to do
            pass
    try:
        ctypes.CDLL(None).fflush(None)  # C stdio: rcutils' console output when buffered
    except (OSError, AttributeError):
        pass
    os._exit(code)


def run(factory: Callable[[], N], args: Optional[List[str]] = None, *,
        autostart: Optional[bool] = None, on_active: Optional[Callable[[N], None]] = None,
        executor_factory: Callable[..., Any] = SingleThreadedExecutor,
        then_exit: bool = True, large_messages: bool = False) -> int:
    """
    Run a node until SIGINT/SIGTERM (the body of every console script's ``main``).

    The signal handlers go in first, so a signal during start-up is kept and acted on; then
    ``rclpy.init`` (without rclpy's handlers), the node, and :func:`spin_until_shutdown`
    (``autostart`` defaults to the node's parameter of that name). With ``then_exit`` (the
    default) the process ends right after, through :func:`end_process`; without, the exit
    code is returned and the caller must end the process itself (``unity-kernel up`` stops
    its private Redis first). ``large_messages``: the node publishes messages larger than
    Fast DDS's default shared-memory segment (images), so its participant gets the transport
    for them (:func:`~unity_kernel_core.ros.transport.use_large_data_transport`).
    """
    argv = list(args) if args is not None else list(sys.argv)
    if large_messages:
        transport.use_large_data_transport()
    program = os.path.basename(argv[0]) if argv else 'node'
    problem = startup_problem(argv)
    if problem is not None:
        print(f'{program}: cannot start: {problem}', file=sys.stderr, flush=True)
        if then_exit:
            end_process(2)
        return 2
    signals = ShutdownSignals()
    signals.install()
    early = startup.early_signal()
    if early is not None:  # Ctrl-C while the process was importing: nothing to shut down
        signals.ignore()
        print(f'{program}: {early} before start-up finished: exiting', file=sys.stderr,
              flush=True)
        if then_exit:
            end_process(0)
        return 0
    context = None
    try:
        init = rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    except RCLError as exc:
        signals.ignore()
        print(f'{program}: cannot start: {_init_problem(exc)}', file=sys.stderr, flush=True)
        if then_exit:
            end_process(2)
        return 2
    try:
        context = init.context
        with init:
            code = _run_node(factory, signals, autostart, on_active, executor_factory)
    except (KeyboardInterrupt, ExternalShutdownException):
        code = 0
    except (ParameterStartError, NodeStartError) as exc:  # before the node existed: one line
        print(f'{program}: cannot start: {exc}', file=sys.stderr, flush=True)
        code = 2
    finally:
        signals.ignore()
    if context is not None:
        release_context(context)
    if then_exit:
        end_process(code)
    return code


MAX_DOMAIN_ID = 232
"""The highest ``ROS_DOMAIN_ID`` the DDS port mapping allows (Fast DDS refuses larger ones)."""


def startup_problem(argv: Sequence[str]) -> Optional[str]:
    """
    Return why a node cannot start with ``argv`` (its ``--ros-args``) and this environment.

    Checked before anything starts, so that a mistake is one line and exit code 2, not a
    traceback (rclpy) or an abrupt exit of the process from inside DDS (a ``ROS_DOMAIN_ID``
    out of range) or a wait for ever: ``ROS_DOMAIN_ID`` is a number in 0..232,
    ``FASTDDS_DEFAULT_PROFILES_FILE`` is no FIFO or device, and the ROS arguments parse.
    """
    profiles = os.environ.get(transport.PROFILES_VARIABLE, '').strip()
    if profiles:  # Fast DDS would open a FIFO (or a device) there and wait for ever
        try:
            mode = os.stat(profiles).st_mode
        except (OSError, ValueError):
            mode = None  # missing: Fast DDS says so and goes on with its defaults
        if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
            return (f'{transport.PROFILES_VARIABLE}={profiles!r} is not a regular file (a FIFO '
                    'or a device): Fast DDS would wait on it for ever')
    domain = os.environ.get('ROS_DOMAIN_ID', '').strip()
    if domain:
        try:
            number = int(domain)
        except ValueError:
            return f'ROS_DOMAIN_ID={domain!r} is not a number (0..{MAX_DOMAIN_ID})'
        if not 0 <= number <= MAX_DOMAIN_ID:
            return (f'ROS_DOMAIN_ID={number} is out of range: DDS takes 0..{MAX_DOMAIN_ID} '
                    '(0..101 keeps clear of the ephemeral ports on Linux)')
    try:
        remove_ros_args(list(argv))
    except UnknownROSArgsError as exc:
        try:  # rclpy gives the list of them as its text
            unknown = ' '.join(map(str, ast.literal_eval(str(exc))))
        except (ValueError, SyntaxError, TypeError):
            unknown = str(exc)
        return f'unknown ROS arguments after --ros-args: {unknown}'
    except RCLInvalidROSArgsError as exc:
        return 'invalid ROS arguments: ' + _first_line(exc).replace(
            'Failed to parse ROS arguments: ', '')
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(', at /')[0]  # rcl appends its source file and line


def _init_problem(exc: BaseException) -> str:
    text = _first_line(exc)
    if 'logging' in text:
        return (f'{text} (ROS writes its log under ROS_LOG_DIR, else ROS_HOME/log, else '
                '~/.ros/log: make one of them a writable folder)')
    return f'ROS could not be initialised: {text}'


def _run_node(factory: Callable[[], N], signals: ShutdownSignals, autostart: Optional[bool],
              on_active: Optional[Callable[[N], None]],
              executor_factory: Callable[..., Any]) -> int:
    """Build, spin and destroy the node (its references end with this frame)."""
    try:
        node = factory()
    except RCLError as exc:  # rcl could not make it: ROS_STATIC_PEERS it cannot resolve, say
        raise NodeStartError(_first_line(exc)) from None
    executor = executor_factory(context=node.context)
    try:
        if autostart is None:
            autostart = bool(node.get_parameter('autostart').value) \
                if node.has_parameter('autostart') else False
        return spin_until_shutdown(node, autostart=autostart, signals=signals,
                                   on_active=on_active, executor=executor)
    finally:
        signals.logger = None  # the node's logger goes with the node
        node.on_exit()
        node.destroy_node()
        executor.shutdown()


def release_context(context: Any) -> None:
    """
    Destroy a shut-down rclpy context now, so its DDS participant leaves the graph at once.

    Without this, ending the process (:func:`end_process`) leaves the other processes
    holding this one in their ROS graph until its lease runs out (about 20 s with Fast DDS):
    a kernel waiting for a module to leave would wait that long. rclpy destroys a node's and
    a context's handles only once nothing refers to them, and a lifecycle node sits in
    reference cycles, so one garbage collection comes first (measured: about 0.07 s at load
    1-3 for the camera; the interpreter's whole finalization it replaces took 0.2-2 s).
    """
    gc.collect()
    context.destroy()
