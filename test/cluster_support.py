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

"""A real Redis Cluster for tests and benchmarks: 3 masters, 3 replicas, loopback, a temp dir."""

import pathlib
import shutil
import signal
import socket
import subprocess
from typing import Dict, List, Optional

import support


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            return False
    return True


def cluster_ports(count: int) -> List[int]:
    """Return ``count`` free loopback ports whose cluster bus ports (+10000) are free too."""
    ports: List[int] = []
    while len(ports) < count:
        port = support.free_port()
        if port + 10000 < 65536 and port not in ports and _free(port + 10000):
            ports.append(port)
    return ports


def make_certs(directory: pathlib.Path, ip: str = '127.0.0.1') -> Dict[str, pathlib.Path]:
    """Make a test CA and a server certificate for ``ip`` (openssl); return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / f'{name}.pem' for name in ('ca', 'ca_key', 'cert', 'key')}
    ext = directory / 'san.ext'
    ext.write_text(f'subjectAltName=IP:{ip}\n')

    def run(*args: str) -> None:
        subprocess.run(['openssl', *args], check=True, capture_output=True, timeout=60)
    run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=test-ca',
        '-keyout', str(paths['ca_key']), '-out', str(paths['ca']))
    csr = directory / 'server.csr'
    run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', f'/CN={ip}', '-keyout',
        str(paths['key']), '-out', str(csr))
    run('x509', '-req', '-in', str(csr), '-CA', str(paths['ca']), '-CAkey',
        str(paths['ca_key']), '-CAcreateserial', '-days', '2', '-extfile', str(ext), '-out',
        str(paths['cert']))
    return paths


class RedisClusterProcesses:
    """
    ``redis-server --cluster-enabled yes`` on free loopback ports, joined by redis-cli.

    ``node_timeout_ms`` is the cluster's failure detection time (a replica takes over a
    master that did not answer for that long). Every server is stopped by :meth:`stop`.
    """

    def __init__(self, directory: pathlib.Path, masters: int = 3, replicas: int = 1,
                 node_timeout_ms: int = 1000, bind: str = '127.0.0.1',
                 extra_args: Optional[List[str]] = None,
                 ports: Optional[List[int]] = None) -> None:
        self.dir = directory
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.bind = bind
        self.extra_args = list(extra_args or [])
        self.ports = ports or cluster_ports(masters * (1 + replicas))
        self.procs: Dict[int, subprocess.Popen] = {}
        self.cli_args: List[str] = []
        self.tls: Optional[Dict[str, pathlib.Path]] = None

    def use_tls(self, certs: Dict[str, pathlib.Path]) -> None:
        """Serve TLS only (cluster bus and replication too), with the certificates given."""
        self.tls = certs
        self.cli_args = ['--tls', '--cacert', str(certs['ca'])]

    @property
    def url(self) -> str:
        """Return the URL of the first node (a start-up node)."""
        return self.url_of(self.ports[0])

    def url_of(self, port: int) -> str:
        """Return the URL of the node on ``port``."""
        return f'{"rediss" if self.tls else "redis"}://{self.bind}:{port}/0'

    def start(self, launcher: Optional[List[str]] = None) -> None:
        """Start every node, create the cluster, wait until every node says ``ok``."""
        exe = shutil.which('redis-server')
        if exe is None or shutil.which('redis-cli') is None:
            raise RuntimeError('redis-server/redis-cli are not installed: run `make setup`')
        prefix = list(launcher or [])
        for port in self.ports:
            self.start_node(port, exe, prefix)
        for port in self.ports:
            support.wait_for(lambda p=port: self._cli(p, 'PING', prefix).stdout.strip() ==
                             'PONG', 10, message=f'redis node on port {port}')
        create = prefix + ['redis-cli', *self.cli_args, '--cluster', 'create',
                           *[f'{self.bind}:{p}' for p in self.ports],
                           '--cluster-replicas', str(self.replicas), '--cluster-yes']
        result = subprocess.run(create, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f'redis-cli --cluster create failed: {result.stdout}'
                               f'{result.stderr}')
        self.wait_ok(prefix)
        self._prefix = prefix

    def start_node(self, port: int, exe: str = 'redis-server',
                   prefix: Optional[List[str]] = None) -> None:
        """Start (or restart) the node on ``port``."""
        node_dir = self.dir / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        if self.tls:
            ports = ['--port', '0', '--tls-port', str(port), '--tls-cluster', 'yes',
                     '--tls-replication', 'yes', '--tls-auth-clients', 'no',
                     '--tls-cert-file', str(self.tls['cert']), '--tls-key-file',
                     str(self.tls['key']), '--tls-ca-cert-file', str(self.tls['ca'])]
        else:
            ports = ['--port', str(port)]
        args = list(prefix or []) + [
            exe, *ports, '--bind', self.bind, '--dir', str(node_dir),
            '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
            '--cluster-node-timeout', str(self.node_timeout_ms), '--save', '',
            '--appendonly', 'no', '--protected-mode', 'no',
            '--logfile', str(node_dir / 'redis.log'), *self.extra_args]
        self.procs[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)

    def _cli(self, port: int, command: str, prefix: Optional[List[str]] = None
             ) -> subprocess.CompletedProcess:
        return subprocess.run(list(prefix or getattr(self, '_prefix', [])) + [
            'redis-cli', *self.cli_args, '-h', self.bind, '-p', str(port), *command.split()],
            capture_output=True, text=True, timeout=10)

    def wait_ok(self, prefix: Optional[List[str]] = None, timeout: float = 30) -> None:
        """Wait until every running node reports ``cluster_state:ok``, replicas in sync."""
        for port in self.ports:
            if self.procs[port].poll() is None:
                support.wait_for(lambda p=port: 'cluster_state:ok' in self._cli(
                    p, 'CLUSTER INFO', prefix).stdout, timeout,
                    message=f'cluster_state:ok on port {port}')
                support.wait_for(lambda p=port: self._synced(p, prefix), timeout,
                                 message=f'replication in sync on port {port}')

    def _synced(self, port: int, prefix: Optional[List[str]]) -> bool:
        info = self._cli(port, 'INFO replication', prefix).stdout
        if 'role:slave' in info:
            return 'master_link_status:up' in info
        return 'connected_slaves:0' not in info or self.replicas == 0

    def master_of(self, key: str) -> int:
        """Return the port of the master serving ``key`` right now."""
        from redis.crc import key_slot
        slot = key_slot(key.encode())
        for line in self._cli(self.alive()[0], 'CLUSTER NODES').stdout.splitlines():
            fields = line.split()
            if 'master' not in fields[2] or 'fail' in fields[2]:
                continue
            for span in fields[8:]:
                start, _sep, end = span.partition('-')
                if start.isdigit() and int(start) <= slot <= int(end or start):
                    return int(fields[1].split('@')[0].rpartition(':')[2])
        raise AssertionError(f'no master serves slot {slot}')

    def nodes_text(self) -> str:
        """Return CLUSTER NODES as a running node sees it (for failure messages)."""
        alive = self.alive()
        return self._cli(alive[0], 'CLUSTER NODES').stdout if alive else '(no node running)'

    def alive(self) -> List[int]:
        """Return the ports of the nodes still running."""
        return [p for p, proc in self.procs.items() if proc.poll() is None]

    def kill(self, port: int) -> None:
        """Kill the node on ``port`` with SIGKILL (no chance to hand anything over)."""
        proc = self.procs[port]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def role(self, port: int) -> str:
        """Return ``master`` or ``slave`` as the node on ``port`` says."""
        return self._cli(port, 'ROLE').stdout.split('\n')[0].strip()

    def stop(self) -> None:
        """Stop every node."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
