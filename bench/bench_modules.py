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
Module supervision benchmarks. Results: bench/results/modules.json.

(a) boot: time from starting the kernel process to every one of N node modules active
    (independent modules, so they come up concurrently), for several N;
(b) recovery: time from ``kill -9`` of a node module's process to that module active again,
    with the default health limits (checked every 1 s) and no restart back-off, repeated;
(c) kill during another module's back-off: the same, while a second module that crashed
    waits out a 20 s back-off (the killed module must not wait for it);
(d) isolation: 8 modules, one of them crash-looping and one hung (a process that never
    becomes a lifecycle node), against 8 healthy ones: time from starting the kernel to the
    other 6 active.

The modules are the lifecycle test node (``test/nodes/lifecycle_module.py``), which appends
``<name> <what> <unix time> <pid>`` to a marker file at every transition.
"""

import json
import os
import pathlib
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

from _results import write_results

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULE_NODE = ROOT / 'test' / 'nodes' / 'lifecycle_module.py'
BOOT_SIZES = [1, 4, 8]
RECOVERIES = 5


HUNG_SCRIPT = 'import time\nwhile True:\n    time.sleep(1)\n'
BACKOFF_ROUNDS = 3
ISOLATION_ROUNDS = 3


def write_modules(root: pathlib.Path, names: List[str], marker: pathlib.Path,
                  special: Optional[Dict[str, str]] = None) -> pathlib.Path:
    """
    Write node modules and a kernel config enabling them.

    ``special`` maps a name to ``backoff20`` (crashes 1 s after activation, back-off 20 s),
    ``crashloop`` (crashes 0.3 s after activation, back-off 0.5 s) or ``hung`` (a process
    that never becomes a lifecycle node).
    """
    special = special or {}
    mods = root / 'modules'
    for name in names:
        d = mods / name
        d.mkdir(parents=True)
        kind = special.get(name, '')
        params: Dict[str, object] = {'marker': str(marker)}
        backoff = (0, 0)
        executable = str(MODULE_NODE)
        if kind == 'backoff20':
            params['crash_after_s'] = 1.0
            backoff = (20, 20)
        elif kind == 'crashloop':
            params['crash_after_s'] = 0.3
            backoff = (0.5, 0.5)
        elif kind == 'hung':
            (d / 'run.py').write_text(HUNG_SCRIPT)
            executable = 'run.py'
        (d / 'manifest.yaml').write_text(
            f'name: {name}\nversion: 1.0.0\nkind: node\nexecutable: {executable}\n'
            f'parameters: {json.dumps(params)}\n'
            f'restart: {{max_restarts: 100, window_s: 60, backoff_initial_s: {backoff[0]}, '
            f'backoff_max_s: {backoff[1]}}}\n'
            'health: {transition_timeout_s: 60}\n')
    config = root / 'kernel.yaml'
    config.write_text(f'kernel: {{state_dir: {root / "state"}}}\nredis: {{enabled: false}}\n'
                      f'modules: {{search_paths: [{mods}], enabled: {json.dumps(names)}}}\n')
    return config


def marks(marker: pathlib.Path, what: str) -> Dict[str, List[float]]:
    out: Dict[str, List[float]] = {}
    if marker.exists():
        for line in marker.read_text().splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[1] == what:
                out.setdefault(parts[0], []).append(float(parts[2]))
    return out


def wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def start_kernel(config: pathlib.Path, env: dict, log: pathlib.Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args',
         '-p', f'config_file:={config}', '-p', 'autostart:=true'],
        env=env, stdout=open(log, 'wb'), stderr=subprocess.STDOUT, start_new_session=True)


def stop_kernel(kernel: subprocess.Popen) -> None:
    os.killpg(kernel.pid, signal.SIGINT)
    try:
        kernel.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(kernel.pid, signal.SIGKILL)
        kernel.wait(10)


def bench_boot(n: int, env: dict) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        marker = root / 'marks.txt'
        names = [f'mod{i}' for i in range(n)]
        config = write_modules(root, names, marker)
        started = time.time()
        kernel = start_kernel(config, env, root / 'kernel.log')
        try:
            if not wait(lambda: len(marks(marker, 'activated')) == n, 120):
                raise RuntimeError(f'{n} modules not active in 120 s; see {root}/kernel.log')
            return max(t[0] for t in marks(marker, 'activated').values()) - started
        finally:
            stop_kernel(kernel)


def bench_recovery(env: dict) -> List[float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        marker = root / 'marks.txt'
        config = write_modules(root, ['victim'], marker)
        kernel = start_kernel(config, env, root / 'kernel.log')
        times = []
        try:
            for i in range(RECOVERIES):
                if not wait(lambda: len(marks(marker, 'activated').get('victim', [])) == i + 1,
                            120):
                    raise RuntimeError(f'victim not active (round {i}); see {root}/kernel.log')
                time.sleep(1.0)
                pid = int(marker.read_text().splitlines()[-1].split()[3])
                killed = time.time()
                os.kill(pid, signal.SIGKILL)
                if not wait(lambda: len(marks(marker, 'activated')['victim']) == i + 2, 120):
                    raise RuntimeError(f'victim not back (round {i}); see {root}/kernel.log')
                times.append(marks(marker, 'activated')['victim'][-1] - killed)
        finally:
            stop_kernel(kernel)
        return times


def bench_kill_during_backoff(env: dict) -> List[float]:
    """Kill ``camera`` while ``slow`` waits out a 20 s back-off; return the recovery times."""
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        marker = root / 'marks.txt'
        config = write_modules(root, ['camera', 'slow'], marker, {'slow': 'backoff20'})
        kernel = start_kernel(config, env, root / 'kernel.log')
        times = []
        try:
            for i in range(BACKOFF_ROUNDS):
                if not wait(lambda: len(marks(marker, 'activated').get('camera', [])) == i + 1,
                            120):
                    raise RuntimeError(f'camera not active (round {i}); see {root}/kernel.log')
                # kill while slow is in its back-off: it crashed, and is not active again
                if not wait(lambda: len(marks(marker, 'crashing').get('slow', [])) ==
                            len(marks(marker, 'activated').get('slow', [])) > 0, 60):
                    raise RuntimeError(f'slow not in its back-off; see {root}/kernel.log')
                time.sleep(0.5)
                pid = [int(line.split()[3]) for line in marker.read_text().splitlines()
                       if line.startswith('camera activated')][-1]
                killed = time.time()
                os.kill(pid, signal.SIGKILL)
                if not wait(lambda: len(marks(marker, 'activated')['camera']) == i + 2, 120):
                    raise RuntimeError(f'camera not back (round {i}); see {root}/kernel.log')
                times.append(marks(marker, 'activated')['camera'][-1] - killed)
                slow_active = marks(marker, 'activated').get('slow', [])
                if len(slow_active) > len(marks(marker, 'crashing').get('slow', [])):
                    raise RuntimeError('slow came back before camera: not a back-off case')
        finally:
            stop_kernel(kernel)
        return times


def bench_isolation(env: dict, troubled: bool) -> float:
    """Return the time from kernel start to mod0..mod5 active (with or without trouble)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        marker = root / 'marks.txt'
        healthy = [f'mod{i}' for i in range(6)]
        names = healthy + ['crasher', 'stuck']
        special = {'crasher': 'crashloop', 'stuck': 'hung'} if troubled else {}
        config = write_modules(root, names, marker, special)
        started = time.time()
        kernel = start_kernel(config, env, root / 'kernel.log')
        try:
            if not wait(lambda: all(n in marks(marker, 'activated') for n in healthy), 120):
                raise RuntimeError(f'the 6 healthy modules not active in 120 s; see '
                                   f'{root}/kernel.log')
            return max(marks(marker, 'activated')[n][0] for n in healthy) - started
        finally:
            stop_kernel(kernel)


