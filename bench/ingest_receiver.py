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
Receiver for the ingest benchmarks: a bare rclpy subscriber, or the kernel.

``python bench/ingest_receiver.py MODE TOPIC SECONDS [CONFIG [REDIS_URL]]`` subscribes,
prints ``ready``, runs for SECONDS or until SIGINT, and prints one JSON line: how many
distinct sequence numbers arrived. Modes:

- ``bare-events``: a bare subscriber spun by rclpy's EventsExecutor (the reference);
- ``bare``: a bare subscriber on a SingleThreadedExecutor;
- ``kernel``, ``kernel-python``: the kernel, counted by a bus handler;
- ``kernel-mirror``, ``kernel-python-mirror``: the kernel with its Redis mirror, counted in
  the topic's stream after the kernel shut down and flushed; ``kernel-mirror-thread``: the
  same with the writer on a thread of the kernel's process (as it was before the writer
  process);
  ``kernel-mirror-nice0``: the writer process at nice 0 (``redis.writer_nice``) instead of 5;
- ``kernel-critical``: the kernel with a handler on TOPIC taking each message's latency from
  the publish time ``bench/critical_probe.py`` put in it (printed too).

Which intake and writer the kernel runs is its CONFIG's (``bench_kernel.ingest_config``:
``kernel.intake`` native or python). A message's number is the first word of its text (the
C talker pads large messages after it). A trimmed stream (the large-message runs keep few
entries) is counted by its ``entries-added`` (every entry ID is the kernel's, written once:
a duplicate is refused).
"""

import json
import signal
import sys
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.experimental import EventsExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String


def number(cdr: bytes) -> int:
    """Return the message number of a std_msgs/String's CDR (4-byte header, length, text)."""
    return int(cdr[8:].split(b'\0', 1)[0].split(b' ', 1)[0])


def bare(topic: str, seconds: float, executor_factory) -> set:
    seen: set = set()
    node = rclpy.create_node('bare_subscriber')
    node.create_subscription(String, topic, lambda m: seen.add(int(m.data.split(' ', 1)[0])),
                             QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
    executor = executor_factory()
    executor.add_node(node)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_args: stop.set())
    print('ready', flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stop.is_set():
        try:
            executor.spin_once(timeout_sec=0.05)
        except Exception:  # rclpy's own SIGINT handling may shut the context down first
            break
    executor.shutdown()
    node.destroy_node()
    return seen


def kernel(topic: str, seconds: float, config: str, count_on_bus: bool,
           latencies: 'list | None' = None) -> set:
    from unity_kernel_core.kernel.node import KernelNode
    seen: set = set()
    node = KernelNode(config_file=config)

    def stamped(e):
        # critical_probe.py: "<n> <time_ns at publish>"; the handler takes the latency
        now = time.time_ns()
        n, sent = e.cdr[8:].split(b'\0', 1)[0].split()[:2]
        seen.add(int(n))
        latencies.append((now - int(sent)) / 1e6)

    def on_active(n):
        if latencies is not None:
            n.bus.subscribe(topic, stamped, name='critical_latency')
        elif count_on_bus:
            # std_msgs/String CDR: 4-byte header, 4-byte length, text, NUL
            n.bus.subscribe(topic, lambda e: seen.add(number(e.cdr)))
        print('ready', flush=True)

    try:
        from unity_kernel_core.ros.lifecycle_base import ShutdownSignals, spin_until_shutdown
    except ImportError:  # an older code base (bench_kernel.py critical before=SRC)
        from unity_kernel_core.ros.runtime import spin_until_signal
        old_stop = threading.Event()
        timer = threading.Timer(seconds, old_stop.set)
        timer.daemon = True
        timer.start()
        spin_until_signal(node, autostart=True, on_active=on_active, stop=old_stop)
    else:
        stop = ShutdownSignals()
        stop.install()  # SIGINT: the kernel shuts down in order (the bench's stop)
        timer = threading.Timer(seconds, stop.request)
        timer.daemon = True
        timer.start()
        spin_until_shutdown(node, autostart=True, on_active=on_active, signals=stop)
    timer.cancel()
    node.destroy_node()
    return seen


def in_redis(url: str, topic: str) -> 'set | range':
    import redis
    client = redis.Redis.from_url(url)
    key = f'unity:topic:{topic}'
    if not client.exists(key):
        return set()
    info = client.xinfo_stream(key)
    if info['length'] < info['entries-added']:  # trimmed (large messages): count the adds
        return range(int(info['entries-added']))
    return {number(f[b'cdr']) for _id, f in client.xrange(key)}


def main() -> int:
    mode, topic, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with rclpy.init():
        if mode == 'bare-events':
            seen = bare(topic, seconds, EventsExecutor)
        elif mode == 'bare':
            seen = bare(topic, seconds, SingleThreadedExecutor)
        elif mode == 'kernel-critical':
            latencies: list = []
            seen = kernel(topic, seconds, sys.argv[4], False, latencies)
        else:
            seen = kernel(topic, seconds, sys.argv[4], count_on_bus='mirror' not in mode)
    if 'mirror' in mode:
        seen = in_redis(sys.argv[5], topic)
    out: dict = {'mode': mode, 'received': len(seen)}
    if mode == 'kernel-critical':
        out['latencies_ms'] = latencies
    print(json.dumps(out), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
