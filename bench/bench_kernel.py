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
Kernel benchmarks (issue: the spine). Results: bench/results/kernel.json; summary in docs.

(a) ingest: highest paced rate with zero loss, bare rclpy subscriber vs the kernel, same run,
    reliable std_msgs/String, publisher in its own process; received counted by sequence.
(b) isolation: CRITICAL publish-to-handler latency p50/p99 on the bus, idle vs while LOW is
    flooded by another thread with busy handlers; ROUNDS rounds, the median ratio counts.
"""

import json
import os
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from _results import write_results

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'src'))

from unity_kernel_core.bus.event_bus import EventBus  # noqa: E402
from unity_kernel_core.bus.events import Tier  # noqa: E402

RATES = [1000, 2000, 4000, 6000, 8000, 10000, 12000, 16000, 20000]
ROUNDS = 3
SECONDS_PER_STEP = 2.0


def ingest_step(mode: str, rate: int, env: dict, config: str) -> int:
    count = int(rate * SECONDS_PER_STEP)
    topic = '/bench/ingest'
    recv = subprocess.Popen(
        [sys.executable, str(ROOT / 'bench' / 'ingest_receiver.py'), mode, topic,
         str(SECONDS_PER_STEP + 6), config], env=env, stdout=subprocess.PIPE, text=True)
    assert recv.stdout is not None
    assert recv.stdout.readline().strip() == 'ready'
    pub = subprocess.run(
        [sys.executable, str(ROOT / 'test' / 'nodes' / 'talker.py'), '--topic', topic,
         '--count', str(count), '--rate', str(rate), '--linger', '0.5'],
        env=env, capture_output=True, text=True, timeout=120)
    assert 'talker: done' in pub.stdout, pub.stdout + pub.stderr
    out, _ = recv.communicate(timeout=60)
    received = json.loads(out.strip().splitlines()[-1])['received']
    return count - received


def bench_ingest() -> dict:
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(50, 100)),
               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONPATH=str(ROOT / 'src'))
    with tempfile.TemporaryDirectory() as tmp:
        config = pathlib.Path(tmp) / 'kernel.yaml'
        config.write_text(f'kernel: {{state_dir: {tmp}, discovery_period_s: 0.2}}\n'
                          'redis: {enabled: false}\n'
                          'tiers: {NORMAL: {qos: {depth: 1000}}}\n')
        result = {}
        for mode in ('bare', 'kernel'):
            best, steps = 0, []
            for rate in RATES:
                lost = ingest_step(mode, rate, env, str(config))
                steps.append({'rate': rate, 'lost': lost})
                print(f'  ingest {mode:6s} {rate:6d} msg/s: lost {lost}', flush=True)
                if lost:
                    break
                best = rate
            result[mode] = {'max_zero_loss_rate': best, 'steps': steps}
    bare = result['bare']['max_zero_loss_rate']
    result['ratio'] = round(result['kernel']['max_zero_loss_rate'] / bare, 3) if bare else None
    return result


def critical_latencies(bus: EventBus, n: int = 2000) -> list:
    lat = []
    done = threading.Event()

    def handler(e):
        lat.append((time.monotonic_ns() - e.mono_ns) / 1e6)
        if len(lat) >= n:
            done.set()

    sub = bus.subscribe('/safety/bench', handler)
    for _ in range(n):
        bus.publish('/safety/bench', 'bench/msg/X', 1, tier=Tier.CRITICAL)
        time.sleep(0.0005)
    done.wait(30)
    bus.unsubscribe(sub)
    return lat


def pct(values: list, q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def bench_isolation(paced: bool) -> dict:
    """
    Measure CRITICAL latency idle, then under a LOW flood.

    ``paced``: LOW receives 10 000 events/s in bursts of 100 (more than its busy handlers can
    take, so LOW saturates and drops); otherwise a thread publishes to LOW as fast as Python
    can, competing for the interpreter lock with everything else.
    """
    bus = EventBus()
    bus.start()
    idle = critical_latencies(bus)

    def busy(e):
        end = time.perf_counter() + 0.0002
        while time.perf_counter() < end:
            pass

    bus.subscribe('/low/**', busy)
    flooding = threading.Event()
    flooding.set()

    def flood():
        i = 0
        while flooding.is_set():
            bus.publish(f'/low/flood{i % 4}', 'bench/msg/X', i, tier=Tier.LOW)
            i += 1
            if i % 100 == 0:
                time.sleep(0.01 if paced else 0.0001)

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    time.sleep(0.5)
    loaded = critical_latencies(bus)
    low = bus.stats()[Tier.LOW]
    flooding.clear()
    flooder.join()
    bus.stop(drain=False)
    out = {
        'idle_p50_ms': round(statistics.median(idle), 4), 'idle_p99_ms': round(pct(idle, .99), 4),
        'flood_p50_ms': round(statistics.median(loaded), 4),
        'flood_p99_ms': round(pct(loaded, .99), 4),
        'low_published': low.published, 'low_dropped': low.dropped,
    }
    out['p99_ratio'] = round(out['flood_p99_ms'] / out['idle_p99_ms'], 3)
    return out


def main() -> int:
    print('isolation (bus, CRITICAL latency idle vs LOW flood)...', flush=True)
    isolation = {}
    for name, paced in (('paced_flood', True), ('unpaced_flood', False)):
        rounds = []
        for _ in range(ROUNDS):
            rounds.append(bench_isolation(paced))
            print(f'  {name}: {rounds[-1]}', flush=True)
        isolation[name] = {'median_p99_ratio': statistics.median(r['p99_ratio'] for r in rounds),
                           'rounds': rounds}
    print('ingest (paced, reliable, zero-loss rate)...', flush=True)
    ingest = bench_ingest()
    out = write_results('kernel', {
        'ingest': ingest, 'isolation': isolation,
        'targets': {'ingest_ratio': '>= 0.8', 'critical_p99_flood_over_idle': '<= 1.5'},
    })
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
