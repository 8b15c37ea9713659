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
Audit mirror benchmarks (issue 3). Results: bench/results/mirror.json; summary in docs.

(a) throughput: small events (std_msgs/String, 64 characters) into Redis through the bus and
    the mirror (tap, queue, writer thread, pipelined XADD with explicit IDs and MAXLEN ~),
    vs raw pipelined XADD from Python of the same fields in batches of the same size, same
    run, same redis-server; best of 3 alternating rounds each; ratio (target >= 0.5).
(b) end to end: a talker process publishes reliable std_msgs/String at paced rates, the
    kernel process (mirror on) writes them to Redis; the entries in the topic's stream are
    counted (by the message's sequence number): the loss at each rate. Baseline in the same
    run: the kernel without the mirror (bench_kernel's ingest step, counted on the bus).
"""

import os
import pathlib
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'src'))
sys.path.insert(0, str(ROOT / 'test'))
sys.path.insert(0, str(ROOT / 'bench'))

from _results import write_results  # noqa: E402
from bench_kernel import ingest_step  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
import redis  # noqa: E402
from std_msgs.msg import String  # noqa: E402
import support  # noqa: E402

from unity_kernel_core.audit.journal import Journal  # noqa: E402
from unity_kernel_core.audit.mirror import MirrorWriter  # noqa: E402
from unity_kernel_core.audit.record import StreamKeys  # noqa: E402
from unity_kernel_core.audit.redis_connection import connect  # noqa: E402
from unity_kernel_core.bus.event_bus import EventBus  # noqa: E402
from unity_kernel_core.config.kernel_config import parse_config  # noqa: E402

N = 100_000
BATCH = 500
RATES = [1000, 2000, 4000, 6000, 8000, 10000, 12000]
SECONDS_PER_STEP = 2.0


def payload(i: int) -> bytes:
    return serialize_message(String(data=f'{i:064d}'))


def raw_xadd(client: 'redis.Redis', n: int) -> float:
    client.flushall()
    fields = [{'topic': '/bench/raw', 'type': 'std_msgs/msg/String', 'tier': 'NORMAL',
               'seq': str(i), 'stamp_ns': str(time.time_ns()), 'cdr': payload(i)}
              for i in range(n)]
    start = time.perf_counter()
    for first in range(0, n, BATCH):
        pipe = client.pipeline(transaction=False)
        for f in fields[first:first + BATCH]:
            pipe.xadd('bench:raw', f)
        pipe.execute()
    elapsed = time.perf_counter() - start
    assert client.xlen('bench:raw') == n
    return n / elapsed


def mirror(url: str, client: 'redis.Redis', n: int, tmp: pathlib.Path) -> float:
    client.flushall()
    config = parse_config(f'redis: {{url: "{url}", batch_size: {BATCH}, queue_size: {n}}}\n'
                          f'tiers: {{NORMAL: {{queue_size: {n}}}}}\n')
    journal = Journal(tmp / f'journal-{time.monotonic_ns()}', config.redis.journal_max_bytes)
    writer = MirrorWriter(config.redis, config.routes, StreamKeys('unity'), journal,
                          lambda: connect(config.redis))
    writer.prime()
    bus = EventBus(config.policies())
    bus.start()
    writer.start()
    bus.add_tap(writer.offer)
    cdrs = [payload(i) for i in range(n)]
    start = time.perf_counter()
    for cdr in cdrs:
        bus.publish('/bench/mirror', 'std_msgs/msg/String', cdr=cdr)
    while writer.counters['written'] < n:
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    writer.stop(10)
    bus.stop()
    snap = writer.snapshot()
    assert snap['dropped_queue'] == 0 and snap['journaled'] == 0, snap
    assert client.xlen('unity:topic:/bench/mirror') == n
    return n / elapsed


def bench_throughput(server: support.RedisServer, tmp: pathlib.Path) -> dict:
    client = redis.Redis.from_url(server.url)
    raw, mirrored = [], []
    for _ in range(3):
        raw.append(raw_xadd(client, N))
        mirrored.append(mirror(server.url, client, N, tmp))
        print(f'  raw {raw[-1]:9.0f}/s   mirror {mirrored[-1]:9.0f}/s', flush=True)
    best_raw, best_mirror = max(raw), max(mirrored)
    return {'events': N, 'batch': BATCH, 'raw_xadd_per_s': round(best_raw),
            'mirror_per_s': round(best_mirror), 'ratio': round(best_mirror / best_raw, 3),
            'rounds': {'raw': [round(r) for r in raw], 'mirror': [round(m) for m in mirrored]}}


def stream_count(client: 'redis.Redis', key: str) -> int:
    seen = set()
    for _id, fields in client.xrange(key):
        seen.add(int(deserialize_message(fields[b'cdr'], String).data))
    return len(seen)


def bench_end_to_end(server: support.RedisServer, tmp: pathlib.Path) -> dict:
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(50, 100)),
               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONPATH=str(ROOT / 'src'))
    config = tmp / 'kernel.yaml'
    config.write_text(f'kernel: {{state_dir: {tmp / "state"}, discovery_period_s: 0.2}}\n'
                      f'redis: {{url: "{server.url}"}}\n'
                      'tiers: {NORMAL: {qos: {depth: 1000}}}\n')
    log = open(tmp / 'kernel.log', 'wb')
    kernel = subprocess.Popen(
        [sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args', '-p',
         f'config_file:={config}', '-p', 'autostart:=true'], env=env, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    client = redis.Redis.from_url(server.url)
    steps, best = [], 0
    try:
        time.sleep(3)
        for rate in RATES:
            count = int(rate * SECONDS_PER_STEP)
            topic = f'/bench/e2e{rate}'
            pub = subprocess.run(
                [sys.executable, str(ROOT / 'test' / 'nodes' / 'talker.py'), '--topic', topic,
                 '--count', str(count), '--rate', str(rate), '--linger', '0.5'],
                env=env, capture_output=True, text=True, timeout=120)
            assert 'talker: done' in pub.stdout, pub.stdout + pub.stderr
            key = f'unity:topic:{topic}'
            previous = -1
            while True:  # settle: the count stops growing
                time.sleep(0.5)
                got = client.xlen(key)
                if got == previous:
                    break
                previous = got
            received = stream_count(client, key)
            steps.append({'rate': rate, 'sent': count, 'in_redis': received,
                          'lost': count - received})
            print(f'  end-to-end {rate:6d} msg/s: in Redis {received}/{count}', flush=True)
            if received < count:
                break
            best = rate
    finally:
        os.killpg(kernel.pid, signal.SIGINT)
        kernel.wait(30)
        log.close()
    stopped = re.search(r'mirror stopped: (\d+) written, (\d+) journaled .*, (\d+) dropped',
                        (tmp / 'kernel.log').read_text())
    mirror_counts = ({'written': int(stopped.group(1)), 'journaled': int(stopped.group(2)),
                      'dropped': int(stopped.group(3))} if stopped else None)
    baseline, base_best = [], 0
    no_mirror = tmp / 'no-mirror.yaml'
    no_mirror.write_text(f'kernel: {{state_dir: {tmp / "state2"}, discovery_period_s: 0.2}}\n'
                         'redis: {enabled: false}\n'
                         'tiers: {NORMAL: {qos: {depth: 1000}}}\n')
    for rate in RATES:
        lost = ingest_step('kernel', rate, env, str(no_mirror))
        baseline.append({'rate': rate, 'lost': lost})
        print(f'  kernel without mirror {rate:6d} msg/s: lost {lost}', flush=True)
        if lost:
            break
        base_best = rate
    return {'max_zero_loss_rate': best, 'steps': steps, 'mirror': mirror_counts,
            'kernel_without_mirror': {'max_zero_loss_rate': base_best, 'steps': baseline}}


def main() -> int:
    with tempfile.TemporaryDirectory() as name:
        tmp = pathlib.Path(name)
        server = support.RedisServer(tmp / 'redis')
        server.start()
        try:
            print('mirror throughput vs raw pipelined XADD', flush=True)
            throughput = bench_throughput(server, tmp)
            print('end to end DDS -> kernel -> Redis', flush=True)
            e2e = bench_end_to_end(server, tmp)
        finally:
            server.stop()
    version = subprocess.run(['redis-server', '--version'], capture_output=True,
                             text=True).stdout.split()[2][2:]
    out = write_results('mirror', {'throughput': throughput, 'end_to_end': e2e},
                        machine_extra=f'redis-server {version}')
    print(out.read_text(), end='')
    return 0


if __name__ == '__main__':
    sys.exit(main())
