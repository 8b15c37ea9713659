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
Fleet benchmarks. Results: bench/results/fleet.json; summary in docs/performance.md.

(a) throughput: one robot's mirror writer (the same MirrorWriter the kernel runs: batches of
    500, pipelined XADD with explicit IDs) writing small events (std_msgs/String, 64
    characters) into one redis-server, and into a real 3-master + 3-replica Redis Cluster on
    the same machine (with the default WAIT for one replica per batch, and without); best of
    5 alternating rounds; ratio cluster / one server.
(b) failover: the writer streams at a paced rate into the cluster; the master serving the
    robot's slot is killed with SIGKILL; measured: events journaled while no master served
    the slot, time from the kill until the mirror wrote again (detection + replica election,
    set by cluster-node-timeout, 1000 ms here), time to drain the journal to the new master,
    and that every event is in the cluster exactly once.
"""

import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'src'))
sys.path.insert(0, str(ROOT / 'test'))
sys.path.insert(0, str(ROOT / 'bench'))

from _results import write_results  # noqa: E402
import cluster_support  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from std_msgs.msg import String  # noqa: E402
import support  # noqa: E402

from unity_kernel_core.audit.mirror import MirrorWriter  # noqa: E402
from unity_kernel_core.audit.record import StreamKeys  # noqa: E402
from unity_kernel_core.audit.redis_connection import connect  # noqa: E402
from unity_kernel_core.bus.event_bus import EventBus  # noqa: E402
from unity_kernel_core.config.kernel_config import parse_config  # noqa: E402

N = 50_000
ROUNDS = 5
BATCH = 500
FAILOVER_RATE = 5000
FAILOVER_SECONDS = 8.0
KILL_AFTER_S = 2.0
NODE_TIMEOUT_MS = 1000


def payload(i: int) -> bytes:
    return serialize_message(String(data=f'{i:064d}'))


def writer_for(url: str, tmp: pathlib.Path, robot: str, cluster: bool, extra: str = ''):
    config = parse_config(
        f'kernel: {{robot_id: {robot}}}\n'
        f'redis: {{url: "{url}", cluster: {str(cluster).lower()}, batch_size: {BATCH}, '
        f'queue_size: {N * 2}, reconnect_interval_ms: 100{extra}}}\n'
        f'tiers: {{NORMAL: {{queue_size: {N * 2}}}}}\n')
    return MirrorWriter.for_config(config, tmp / f'state-{time.monotonic_ns()}'), config


def throughput(url: str, tmp: pathlib.Path, robot: str, cluster: bool, extra: str = '') -> float:
    writer, config = writer_for(url, tmp, robot, cluster, extra)
    writer.prime()
    bus = EventBus(config.policies())
    bus.start()
    writer.start()
    bus.add_tap(writer.offer)
    cdrs = [payload(i) for i in range(N)]
    start = time.perf_counter()
    for cdr in cdrs:
        bus.publish('/bench/fleet', 'std_msgs/msg/String', cdr=cdr)
    while writer.counters['written'] < N:
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    writer.stop(10)
    bus.stop()
    snap = writer.snapshot()
    assert snap['dropped_queue'] == 0 and snap['journaled'] == 0, snap
    client = connect(config.redis)
    assert client.xlen(StreamKeys.of(config).topic('/bench/fleet')) == N
    client.close()
    return N / elapsed


def bench_throughput(tmp: pathlib.Path) -> dict:
    server = support.RedisServer(tmp / 'single')
    server.start()
    cluster = cluster_support.RedisClusterProcesses(tmp / 'cluster')
    cluster.start()
    rounds = {'one_server': [], 'cluster_wait_1': [], 'cluster_wait_0': []}
    try:
        for i in range(ROUNDS):
            rounds['one_server'].append(throughput(server.url, tmp, f'r{i}a', False))
            rounds['cluster_wait_1'].append(throughput(cluster.url, tmp, f'r{i}b', True))
            rounds['cluster_wait_0'].append(throughput(cluster.url, tmp, f'r{i}c', True,
                                                       ', wait_replicas: 0'))
            print('  ' + '   '.join(f'{k} {v[-1]:8.0f}/s' for k, v in rounds.items()),
                  flush=True)
    finally:
        cluster.stop()
        server.stop()
    best = {k: max(v) for k, v in rounds.items()}
    return {'events': N, 'batch': BATCH, 'one_server_per_s': round(best['one_server']),
            'cluster_per_s': round(best['cluster_wait_1']),
            'cluster_no_wait_per_s': round(best['cluster_wait_0']),
            'ratio_cluster_to_one_server': round(best['cluster_wait_1'] / best['one_server'], 3),
            'ratio_cluster_no_wait_to_one_server':
                round(best['cluster_wait_0'] / best['one_server'], 3),
            'rounds': {k: [round(x) for x in v] for k, v in rounds.items()}}


def failover_once(tmp: pathlib.Path, run: int) -> dict:
    cluster = cluster_support.RedisClusterProcesses(tmp / f'failover{run}',
                                                    node_timeout_ms=NODE_TIMEOUT_MS)
    cluster.start()
    try:
        nodes = ', '.join(f'"127.0.0.1:{p}"' for p in cluster.ports)
        writer, config = writer_for(cluster.url, tmp, 'fo', True, f', cluster_nodes: [{nodes}]')
        keys = StreamKeys.of(config)
        master = cluster.master_of(keys.meta)
        writer.prime()
        bus = EventBus(config.policies())
        bus.start()
        writer.start()
        bus.add_tap(writer.offer)
        total = int(FAILOVER_RATE * FAILOVER_SECONDS)
        chunk = FAILOVER_RATE // 100
        start = time.monotonic()
        killed = back = drained = None
        peak_journal = 0
        for first in range(0, total, chunk):
            for i in range(first, min(first + chunk, total)):
                bus.publish('/bench/failover', 'std_msgs/msg/String',
                            cdr=serialize_message(String(data=str(i))))
            now = time.monotonic()
            if killed is None and now - start >= KILL_AFTER_S:
                cluster.kill(master)
                killed = now
            snap = writer.snapshot()
            peak_journal = max(peak_journal, snap['journal_pending'])
            if killed is not None and back is None and snap['drained'] > 0:
                back = now
            if killed is not None and drained is None and back is not None and \
                    snap['journal_pending'] == 0:
                drained = now
            pause = start + (first + chunk) / FAILOVER_RATE - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        while writer.snapshot()['journal_pending'] or writer.snapshot()['queue_depth']:
            now = time.monotonic()
            if back is None and writer.snapshot()['drained'] > 0:
                back = now
            time.sleep(0.005)
        drained = drained or time.monotonic()
        back = back or drained
        snap = writer.snapshot()
        writer.stop(10)
        bus.stop()
        client = connect(config.redis)
        got = [int(deserialize_message(f[b'cdr'], String).data)
               for _i, f in client.xrange(keys.topic('/bench/failover'))]
        client.close()
        assert killed is not None
        result = {'events': total, 'journaled': snap['journaled'],
                  'peak_journal_pending': peak_journal,
                  'kill_to_writing_again_s': round(back - killed, 3),
                  'drain_s': round(drained - back, 3),
                  'kill_to_up_to_date_s': round(drained - killed, 3),
                  'exactly_once': got == list(range(total)), 'duplicates': snap['duplicates']}
        print(f'  failover run {run}: {result}', flush=True)
        return result
    finally:
        cluster.stop()


def bench_failover(tmp: pathlib.Path) -> dict:
    runs = [failover_once(tmp, run) for run in range(3)]
    return {'rate_per_s': FAILOVER_RATE, 'cluster_node_timeout_ms': NODE_TIMEOUT_MS,
            'median_journaled': statistics.median(r['journaled'] for r in runs),
            'median_kill_to_writing_again_s':
                statistics.median(r['kill_to_writing_again_s'] for r in runs),
            'median_drain_s': statistics.median(r['drain_s'] for r in runs),
            'all_exactly_once': all(r['exactly_once'] for r in runs), 'runs': runs}


def main() -> int:
    with tempfile.TemporaryDirectory() as name:
        tmp = pathlib.Path(name)
        print('one robot into one server vs a 3-master cluster', flush=True)
        tput = bench_throughput(tmp)
        print(f'  best: {tput}', flush=True)
        print('master failover under load', flush=True)
        failover = bench_failover(tmp)
    out = write_results('fleet', {'throughput': tput, 'failover': failover},
                        'redis-server 7.0, cluster on loopback (3 masters, 3 replicas)')
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
