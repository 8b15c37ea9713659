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

import itertools
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

RATES = [4000, 6000, 8000, 10000, 12000, 14000, 16000, 20000]
ROUNDS = 3
INGEST_ROUNDS = 3
SECONDS_PER_STEP = 2.0


MODES = ('bare-events', 'bare', 'kernel', 'kernel-mirror-thread', 'kernel-mirror')
"""Ingest receivers: the bare EventsExecutor subscriber is the reference of every ratio."""

_steps = itertools.count()


def ingest_step(mode: str, rate: int, env: dict, config: str, redis_url: str = '') -> int:
    """Publish ``rate`` msg/s for SECONDS_PER_STEP to a ``mode`` receiver; return the loss."""
    count = int(rate * SECONDS_PER_STEP)
    topic = f'/bench/ingest{next(_steps)}'
    recv = subprocess.Popen(
        [sys.executable, str(ROOT / 'bench' / 'ingest_receiver.py'), mode, topic,
         str(SECONDS_PER_STEP + 6), config, redis_url], env=env, stdout=subprocess.PIPE,
        text=True)
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


def ros_env() -> dict:
    return dict(os.environ, ROS_DOMAIN_ID=str(random.randint(50, 100)),
                ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONPATH=str(ROOT / 'src'))


def bench_ingest(modes=MODES, rates=RATES, rounds: int = INGEST_ROUNDS) -> dict:
    """
    Step every mode up the paced rates, interleaved: per rate, each mode still lossless.

    One round takes every mode to its first loss; the rounds alternate the modes' order.
    Per mode the median of the rounds' highest zero-loss rates counts; the ratios are taken
    against ``bare-events`` (per round and of the medians). Load averages are recorded.
    """
    sys.path.insert(0, str(ROOT / 'test'))
    import support
    env = ros_env()
    with tempfile.TemporaryDirectory() as tmp:
        server = support.RedisServer(pathlib.Path(tmp) / 'redis')
        server.start()
        try:
            configs = {}
            for mode in modes:
                state = pathlib.Path(tmp) / f'state-{mode}'
                redis_line = 'redis: {enabled: false}\n'
                if mode.startswith('kernel-mirror'):
                    writer = 'thread' if mode.endswith('-thread') else 'process'
                    redis_line = f'redis: {{url: "{server.url}", writer: {writer}}}\n'
                path = pathlib.Path(tmp) / f'{mode}.yaml'
                path.write_text(f'kernel: {{state_dir: {state}, discovery_period_s: 0.2}}\n'
                                f'{redis_line}tiers: {{NORMAL: {{qos: {{depth: 1000}}}}}}\n')
                configs[mode] = str(path)
            per_round = []
            for r in range(rounds):
                order = list(modes) if r % 2 == 0 else list(reversed(modes))
                best = dict.fromkeys(modes, 0)
                steps: dict = {m: [] for m in modes}
                live = set(modes)
                load = os.getloadavg()[0]
                for rate in rates:
                    for mode in order:
                        if mode not in live:
                            continue
                        lost = ingest_step(mode, rate, env, configs[mode], server.url)
                        steps[mode].append({'rate': rate, 'lost': lost})
                        print(f'  round {r + 1} ingest {mode:13s} {rate:6d} msg/s: lost {lost}',
                              flush=True)
                        if lost:
                            live.discard(mode)
                        else:
                            best[mode] = rate
                    if not live:
                        break
                per_round.append({'max_zero_loss_rate': best, 'steps': steps,
                                  'load_avg_1m': [round(load, 2),
                                                  round(os.getloadavg()[0], 2)]})
        finally:
            server.stop()
    medians = {m: statistics.median(r['max_zero_loss_rate'][m] for r in per_round)
               for m in modes}
    ref = medians.get('bare-events')
    return {'rates': list(rates), 'rounds': per_round, 'median_max_zero_loss_rate': medians,
            'ratio_to_bare_events': {m: round(v / ref, 3) if ref else None
                                     for m, v in medians.items()},
            'ratio_per_round': [{m: round(r['max_zero_loss_rate'][m] /
                                          r['max_zero_loss_rate']['bare-events'], 3)
                                 if r['max_zero_loss_rate'].get('bare-events') else None
                                 for m in modes} for r in per_round]}


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
    # usage: bench_kernel.py [isolation] [ingest] [modes=a,b,...] [rounds=N]
    options = dict(a.split('=', 1) for a in sys.argv[1:] if '=' in a)
    parts = [a for a in sys.argv[1:] if '=' not in a] or ['isolation', 'ingest']
    out_fields: dict = {'targets': {'ingest_ratio': '>= 0.8 (kernel-mirror / bare-events)',
                                    'critical_p99_flood_over_idle': '<= 1.5'}}
    if 'isolation' in parts:
        print('isolation (bus, CRITICAL latency idle vs LOW flood)...', flush=True)
        isolation = {}
        for name, paced in (('paced_flood', True), ('unpaced_flood', False)):
            rounds = []
            for _ in range(ROUNDS):
                rounds.append(bench_isolation(paced))
                print(f'  {name}: {rounds[-1]}', flush=True)
            isolation[name] = {
                'median_p99_ratio': statistics.median(r['p99_ratio'] for r in rounds),
                'rounds': rounds, 'load_avg_1m': round(os.getloadavg()[0], 2)}
        out_fields['isolation'] = isolation
    if 'ingest' in parts:
        print('ingest (paced, reliable, zero-loss rate, modes interleaved)...', flush=True)
        modes = tuple(options['modes'].split(',')) if 'modes' in options else MODES
        out_fields['ingest'] = bench_ingest(modes, rounds=int(options.get('rounds',
                                                                          INGEST_ROUNDS)))
        print(json.dumps({k: out_fields['ingest'][k] for k in
                          ('median_max_zero_loss_rate', 'ratio_to_bare_events')}), flush=True)
    name = 'kernel' if len(parts) == 2 and not options else 'kernel-' + '-'.join(parts)
    out = write_results(name, out_fields)
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