def main() -> int:
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(50, 100)),
               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONPATH=str(ROOT / 'src'),
               PYTHONUNBUFFERED='1')
    boot = {}
    for n in BOOT_SIZES:
        boot[str(n)] = round(bench_boot(n, env), 3)
        print(f'  boot: kernel + {n} node module(s) all active in {boot[str(n)]:.2f} s',
              flush=True)
    recovery = bench_recovery(env)
    print(f'  recovery after kill -9: {[round(t, 2) for t in recovery]} s', flush=True)
    during = bench_kill_during_backoff(env)
    print("  recovery after kill -9 during another module's 20 s back-off: "
          f'{[round(t, 2) for t in during]} s', flush=True)
    isolation: Dict[str, List[float]] = {'healthy': [], 'troubled': []}
    for _ in range(ISOLATION_ROUNDS):
        for key in ('healthy', 'troubled'):
            isolation[key].append(bench_isolation(env, key == 'troubled'))
    print(f'  8 modules, the other 6 active: healthy {isolation["healthy"]} s, with a '
          f'crash-looper and a hung one {isolation["troubled"]} s', flush=True)
    out = write_results('modules', {
        'boot_s_by_modules': boot,
        'recovery_s': {'samples': [round(t, 3) for t in recovery],
                       'median': round(statistics.median(recovery), 3),
                       'max': round(max(recovery), 3),
                       'health_check_period_s': 1.0, 'backoff_s': 0.0},
        'recovery_during_other_backoff_s': {
            'samples': [round(t, 3) for t in during],
            'median': round(statistics.median(during), 3), 'max': round(max(during), 3),
            'own_backoff_s': 0.0, 'other_backoff_s': 20.0},
        'six_of_eight_active_s': {
            key: {'samples': [round(t, 3) for t in values],
                  'median': round(statistics.median(values), 3)}
            for key, values in isolation.items()},
    })
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
