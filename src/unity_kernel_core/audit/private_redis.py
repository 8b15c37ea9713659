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
A private redis-server for ``unity-kernel up`` when no Redis URL is configured.

It listens on a unix socket under ``<state_dir>/redis`` (loopback TCP on a free port when
the socket path would be too long), keeps its data there with the append-only file on
(``appendfsync everysec``), and is stopped with the kernel (SIGTERM: Redis writes its AOF
and exits). While it runs, ``<state_dir>/redis/url`` holds its URL, so the CLI tools
(``replay``, ``export``, ``dlq``) find it.
"""

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time
from typing import List, Optional

import redis

from unity_kernel_core.audit.record import AuditError
from unity_kernel_core.common.files import private_subdir, read_private, write_private
from unity_kernel_core.errors import StateFileError

DIRECTORY = 'redis'
_MAX_SOCKET_PATH = 100
_SMALL_FILE = 4096
"""The most read of the URL and pid files."""


def redis_server_path() -> Optional[str]:
    """Return the redis-server executable, or None when it is not installed."""
    return shutil.which('redis-server')


def running_url(state_dir: pathlib.Path) -> Optional[str]:
    """Return the URL of the private server of ``state_dir`` if one is running."""
    url_file = pathlib.Path(state_dir).expanduser() / DIRECTORY / 'url'
    try:
        url = read_private(url_file, _SMALL_FILE).decode('utf-8').strip()
    except (OSError, StateFileError, UnicodeDecodeError):
        return None
    return url or None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """Start and stop one redis-server owned by this kernel."""

    def __init__(self, state_dir: pathlib.Path, executable: Optional[str] = None) -> None:
        self.directory = pathlib.Path(state_dir).expanduser() / DIRECTORY
        self.executable = executable or redis_server_path()
        self.proc: Optional[subprocess.Popen] = None
        self._adopted_pid: Optional[int] = None
        self.url = ''

    def command(self) -> List[str]:
        """Return the redis-server command line (and set ``url``)."""
        if self.executable is None:
            raise AuditError('redis-server is not installed')
        sock = self.directory / 'redis.sock'
        args = [self.executable, '--dir', str(self.directory), '--appendonly', 'yes',
                '--appendfsync', 'everysec', '--save', '', '--daemonize', 'no',
                '--logfile', str(self.directory / 'redis.log'), '--protected-mode', 'yes']
        if len(str(sock)) <= _MAX_SOCKET_PATH:
            self.url = f'unix://{sock}'
            return args + ['--port', '0', '--unixsocket', str(sock), '--unixsocketperm', '700']
        port = _free_port()
        self.url = f'redis://127.0.0.1:{port}/0'
        return args + ['--port', str(port), '--bind', '127.0.0.1']

    def _adopt(self) -> bool:
        """Take over a server left running by a kernel that was killed; True if found."""
        url = running_url(self.directory.parent)
        pid_file = self.directory / 'redis.pid'
        if url is None:
            return False
        try:
            pid = int(read_private(pid_file, _SMALL_FILE).decode('ascii').strip())
            client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
            alive = bool(client.ping())
            client.close()
        except (ValueError, OSError, StateFileError, redis.RedisError):
            return False
        if alive:
            self.url, self._adopted_pid = url, pid
        return alive

    def start(self, timeout: float = 15.0) -> str:
        """Start the server (or adopt one left running) and wait until it answers."""
        try:
            private_subdir(self.directory, 'private Redis folder')
        except (OSError, StateFileError) as exc:
            raise AuditError(f'private Redis folder {self.directory}: {exc}') from None
        if self._adopt():
            return self.url
        args = self.command() + ['--pidfile', str(self.directory / 'redis.pid')]
        # its own session: a Ctrl-C for the kernel must not stop Redis before the mirror
        # has flushed; stop() ends it after the kernel
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AuditError(f'private redis-server exited with {self.proc.returncode}; '
                                 f'see {self.directory / "redis.log"}')
            try:
                if client.ping():
                    break
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AuditError(f'private redis-server did not answer within {timeout:g}s; '
                                 f'see {self.directory / "redis.log"}')
            time.sleep(0.05)
        client.close()
        write_private(self.directory / 'url', f'{self.url}\n'.encode())
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (its AOF is written on SIGTERM); forget the URL file."""
        (self.directory / 'url').unlink(missing_ok=True)
        proc, self.proc = self.proc, None
        if self._adopted_pid is not None:
            try:
                os.kill(self._adopted_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self._adopted_pid = None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def needed(redis_enabled: bool, url: Optional[str]) -> bool:
    """Return True when ``unity-kernel up`` must provide a Redis server itself."""
    return redis_enabled and not url


def start_for(state_dir: pathlib.Path) -> PrivateRedis:
    """Start the private server of ``state_dir``; AuditError says what to install or set."""
    if redis_server_path() is None:
        raise AuditError(
            'the audit trail needs Redis: redis.enabled is true but no redis.url is set, '
            'and redis-server is not installed. Install it (`sudo apt-get install '
            'redis-server`, or `make setup`), or point redis.url / UNITY_REDIS_URL at a '
            'Redis server, or set redis.enabled: false')
    server = PrivateRedis(state_dir)
    server.start()
    return server
