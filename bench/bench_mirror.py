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
Audit mirror benchmarks. Results: bench/results/mirror.json; summary in docs/performance.md.

(a) throughput: small events (std_msgs/String, 64 characters) into Redis through the bus and
    the mirror (tap, ring or queue, writer, pipelined XADD with explicit IDs and MAXLEN ~),
    with the writer in its own process (``redis.writer: process``, the default) and on a
    thread (``thread``), vs raw pipelined XADD from Python of the same fields in batches of
    the same size; same run, same redis-server, the kinds alternated over rounds; medians.
    With hiredis installed (a dependency), which raw XADD and the mirror both use. The CPU
    time of each process per event (python: the bench's process, i.e. the kernel side or the
    raw client; writer; redis) is recorded next to the rates. The
    reference (the ratio's denominator) is redis-py's pipeline of ``xadd``; an extra row
    ``raw-resp`` sends the same XADDs packed as the writer packs them (audit/resp.py: one
    RESP write per batch, hiredis reader), to show what Python to Redis costs at best.
    ``raw-c`` is the same XADDs from C with hiredis' own library (bench/csrc/xadd.c), the
    reference of the native writer (``process``: the ring written by the native producer,
    the writer's hot path native) and of ``process-python`` (both Python). ``ring``: the
    writer process alone, its ring filled by the native producer in a loop (as the native
    intake fills it: no bus in front), what the target ``ring / raw-c >= 0.8`` measures.
    ``nice0`` adds the row ``process-nice0``: the writer process reniced from its nice 5 to
    the kernel's 0 (an experiment: what its lower priority costs on a shared machine).
(b) ``ingest``: end to end DDS -> kernel -> Redis, bench_kernel's interleaved ingest steps
    with the mirror modes (the ratios to the bare EventsExecutor subscriber).
"""

import itertools
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Tuple

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'src'))
sys.path.insert(0, str(ROOT / 'test'))
sys.path.insert(0, str(ROOT / 'bench'))

from _cpu import CpuMeter  # noqa: E402
from _native_tools import build as build_tool  # noqa: E402
from _results import write_results  # noqa: E402
from bench_kernel import bench_ingest  # noqa: E402
from rclpy.serialization import serialize_message  # noqa: E402
import redis  # noqa: E402
from std_msgs.msg import String  # noqa: E402
import support  # noqa: E402

from unity_kernel_core.audit.mirror import MirrorWriter  # noqa: E402
from unity_kernel_core.audit.resp import execute_packed, pack_command  # noqa: E402
from unity_kernel_core.audit.writer_process import ProcessWriter  # noqa: E402
from unity_kernel_core.bus.event_bus import EventBus  # noqa: E402
from unity_kernel_core.config.kernel_config import parse_config  # noqa: E402

WRITER_OF = {'process-nice0': 'process', 'ring': 'process'}
"""The ``redis.writer`` of a mirror kind (``ring``: the process writer, fed natively)."""
N = int(os.environ.get('BENCH_MIRROR_EVENTS', 100_000))
BATCH = 500


def payload(i: int) -> bytes:
    return serialize_message(String(data=f'{i:064d}'))


def raw_fields(n: int) -> List[Dict[str, Any]]:
    """Return the fields of ``n`` raw XADDs: what the mirror writes per event, built ahead."""
    return [{'topic': '/bench/raw', 'type': 'std_msgs/msg/String', 'tier': 'NORMAL',
             'seq': str(i), 'stamp_ns': str(time.time_ns()), 'cdr': payload(i)}
            for i in range(n)]


def timed_raw(client: 'redis.Redis', n: int, meter: CpuMeter,
              send: Callable[[List[Dict[str, Any]]], None]) -> Tuple[float, Dict[str, float]]:
    """Time ``send`` of the fields of ``n`` raw XADDs in batches; return events/s and CPU."""
    client.flushall()
    fields = raw_fields(n)
    meter.start()
    start = time.perf_counter()
    for first in range(0, n, BATCH):
        send(fields[first:first + BATCH])
    elapsed = time.perf_counter() - start
    cpu = meter.us_per_event(n)
    assert client.xlen('bench:raw') == n
    return n / elapsed, cpu


def raw_xadd(client: 'redis.Redis', n: int, meter: CpuMeter) -> Tuple[float, Dict[str, float]]:
    """Time redis-py's pipeline of XADDs (the reference)."""
    def send(batch: List[Dict[str, Any]]) -> None:
        pipe = client.pipeline(transaction=False)
        for f in batch:
            pipe.xadd('bench:raw', f)
        pipe.execute()
    return timed_raw(client, n, meter, send)


def raw_c(server: support.RedisServer, client: 'redis.Redis', n: int,
          meter: CpuMeter) -> Tuple[float, Dict[str, float]]:
    """Time pipelined XADDs of the same fields from C with hiredis (bench/csrc/xadd.c)."""
    client.flushall()
    meter.start()
    out = subprocess.run([build_tool('xadd'), str(server.port), str(n), str(BATCH),
                          str(len(payload(0)))], capture_output=True, text=True, check=True)
    cpu = meter.us_per_event(n)
    assert client.xlen('bench:raw') == n
    return float(json.loads(out.stdout)['events_per_s']), cpu


def raw_resp(client: 'redis.Redis', n: int, meter: CpuMeter) -> Tuple[float, Dict[str, float]]:
    """Time the XADDs of raw_xadd packed and read as the mirror's writer does (extra row)."""
    def send(batch: List[Dict[str, Any]]) -> None:
        replies = execute_packed(client, [
            pack_command(('XADD', 'bench:raw', '*', *itertools.chain.from_iterable(f.items())))
            for f in batch])
        assert not any(isinstance(r, Exception) for r in replies), replies[:3]
    return timed_raw(client, n, meter, send)


def mirror(url: str, client: 'redis.Redis', n: int, tmp: pathlib.Path, kind: str,
           meter: CpuMeter) -> Tuple[float, Dict[str, float]]:
    """Publish ``n`` events on the bus as fast as one thread can; time until all are in Redis."""
    client.flushall()
    config = parse_config(f'redis: {{url: "{url}", batch_size: {BATCH}, queue_size: {n}, '
                          f'writer: {WRITER_OF.get(kind, kind)}}}\n'
                          f'tiers: {{NORMAL: {{queue_size: {n}}}}}\n')
    state = tmp / f'state-{time.monotonic_ns()}'
    state.mkdir()
    writer: Any
    process = WRITER_OF.get(kind, kind).startswith('process')
    if process:
        writer = ProcessWriter(config, state)
    else:
        writer = MirrorWriter.for_config(config, state)
    writer.prime()
    bus = EventBus(config.policies())
    bus.start()
    writer.start()
    bus.add_tap(writer.offer)
    cdrs = [payload(i) for i in range(n)]
    key = 'unity:topic:/bench/mirror'
    if process:
        meter = CpuMeter(writer=writer.snapshot()['writer_pid'], **{
            name: p.pid for name, p in meter.procs.items()})
        if kind == 'process-nice0':  # experiment: the writer at the kernel's priority
            meter.procs['writer'].nice(0)  # lowering a nice value needs root
    meter.start()
    start = time.perf_counter()
    if kind == 'ring':  # the native producer fills the ring (as the native intake does)
        put = writer._producer.put_event
        for seq, cdr in enumerate(cdrs, 1):
            while put(2, b'/bench/mirror', b'std_msgs/msg/String', seq, time.time_ns(),
                      cdr) != 1:
                time.sleep(0.0002)  # the ring is full: the writer makes room
    for cdr in cdrs if kind != 'ring' else ():
        bus.publish('/bench/mirror', 'std_msgs/msg/String', cdr=cdr)
    while client.xlen(key) < n:
        time.sleep(0.002)
    elapsed = time.perf_counter() - start
    cpu = meter.us_per_event(n)
    writer.stop(10)
    bus.stop(drain=False)  # nothing subscribes: the events only fill the NORMAL lane
    snap = writer.snapshot()
    assert snap['dropped_queue'] == 0 and snap['journaled'] == 0, snap
    assert client.xlen(key) == n
    return n / elapsed, cpu


def bench_throughput(server: support.RedisServer, tmp: pathlib.Path, rounds: int = 5,
                     nice0: bool = False) -> dict:
    """Raw pipelined XADD, the mirror on a thread, the mirror's own process: alternated."""
    client = redis.Redis.from_url(server.url)
    runs: Dict[str, List[float]] = {'raw': [], 'thread': [], 'process': [], 'raw-resp': [],
                                    'raw-c': [], 'process-python': [], 'ring': []}
    if nice0:
        runs['process-nice0'] = []
    cpus: Dict[str, List[Dict[str, float]]] = {k: [] for k in runs}
    loads = []
    assert server.proc is not None
    meter = CpuMeter(python=os.getpid(), redis=server.proc.pid)
    for r in range(rounds):
        loads.append(round(os.getloadavg()[0], 2))
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for kind in order:
            if kind == 'raw':
                rate, cpu = raw_xadd(client, N, meter)
            elif kind == 'raw-c':
                rate, cpu = raw_c(server, client, N, meter)
            elif kind == 'raw-resp':
                rate, cpu = raw_resp(client, N, meter)
            else:
                rate, cpu = mirror(server.url, client, N, tmp, kind, meter)
            runs[kind].append(rate)
            cpus[kind].append(cpu)
        print('  ' + '   '.join(f'{k} {v[-1]:9.0f}/s' for k, v in runs.items()), flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    return {'events': N, 'batch': BATCH, 'hiredis': _hiredis_version(),
            'median_per_s': {k: round(v) for k, v in med.items()},
            'ratio_process_to_raw': round(med['process'] / med['raw'], 3),
            'ratio_process_to_raw_c': round(med['process'] / med['raw-c'], 3),
            'ratio_ring_to_raw_c': round(med['ring'] / med['raw-c'], 3),
            'ratio_process_python_to_raw_c': round(med['process-python'] / med['raw-c'], 3),
            'ratio_thread_to_raw': round(med['thread'] / med['raw'], 3),
            'ratio_process_to_raw_resp': round(med['process'] / med['raw-resp'], 3),
            **({'ratio_process_nice0_to_raw': round(med['process-nice0'] / med['raw'], 3)}
               if nice0 else {}),
            'ratio_by_round_process_to_raw': [round(p / r, 3) for p, r in
                                              zip(runs['process'], runs['raw'])],
            'rounds': {k: [round(x) for x in v] for k, v in runs.items()},
            'cpu_us_per_event_median': {k: {p: round(statistics.median(c[p] for c in v), 2)
                                            for p in v[0]} for k, v in cpus.items()},
            'load_avg_1m': loads}


def _hiredis_version() -> str:
    try:
        import hiredis
    except ImportError:
        return 'not installed'
    return str(hiredis.__version__)


def main() -> int:
    # usage: bench_mirror.py [rounds=N] [nice0] [ingest]  (ingest: bench_kernel's, mirror
    # modes only; nice0: an extra row, the writer process reniced to 0, as root)
    options = dict(a.split('=', 1) for a in sys.argv[1:] if '=' in a)
    with tempfile.TemporaryDirectory() as name:
        tmp = pathlib.Path(name)
        server = support.RedisServer(tmp / 'redis')
        server.start()
        try:
            print('mirror throughput vs raw pipelined XADD (alternated rounds)', flush=True)
            fields = {'throughput': bench_throughput(server, tmp,
                                                     int(options.get('rounds', 5)),
                                                     'nice0' in sys.argv[1:])}
            print(json.dumps({k: v for k, v in fields['throughput'].items()
                              if k != 'rounds'}), flush=True)
        finally:
            server.stop()
    if 'ingest' in sys.argv[1:]:
        print('end to end DDS -> kernel -> Redis (bench_kernel ingest)', flush=True)
        fields['end_to_end'] = bench_ingest(('bare-events', 'kernel', 'kernel-mirror-thread',
                                             'kernel-mirror'))
    version = subprocess.run(['redis-server', '--version'], capture_output=True,
                             text=True).stdout.split()[2][2:]
    out = write_results('mirror', fields, machine_extra=f'redis-server {version}')
    print(out.read_text(), end='')
    return 0


if __name__ == '__main__':
    sys.exit(main())
