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

"""Helpers for tests that start real things: ROS domains, redis-server, child processes."""

import fcntl
import logging
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = pathlib.Path(os.environ.get('UNITY_KERNEL_TEST_SRC', ROOT / 'src'))
"""The sources the tests and their child processes run (``make test-asan``: a copy with the
native extension built under AddressSanitizer)."""

_DOMAIN_LOCKS = pathlib.Path(tempfile.gettempdir()) / 'unity_kernel_test_domains'
_held_domains: Dict[int, int] = {}


def fresh_domain_id() -> int:
    """
    Pick a ROS domain id in 1..101 that no other test process on this machine holds.

    Each id is claimed with an exclusive ``flock`` on a file under the temp dir, held until
    :func:`release_domain_id` (or this process's exit), so concurrent test runs (or
    benchmarks) never share a DDS domain.
    """
    _DOMAIN_LOCKS.mkdir(exist_ok=True)
    candidates = [d for d in range(1, 102) if d not in _held_domains]
    random.shuffle(candidates)
    for candidate in candidates:
        fd = os.open(_DOMAIN_LOCKS / f'{candidate}.lock', os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _held_domains[candidate] = fd
        return candidate
    raise RuntimeError('every ROS domain id 1..101 is held by a test process on this machine')


def release_domain_id(domain_id: int) -> None:
    """Give back a domain id claimed by :func:`fresh_domain_id`."""
    fd = _held_domains.pop(domain_id, None)
    if fd is not None:
        os.close(fd)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def ros_environment(tmp_path: pathlib.Path) -> Dict[str, str]:
    """Environment variables isolating one test's ROS graph on this machine."""
    ros_home = tmp_path / 'ros_home'
    ros_home.mkdir(parents=True, exist_ok=True)
    pythonpath = os.pathsep.join(
        [str(SRC)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p])
    return {
        'ROS_DOMAIN_ID': str(fresh_domain_id()),
        'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
        'RMW_IMPLEMENTATION': 'rmw_fastrtps_cpp',
        'ROS_HOME': str(ros_home),
        'ROS_LOG_DIR': str(ros_home / 'log'),
        'AMENT_PREFIX_PATH': os.environ.get('AMENT_PREFIX_PATH', sys.prefix),
        'PYTHONPATH': pythonpath,
        'PYTHONUNBUFFERED': '1',
        # every kernel a test starts serves its live view on ports of its own (any free one)
        'UNITY_KERNEL__LIVE__FOXGLOVE_PORT': '0',
        'UNITY_KERNEL__LIVE__DASHBOARD_PORT': '0',
    }


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.05,
             message: str = 'condition') -> object:
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout}s waiting for {message}')
        time.sleep(interval)


