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
Export and replay of long trails: peak memory and events/s. Results: bench/results/export.json.

For each trail length (default 1 000 000 and 10 000 000 events) a private redis-server is
filled with a trail as the mirror writes it (``TOPICS`` topic streams, ``std_msgs/String`` of
64 characters, explicit IDs, sent through ``redis-cli --pipe``), then, each as its own
process (``unity-kernel ...``, as a user runs it): ``export --format mcap``, ``export
--format rosbag2`` and ``replay --fast`` (publishing on a domain of its own, nobody
subscribed). Measured per run: wall time, events/s, and the process's peak RSS (its
``VmHWM`` at exit). The target: peak RSS flat within 10 % between the shortest and the longest
trail (constant memory in the trail's length).

``python bench/bench_export.py`` runs the measured sizes (about 40 minutes for 10 M events on
the 2-core machine: a quiet machine only); ``python bench/bench_export.py 2000 20000`` a smoke
run with small trails (printed, not written).
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'src'))
sys.path.insert(0, str(ROOT / 'test'))
sys.path.insert(0, str(ROOT / 'bench'))

from _results import write_results  # noqa: E402
from rclpy.serialization import serialize_message  # noqa: E402
import redis  # noqa: E402
from std_msgs.msg import String  # noqa: E402
import support  # noqa: E402

from unity_kernel_core.audit.record import AuditRecord, StreamKeys  # noqa: E402

SIZES = [1_000_000, 10_000_000]
TOPICS = 10
START_MS = 1_764_000_000_000
CHUNK = 100_000
FLAT_WITHIN = 0.10


def _resp(*parts: bytes) -> bytes:
    out = [b'*%d\r\n' % len(parts)]
    for part in parts:
        out.append(b'$%d\r\n%s\r\n' % (len(part), part))
    return b''.join(out)


def fill(url_port: int, count: int) -> float:
    """Write a trail of ``count`` events through ``redis-cli --pipe``; return the seconds."""
    keys = StreamKeys('unity')
    topics = [f'/bench/topic_{k}' for k in range(TOPICS)]
    cdr = [serialize_message(String(data=f'{i:064d}')) for i in range(1000)]
    start = time.monotonic()
    pipe = subprocess.Popen(['redis-cli', '-p', str(url_port), '--pipe'],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert pipe.stdin is not None
    for topic in topics:
        pipe.stdin.write(_resp(b'SADD', keys.streams.encode(), keys.topic(topic).encode()))
    for first in range(0, count, CHUNK):
        block = []
        for seq in range(first + 1, min(count, first + CHUNK) + 1):
            topic = topics[seq % TOPICS]
            ms = START_MS + seq // 10  # 10 000 events a second
            record = AuditRecord(topic, 'std_msgs/msg/String', 'NORMAL', seq,
                                 ms * 1_000_000 + seq % 10, cdr[seq % 1000])
            args = [b'XADD', keys.topic(topic).encode(), f'{ms}-{seq}'.encode()]
            for name, value in record.fields().items():
                args += [name.encode(), value if isinstance(value, bytes) else value.encode()]
            block.append(_resp(*args))
        pipe.stdin.write(b''.join(block))
    pipe.stdin.close()
    if pipe.wait() != 0:
        raise RuntimeError('redis-cli --pipe failed')
    return time.monotonic() - start


MEASURED = (
    'import atexit, re, sys\n'
    'def peak():\n'
    '    hwm = re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)\n'
    '    sys.stderr.write("peak_rss_kib=%s\\n" % hwm)\n'
    'atexit.register(peak)\n'
    'from unity_kernel_core.cli.main import main\n'
    'sys.exit(main(sys.argv[1:]))\n')
"""``unity-kernel ARGS`` reporting its own peak RSS at exit: ``VmHWM`` of the process's memory
after exec (``wait4``'s ``ru_maxrss`` would include the bench's own memory at fork)."""


def run_measured(args: List[str], env: Dict[str, str]) -> Dict[str, float]:
    """Run ``unity-kernel ARGS``; return wall seconds and peak RSS (MiB) of that process."""
    start = time.monotonic()
    result = subprocess.run([sys.executable, '-c', MEASURED, *args], env=env,
                            capture_output=True, text=True)
    seconds = time.monotonic() - start
    if result.returncode != 0:
        raise RuntimeError(f'{args[0]} exited {result.returncode}: {result.stderr[-2000:]}')
    found = re.search(r'peak_rss_kib=(\d+)', result.stderr)
    if found is None:
        raise RuntimeError(f'{args[0]} did not report its peak RSS: {result.stderr[-2000:]}')
    return {'seconds': round(seconds, 2), 'peak_rss_mib': round(int(found.group(1)) / 1024, 1),
            'stdout': result.stdout.strip()}


def main(argv: List[str]) -> int:
    sizes = [int(a) for a in argv] or SIZES
    smoke = bool(argv)
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = pathlib.Path(tmp_text)
        env = support.ros_environment(tmp / 'ros')
        env = dict(os.environ, **env)
        server = support.RedisServer(tmp / 'redis')
        server.start()
        try:
            client = redis.Redis.from_url(server.url)
            for size in sizes:
                client.flushall()
                fill_s = fill(server.port, size)
                assert sum(int(client.xlen(k)) for k in client.smembers('unity:streams')) == size
                row: Dict[str, Dict[str, float]] = {'fill': {'seconds': round(fill_s, 1)}}
                for name, args in (
                        ('export_mcap', ['export', '--url', server.url, '-o',
                                         str(tmp / 'trail.mcap')]),
                        ('export_rosbag2', ['export', '--url', server.url, '--format',
                                            'rosbag2', '-o', str(tmp / 'bag')]),
                        ('replay', ['replay', '--url', server.url, '--fast'])):
                    measured = run_measured(args, env)
                    measured['events_per_s'] = round(size / measured['seconds'])
                    row[name] = measured
                    print(f'{size:>10} {name:<15} {measured["seconds"]:>8.1f} s '
                          f'{measured["events_per_s"]:>8} ev/s  '
                          f'peak RSS {measured["peak_rss_mib"]:>7.1f} MiB', flush=True)
                (tmp / 'trail.mcap').unlink()
                shutil.rmtree(tmp / 'bag')
                results[str(size)] = row
        finally:
            server.stop()
            support.release_domain_id(int(env['ROS_DOMAIN_ID']))
    low, high = str(min(sizes)), str(max(sizes))
    flat = {name: round(results[high][name]['peak_rss_mib'] / results[low][name]['peak_rss_mib']
                        - 1, 3)
            for name in ('export_mcap', 'export_rosbag2', 'replay')}
    for name, growth in flat.items():
        print(f'{name}: peak RSS {low} -> {high} events: {growth:+.1%} '
              f'({"within" if abs(growth) <= FLAT_WITHIN else "OVER"} the 10 % target)')
    fields = {'topics': TOPICS, 'message': 'std_msgs/String, 64 characters', 'sizes': results,
              'peak_rss_growth': flat}
    if smoke:  # small trails say nothing about memory: nothing written under bench/results
        print(fields)
        return 0
    write_results('export', fields, 'redis-server on loopback')
    return 0 if all(abs(g) <= FLAT_WITHIN for g in flat.values()) else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
