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

"""Network namespaces for tests: robots on their own links to a hub namespace (needs root)."""

import os
import random
import shutil
import signal
import subprocess
from typing import Dict, List, Optional


def netns_unavailable() -> Optional[str]:
    """Return why network namespaces cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return 'needs root to create network namespaces (ip netns); CI runs the tests as root'
    if shutil.which('ip') is None:
        return 'needs the ip command (iproute2)'
    return None


def ip(*args: str) -> str:
    """Run ``ip ARGS``; raise with its output when it fails."""
    result = subprocess.run(['ip', *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f'ip {" ".join(args)}: {result.stderr.strip()}')
    return result.stdout


class Hub:
    """
    A hub namespace and robot namespaces, each robot on a veth link of its own to the hub.

    Names are unique per test run; addresses come from a random ``10.x.0.0/16`` that exists
    only inside these namespaces (robot ``i``: ``10.x.i.2``, its hub side ``10.x.i.1``); no
    address or link is added to the host's namespace. :meth:`delete` kills every process in
    the namespaces and deletes them (their links go with them).
    """

    def __init__(self, robots: int) -> None:
        tag = f'{os.getpid() % 10000:04d}{random.randint(0, 999):03d}'
        self.tag = tag
        self.hub = f'ukhub{tag}'
        self.robots = [f'ukr{i}{tag}' for i in range(robots)]
        self.net = f'10.{random.randint(64, 250)}'
        self.created: List[str] = []

    def hub_address(self, i: int) -> str:
        """Return the hub's address on robot ``i``'s link."""
        return f'{self.net}.{i}.1'

    def robot_address(self, i: int) -> str:
        """Return robot ``i``'s address."""
        return f'{self.net}.{i}.2'

    def create(self) -> None:
        """Create the namespaces (loopback up in each) and the links."""
        for ns in [self.hub] + self.robots:
            ip('netns', 'add', ns)
            self.created.append(ns)
            ip('-n', ns, 'link', 'set', 'lo', 'up')
        for i, ns in enumerate(self.robots):
            hub_end, robot_end = f'uh{i}{self.tag}', f'ur{i}{self.tag}'
            ip('-n', self.hub, 'link', 'add', hub_end, 'type', 'veth', 'peer', 'name',
               robot_end, 'netns', ns)
            ip('-n', self.hub, 'addr', 'add', f'{self.hub_address(i)}/24', 'dev', hub_end)
            ip('-n', ns, 'addr', 'add', f'{self.robot_address(i)}/24', 'dev', robot_end)
            ip('-n', self.hub, 'link', 'set', hub_end, 'up')
            ip('-n', ns, 'link', 'set', robot_end, 'up')

    def exec_args(self, ns: str) -> List[str]:
        """Return the command prefix running a program inside ``ns``."""
        return ['ip', 'netns', 'exec', ns]

    def kill_all(self, ns: str) -> None:
        """Kill every process in ``ns`` with SIGKILL."""
        try:
            pids = subprocess.run(['ip', 'netns', 'pids', ns], capture_output=True, text=True,
                                  timeout=10).stdout.split()
        except subprocess.TimeoutExpired:
            pids = []
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass

    def delete_namespace(self, ns: str) -> None:
        """Kill the processes of ``ns`` and delete it (with its links)."""
        self.kill_all(ns)
        if ns in self.created:
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True, timeout=30)
            self.created.remove(ns)

    def delete(self) -> None:
        """Kill every process in the namespaces and delete them all."""
        for ns in list(reversed(self.created)):
            self.delete_namespace(ns)

    def env(self, base: Dict[str, str], **extra: str) -> Dict[str, str]:
        """Return ``base`` with ``extra`` set (for a process inside a namespace)."""
        out = dict(base)
        out.update(extra)
        return out