class ManagedProcess:
    """A child process whose output goes to a log file the test can read."""

    def __init__(self, args: Sequence[str], env: Dict[str, str], log_path: pathlib.Path,
                 cwd: Optional[str] = None, group: Optional[int] = None) -> None:
        """Start the process in a session of its own, or in process group ``group`` (0: new)."""
        self.args = list(args)
        self.log_path = log_path
        self.leader = group in (None, 0)
        self._log = open(log_path, 'wb')
        placement: Dict[str, object] = {'start_new_session': True} if group is None \
            else {'process_group': group}
        self.proc = subprocess.Popen(self.args, env=env, cwd=cwd, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     **placement)  # type: ignore[call-overload]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors='replace')

    def wait_output(self, text: str, timeout: float = 20.0) -> str:
        def seen() -> bool:
            if self.proc.poll() is not None and text not in self.output():
                raise AssertionError(
                    f'process exited ({self.proc.returncode}) before printing {text!r}:\n'
                    f'{self.output()[-4000:]}')
            return text in self.output()
        wait_for(seen, timeout, message=f'{text!r} in output of {self.args}')
        return self.output()

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process's group (its own session, unless started in one)."""
        if self.proc.poll() is None:
            os.killpg(os.getpgid(self.proc.pid), sig)

    def signal_process(self, sig: int) -> None:
        """Send ``sig`` to this process alone (as ``ros2 launch`` does to each process)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        if self.proc.poll() is None:
            kill = os.killpg if self.leader else os.kill
            try:
                kill(self.proc.pid, signal.SIGINT)
                self.proc.wait(timeout)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    kill(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


class ProcessGroup:
    """Child processes of one test, all stopped at teardown."""

    def __init__(self) -> None:
        self._procs: List[ManagedProcess] = []

    def start(self, args: Sequence[str], env: Dict[str, str], log_path: pathlib.Path,
              cwd: Optional[str] = None, group: Optional[int] = None) -> ManagedProcess:
        proc = ManagedProcess(args, env, log_path, cwd, group)
        self._procs.append(proc)
        return proc

    def python(self, module: str, *args: str, env: Dict[str, str],
               log_path: pathlib.Path) -> ManagedProcess:
        """Run ``python -m module args`` with the test interpreter."""
        return self.start([sys.executable, '-m', module, *args], env, log_path)

    def stop_all(self) -> None:
        for proc in reversed(self._procs):
            proc.stop()


class RedisServer:
    """A private redis-server: loopback, free port, data in a temp dir, no persistence."""

    def __init__(self, directory: pathlib.Path, port: Optional[int] = None,
                 appendonly: bool = False) -> None:
        self.dir = directory
        self.port = port or free_port()
        self.appendonly = appendonly
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f'redis://127.0.0.1:{self.port}/0'

    def start(self) -> None:
        exe = shutil.which('redis-server')
        if exe is None:
            raise RuntimeError('redis-server is not installed: run `make setup`')
        self.dir.mkdir(parents=True, exist_ok=True)
        args = [exe, '--port', str(self.port), '--bind', '127.0.0.1', '--dir', str(self.dir),
                '--save', '', '--appendonly', 'yes' if self.appendonly else 'no',
                '--protected-mode', 'yes', '--logfile', str(self.dir / 'redis.log')]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._ping, 10, message=f'redis-server on port {self.port}')

    def _ping(self) -> bool:
        try:
            with socket.create_connection(('127.0.0.1', self.port), timeout=0.5) as s:
                s.sendall(b'PING\r\n')
                return s.recv(16).startswith(b'+PONG')
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class Probe:
    """
    An rclpy node in the test process, spun on a background thread.

    Collects messages from topics and calls lifecycle services of other nodes.
    """

    def __init__(self, context, name: str = 'probe') -> None:
        import threading

        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        self._rclpy = rclpy
        self.node = rclpy.create_node(name, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._running = True
        self.spin_errors: list = []
        self._thread.start()

    def _spin(self) -> None:
        while self._running:
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception as exc:
                # entities created from the test thread while this one waits can make one
                # spin_once fail; keep spinning unless the context is gone
                self.spin_errors.append(exc)
                if not self.node.context.ok():
                    return

    def collect(self, topic: str, msg_type, qos=None) -> list:
        """Subscribe to ``topic`` and return the list messages are appended to."""
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        received: list = []
        profile = qos or QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(msg_type, topic, received.append, profile)
        return received

    def _call(self, srv_type, name: str, request, timeout: float = 10.0,
              resend_s: float = 0.0):
        """
        Call a service; with ``resend_s``, send the request again while none is answered.

        Only for idempotent requests: DDS can drop the answer to a request sent before the
        server has matched this client's reply reader (found by ``wait_for_service``).
        """
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise AssertionError(f'service {name} not available')
            deadline = time.monotonic() + timeout
            while True:
                future = client.call_async(request)
                left = deadline - time.monotonic()
                try:
                    wait_for(future.done, min(resend_s, left) if resend_s else left,
                             message=f'answer from {name}')
                    return future.result()
                except AssertionError:
                    client.remove_pending_request(future)
                    if time.monotonic() >= deadline:
                        raise AssertionError(f'timed out after {timeout}s waiting for '
                                             f'answer from {name}') from None
        finally:
            self.node.destroy_client(client)

    def get_state(self, node_name: str) -> str:
        from lifecycle_msgs.srv import GetState
        return self._call(GetState, f'/{node_name}/get_state', GetState.Request(),
                          resend_s=2.0).current_state.label

    def change_state(self, node_name: str, transition: str) -> bool:
        """Request a lifecycle transition by label (configure, activate, ...)."""
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState
        ids = {'configure': Transition.TRANSITION_CONFIGURE,
               'activate': Transition.TRANSITION_ACTIVATE,
               'deactivate': Transition.TRANSITION_DEACTIVATE,
               'cleanup': Transition.TRANSITION_CLEANUP,
               'shutdown': {'unconfigured': Transition.TRANSITION_UNCONFIGURED_SHUTDOWN,
                            'inactive': Transition.TRANSITION_INACTIVE_SHUTDOWN,
                            'active': Transition.TRANSITION_ACTIVE_SHUTDOWN}}
        request = ChangeState.Request()
        chosen = ids[transition]
        if isinstance(chosen, dict):
            chosen = chosen[self.get_state(node_name)]
        request.transition.id = chosen
        return bool(self._call(ChangeState, f'/{node_name}/change_state', request).success)

    def close(self) -> None:
        self._running = False
        self._thread.join(5)
        self.executor.remove_node(self.node)
        self.node.destroy_node()


def cli(env: Dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``unity-kernel ARGS...`` (the CLI module of this checkout) and capture its output."""
    return subprocess.run([sys.executable, '-m', 'unity_kernel_core.cli.main', *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def launched_camera_module(mods: pathlib.Path) -> pathlib.Path:
    """Write a ``camera`` module manifest under ``mods``, as the launch tests run it."""
    folder = mods / 'camera'
    folder.mkdir(parents=True)
    (folder / 'manifest.yaml').write_text(
        'name: camera\nversion: 1.0.0\nkind: node\nexecutable: camera\n'
        'namespace: /sensors\n'
        'health: {heartbeat_period_s: 0.5, heartbeat_timeout_s: 2.0, transition_timeout_s: 15}\n')
    return folder


def start_kernel(processes: 'ProcessGroup', env: Dict[str, str], tmp_path: pathlib.Path,
                 config: pathlib.Path, log: str = 'kernel.log',
                 wait: Optional[str] = None, timeout: float = 30) -> 'ManagedProcess':
    """Start the kernel node on ``config`` (autostart), optionally until ``wait`` is logged."""
    args = [sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args',
            '-p', f'config_file:={config}', '-p', 'autostart:=true']
    kernel = processes.start(args, env, tmp_path / log)
    if wait is not None:
        kernel.wait_output(wait, timeout)
    return kernel


def publish_garbage(node, msg_type, topic: str, payloads: Sequence[bytes],
                    timeout: float = 10.0) -> None:
    """
    Publish ``payloads`` as raw CDR of ``msg_type`` on ``topic`` once a subscriber matched.

    The bytes go out as they are (rclpy publishes a ``bytes`` as an already serialized
    message): malformed CDR reaches the subscriber's deserialization.
    """
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    pub = node.create_publisher(msg_type, topic,
                                QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    try:
        wait_for(lambda: pub.get_subscription_count() > 0, timeout,
                 message=f'a subscriber of {topic}')
        time.sleep(0.2)  # matched both ways before the first message
        for payload in payloads:
            pub.publish(payload)
            time.sleep(0.02)
    finally:
        node.destroy_publisher(pub)


class LogCapture(logging.Handler):
    """
    Records of the package's loggers, caught by a handler on each logger itself.

    Never through propagation to a parent or the root (``caplog``): under a ROS install's
    pytest plugins, importing ``launch`` makes every logger created afterwards a
    ``LaunchLogger`` with ``propagate = False`` (test/conftest.py does the same for this
    suite), so a record reaches only the handlers of the logger it was logged on.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []
        self._attached: Dict[logging.Logger, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def attach(self, *names: str) -> 'LogCapture':
        """
        Catch what the named loggers log (default: every ``unity_kernel`` logger there is).

        The tree's level is set to DEBUG, as the kernel's ``log_level debug`` does; a logger
        the code gives a level of its own keeps it.
        """
        if not names:
            names = tuple(sorted(n for n in logging.root.manager.loggerDict
                                 if n == 'unity_kernel' or n.startswith('unity_kernel.')))
        for name in ('unity_kernel',) + names:
            logger = logging.getLogger(name)
            if logger not in self._attached:
                self._attached[logger] = logger.level
                logger.addHandler(self)
        logging.getLogger('unity_kernel').setLevel(logging.DEBUG)
        return self

    def detach(self) -> None:
        """Take the handler off again and restore the loggers' levels."""
        for logger, level in self._attached.items():
            logger.removeHandler(self)
            logger.setLevel(level)
        self._attached.clear()

    @property
    def text(self) -> str:
        """Return every caught message, one a line (``name: message``)."""
        return '\n'.join(f'{r.name}: {r.getMessage()}' for r in self.records)
