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
Live view benchmark: a 640x480 rgb8 camera at 30 fps through the kernel's Foxglove server.

A ``unity-kernel up`` (no modules, no audit mirror, so the figures are the live view's) maps
``/sensors/bench/image_raw`` (HIGH) from test/nodes/image_publisher.py and
``/safety/bench_ping`` (CRITICAL) from a publisher in this process, whose messages carry their
publish time (``time.time_ns()``). Measured, each over a window after a warm-up:

- frames/s one client receives (target 30), and the kernel's CPU with that client minus its
  CPU with no client (images ingested but not forwarded): the live view's added CPU;
- what a slow client subscribed to the same images (it never reads) costs: the fast client's
  frames/s and the kernel's ingest with it, as ratios of the same without it (targets: 0.6
  each), and the fast client's frames/s over what the kernel ingested in the same window
  (target 0.8: independent of the machine's load);
- the CRITICAL topic's publish -> client latency p50/p99: idle (no image subscriber), while a
  slow client (subscribed to the images, never reads) is flooded, and while the measuring
  client itself also takes the images;
- the CRITICAL latency (and pings lost) for ONE slow client subscribed to both the images and
  the pings, reading ~640 kB/s (a tenth of the image stream), so its image backlog is full;
- the same image stream through a rosbridge-style JSON encoding (message -> dict with base64
  ``data`` -> JSON), done by a forwarder in this process on its own protocol server
  (``live/ws_server.py``, when this checkout has it): frames/s received and that forwarder's
  CPU, for comparison with the CDR path.

CPU is psutil's ``cpu_percent`` (100 = one core). Results: bench/results/live.json; summary
in docs/performance.md. ``python bench/bench_live.py smoke``: short windows, printed only.
"""

import base64
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List

from _results import write_results
import psutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'src'))
sys.path.insert(0, str(ROOT / 'test'))

from foxglove_client import FoxgloveClient, slow_client, SlowReader  # noqa: E402, I100
import support  # noqa: E402  (test helpers: ROS domain ids)

WARMUP_S = 3.0
WINDOW_S = 10.0
WIDTH, HEIGHT, FPS = 640, 480, 30.0
IMAGE_TOPIC = '/sensors/bench/image_raw'
PING_TOPIC = '/safety/bench_ping'
PING_HZ = 50.0


def pct(values: List[float], q: float) -> float:
    if not values:
        return float('nan')
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Pinger:
    """Publish CRITICAL pings carrying their publish time, from this process."""

    def __init__(self, domain_id: int) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from std_msgs.msg import String
        self._string = String
        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=domain_id)
        self.node = rclpy.create_node('bench_pinger', context=self.ctx)
        self.pub = self.node.create_publisher(String, PING_TOPIC, 100)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = 1.0 / PING_HZ
        next_t = time.monotonic()
        while not self._stop.is_set():
            self.pub.publish(self._string(data=str(time.time_ns())))
            next_t += period
            time.sleep(max(0.0, next_t - time.monotonic()))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.node.destroy_node()
        self.ctx.try_shutdown()


def latency_window(client: FoxgloveClient, ping_sub: int, seconds: float) -> List[float]:
    """Collect publish -> client latencies (ms) of the pings received in the window."""
    from rclpy.serialization import deserialize_message
    from std_msgs.msg import String
    out: List[float] = []

    def on_message(sub_id: int, _now: float, _log: int, payload: bytes) -> None:
        if sub_id == ping_sub:
            sent = int(deserialize_message(payload, String).data)
            out.append((time.time_ns() - sent) / 1e6)
    client.on_message = on_message
    time.sleep(seconds)
    client.on_message = None
    return out


def ingested(dashboard: str) -> int:
    """Return how many events the kernel's HIGH tier took in so far (dashboard API)."""
    import urllib.request
    with urllib.request.urlopen(dashboard + 'api/state', timeout=10) as response:
        state = json.loads(response.read())
    return next(t['published'] for t in state['tiers'] if t['tier'] == 'HIGH')


def cpu(proc: psutil.Process, seconds: float) -> float:
    proc.cpu_percent(None)
    time.sleep(seconds)
    return proc.cpu_percent(None)


def rosbridge_style(domain_id: int) -> Dict[str, Any]:
    """Forward the images as rosbridge-style JSON through our protocol server; measure."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from unity_kernel_core.bus.events import Tier
    try:
        from unity_kernel_core.live.ws_server import ServerOptions, WsServer
    except ImportError:  # an older checkout (foxglove-sdk): compare the kernel path only
        return {'skipped': 'no live/ws_server.py in this checkout'}

    ctx = Context()
    rclpy.init(context=ctx, domain_id=domain_id)
    node = rclpy.create_node('bench_json_bridge', context=ctx)
    server = WsServer(ServerOptions('127.0.0.1', 0))
    server.start()
    channel = server.add_channel(IMAGE_TOPIC, 'json', '', '')

    def on_image(msg: Any) -> None:
        if not server.has_subscribers(channel):
            return
        doc = {'header': {'stamp': {'sec': msg.header.stamp.sec,
                                    'nanosec': msg.header.stamp.nanosec},
                          'frame_id': msg.header.frame_id},
               'height': msg.height, 'width': msg.width, 'encoding': msg.encoding,
               'is_bigendian': msg.is_bigendian, 'step': msg.step,
               'data': base64.b64encode(bytes(msg.data)).decode()}
        server.send(channel, json.dumps(doc).encode(), time.time_ns(), Tier.HIGH)

    node.create_subscription(Image, IMAGE_TOPIC, on_image, qos_profile_sensor_data)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    me = psutil.Process()
    try:
        client = FoxgloveClient(f'ws://127.0.0.1:{server.port}', keep_payloads=False)
        sub = client.subscribe(IMAGE_TOPIC)
        time.sleep(WARMUP_S)
        got0 = client.counts.get(sub, 0)
        bytes0 = client.bytes
        used = cpu(me, WINDOW_S)
        got = client.counts.get(sub, 0) - got0
        size = (client.bytes - bytes0) / max(1, got)
        client.close()
        return {'fps': round(got / WINDOW_S, 1), 'forwarder_cpu_pct': round(used, 1),
                'bytes_per_frame': int(size)}
    finally:
        server.stop()
        executor.shutdown(timeout_sec=2)
        node.destroy_node()
        ctx.try_shutdown()


def slow_reader_window(url: str, channels: Dict[str, Any], seconds: float) -> Dict[str, Any]:
    """CRITICAL latency and losses for one slow client taking the images and the pings."""
    from rclpy.serialization import deserialize_message
    from std_msgs.msg import String
    reader = SlowReader(url, [IMAGE_TOPIC, PING_TOPIC], channels, chunk=65536, pause=0.1)
    time.sleep(WARMUP_S)
    start = len(reader.messages[PING_TOPIC])
    images0 = reader.count(IMAGE_TOPIC)
    time.sleep(seconds)
    pings = list(reader.messages[PING_TOPIC][start:])
    images = reader.count(IMAGE_TOPIC) - images0
    reader.close()
    wall = time.time_ns() - int(time.monotonic() * 1e9)
    latencies = [(int(arrival * 1e9) + wall - int(deserialize_message(p, String).data)) / 1e6
                 for arrival, _l, p in pings]
    values = sorted(int(deserialize_message(p, String).data) for _a, _l, p in pings)
    expected = seconds * PING_HZ
    return {'latencies': latencies, 'pings_received': len(values),
            'pings_expected': int(expected), 'images_received': images}


def ratio(part: float, whole: float) -> Any:
    return round(part / whole, 2) if whole else None


def main(argv: List[str]) -> int:
    global WARMUP_S, WINDOW_S
    smoke = argv[:1] == ['smoke']
    if smoke:
        WARMUP_S, WINDOW_S = 1.0, 2.0
    domain_id = support.fresh_domain_id()
    tmp = pathlib.Path(os.environ.get('TMPDIR', '/tmp')) / f'bench_live_{os.getpid()}'
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               PYTHONPATH=os.pathsep.join([str(ROOT / 'src'), os.environ.get('PYTHONPATH', '')]),
               UNITY_KERNEL__LIVE__FOXGLOVE_PORT='0', UNITY_KERNEL__LIVE__DASHBOARD_PORT='0',
               # raw 640x480 frames need Fast DDS's shared-memory profile (docs/performance.md)
               FASTDDS_DEFAULT_PROFILES_FILE=str(ROOT / 'config' / 'fastdds-large-data.xml'))
    os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = env['FASTDDS_DEFAULT_PROFILES_FILE']
    config = tmp / 'kernel.yaml'
    config.write_text(f'kernel: {{state_dir: {tmp / "state"}, discovery_period_s: 0.2}}\n'
                      'redis: {enabled: false}\nmodules: {enabled: []}\n')
    procs: List[subprocess.Popen] = []
    pinger = None
    try:
        up = subprocess.Popen([sys.executable, '-m', 'unity_kernel_core.cli.main', 'up',
                               '--config', str(config)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        procs.append(up)
        url = dashboard = None
        deadline = time.monotonic() + 60
        assert up.stdout is not None
        while url is None and time.monotonic() < deadline:
            line = up.stdout.readline()
            found = re.search(r'Foxglove (ws://\S+?)[,| ]', line)
            url = found.group(1) if found else None
            found = re.search(r'dashboard (http://\S+/)', line)
            dashboard = found.group(1) if found else dashboard
        assert url and dashboard, 'kernel did not print its live view URLs'
        threading.Thread(target=lambda: [None for _ in up.stdout], daemon=True).start()
        images = subprocess.Popen(
            [sys.executable, str(ROOT / 'test' / 'nodes' / 'image_publisher.py'), '--topic',
             IMAGE_TOPIC, '--width', str(WIDTH), '--height', str(HEIGHT), '--rate', str(FPS),
             '--seconds', '600'], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(images)
        pinger = Pinger(domain_id)
        kernel = psutil.Process(up.pid)
        client = FoxgloveClient(url, keep_payloads=False)
        client.wait(lambda: {IMAGE_TOPIC, PING_TOPIC} <= set(client.channels), 60,
                    'topics advertised')
        time.sleep(WARMUP_S)

        # 1. CPU with images ingested but no client subscribed
        cpu_idle = cpu(kernel, WINDOW_S)
        # 2. latency of CRITICAL pings, no image subscriber anywhere
        ping = client.subscribe(PING_TOPIC)
        time.sleep(WARMUP_S)
        lat_idle = latency_window(client, ping, WINDOW_S)
        # 3. one client takes the images: frames/s and the kernel's CPU
        image = client.subscribe(IMAGE_TOPIC)
        time.sleep(WARMUP_S)
        got0 = client.counts.get(image, 0)
        ingest0 = ingested(dashboard)
        cpu_forwarding = cpu(kernel, WINDOW_S)
        fps = (client.counts.get(image, 0) - got0) / WINDOW_S
        ingest_fps = (ingested(dashboard) - ingest0) / WINDOW_S
        # 3b. a slow client subscribed to the same images, never reading: what it costs
        slow = slow_client(url, [IMAGE_TOPIC], client.channels)
        time.sleep(1.0)  # its queue fills
        got0, ingest0 = client.counts.get(image, 0), ingested(dashboard)
        time.sleep(WINDOW_S)
        fps_slow = (client.counts.get(image, 0) - got0) / WINDOW_S
        ingest_fps_slow = (ingested(dashboard) - ingest0) / WINDOW_S
        slow.close()
        # 4. CRITICAL latency while this client also takes the images
        lat_own_flood = latency_window(client, ping, WINDOW_S)
        client.unsubscribe(image)
        # 5. CRITICAL latency while a slow client is flooded with the images
        slow = slow_client(url, [IMAGE_TOPIC], client.channels)
        time.sleep(WARMUP_S)
        lat_slow = latency_window(client, ping, WINDOW_S)
        slow.close()
        # 6. ONE slow client taking both the images and the pings
        one_slow = slow_reader_window(url, client.channels, WINDOW_S)
        client.close()
    finally:
        if pinger is not None:
            pinger.close()
        for proc in reversed(procs):
            proc.send_signal(2)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()

    # the same image stream through JSON (rosbridge style) for comparison
    images = subprocess.Popen(
        [sys.executable, str(ROOT / 'test' / 'nodes' / 'image_publisher.py'), '--topic',
         IMAGE_TOPIC, '--width', str(WIDTH), '--height', str(HEIGHT), '--rate', str(FPS),
         '--seconds', '600'], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        json_path = rosbridge_style(domain_id)
    finally:
        images.send_signal(2)
        images.wait(20)
    support.release_domain_id(domain_id)

    def lat(values: List[float]) -> Dict[str, Any]:
        return {'p50_ms': round(pct(values, 0.5), 2), 'p99_ms': round(pct(values, 0.99), 2),
                'mean_ms': round(statistics.fmean(values), 2) if values else None,
                'samples': len(values)}

    results = {
        'camera': f'{WIDTH}x{HEIGHT} rgb8 @ {FPS:g} fps', 'window_s': WINDOW_S,
        'cdr_forwarding': {'fps_received': round(fps, 1),
                           'fps_ingested_by_kernel': round(ingest_fps, 1),
                           'kernel_cpu_pct_no_client': round(cpu_idle, 1),
                           'kernel_cpu_pct_one_client': round(cpu_forwarding, 1),
                           'kernel_cpu_pct_added': round(cpu_forwarding - cpu_idle, 1)},
        'slow_client_cost': {
            'fps_received_alone': round(fps, 1), 'fps_received_with_slow': round(fps_slow, 1),
            'fps_ingested_alone': round(ingest_fps, 1),
            'fps_ingested_with_slow': round(ingest_fps_slow, 1),
            'received_with_slow_vs_alone': ratio(fps_slow, fps),
            'ingested_with_slow_vs_alone': ratio(ingest_fps_slow, ingest_fps),
            'received_vs_ingested_with_slow': ratio(fps_slow, ingest_fps_slow),
            'targets': {'received_with_slow_vs_alone': 0.6, 'ingested_with_slow_vs_alone': 0.6,
                        'received_vs_ingested_with_slow': 0.8}},
        'critical_latency': {'idle': lat(lat_idle),
                             'slow_client_flooded': lat(lat_slow),
                             'this_client_flooded': lat(lat_own_flood),
                             'one_slow_client_images_and_pings': {
                                 **lat(one_slow['latencies']),
                                 'pings_received': one_slow['pings_received'],
                                 'pings_published': one_slow['pings_expected'],
                                 'images_received': one_slow['images_received']},
                             'ping_hz': PING_HZ},
        'json_rosbridge_style': json_path,
    }
    print(json.dumps(results, indent=2))
    if not smoke:  # short windows say little: nothing written under bench/results
        write_results('live', results, machine_extra=f'load average {os.getloadavg()[0]:.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
