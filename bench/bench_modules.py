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
Module supervision benchmarks (issue: modules). Results: bench/results/modules.json.

(a) boot: time from starting the kernel process to every one of N node modules active
    (independent modules, so they come up concurrently), for several N;
(b) recovery: time from ``kill -9`` of a node module's process to that module active again,
    with the default health limits (checked every 1 s) and no restart back-off, repeated.

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
from typing import Dict, List

from _results import write_results

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULE_NODE = ROOT / 'test' / 'nodes' / 'lifecycle_module.py'
BOOT_SIZES = [1, 4, 8]
RECOVERIES = 5


def write_modules(root: pathlib.Path, names: List[str], marker: pathlib.Path) -> pathlib.Path:
    mods = root / 'modules'
    for name in names:
        d = mods / name
        d.mkdir(parents=True)
        (d / 'manifest.yaml').write_text(
            f'name: {name}\nversion: 1.0.0\nkind: node\nexecutable: {MODULE_NODE}\n'
            f'parameters: {{marker: {json.dumps(str(marker))}}}\n'
            'restart: {max_restarts: 100, window_s: 60, backoff_initial_s: 0, '
            'backoff_max_s: 0}\n')
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
    out = write_results('modules', {
        'boot_s_by_modules': boot,
        'recovery_s': {'samples': [round(t, 3) for t in recovery],
                       'median': round(statistics.median(recovery), 3),
                       'max': round(max(recovery), 3),
                       'health_check_period_s': 1.0, 'backoff_s': 0.0},
    })
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
