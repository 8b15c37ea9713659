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
Camera benchmark: 640x480 @ 30 fps, CPU use and capture-to-subscriber latency.

Measured for raw ``sensor_msgs/Image`` alone and with ``CompressedImage`` (JPEG) added.

The camera node runs as its own process (synthetic pattern source, so drawing the pattern is
part of its CPU); a subscriber in this process receives with sensor-data QoS and compares
each message's ``header.stamp`` (taken right after the frame is captured) with its arrival
time. CPU is psutil's ``cpu_percent`` of the camera process over the window (100 = one
core). Each is run twice: with Fast DDS's default transports, and with
``config/fastdds-large-data.xml`` (16 MB shared-memory segments) in both processes.
Results: bench/results/camera.json; summary in docs/performance.md.
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
from typing import Dict, List

from _results import write_results
import psutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'src'))

WARMUP_S = 4.0
WINDOW_S = 12.0
WIDTH, HEIGHT, FPS = 640, 480, 30.0


def pct(values: List[float], q: float) -> float:
    if not values:
        return float('nan')
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run_mode(compressed: bool, env: Dict[str, str]) -> dict:
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CompressedImage, Image
    from diagnostic_msgs.msg import DiagnosticArray

    from unity_sensors.sensor_node import sensor_qos

    with tempfile.TemporaryDirectory() as tmp:
        args = [sys.executable, '-m', 'unity_sensors.camera.node', '--ros-args',
                '-p', 'source:=pattern', '-p', f'width:={WIDTH}', '-p', f'height:={HEIGHT}',
                '-p', f'fps:={FPS}', '-p', 'autostart:=true', '-p', 'queue_size:=2',
                '-p', f'publish_compressed:={"true" if compressed else "false"}']
        log = open(pathlib.Path(tmp) / 'camera.log', 'wb')
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        ctx = Context()
        rclpy.init(context=ctx, domain_id=int(env['ROS_DOMAIN_ID']))
        node = rclpy.create_node('bench_camera_sub', context=ctx)
        lat: Dict[str, List[float]] = {'image': [], 'compressed': []}
        counts = {'image': 0, 'compressed': 0}
        measuring = threading.Event()
        diags: list = []

        def on(kind: str):
            def cb(msg) -> None:
                now = time.time_ns()
                if measuring.is_set():
                    stamp = msg.header.stamp.sec * 10 ** 9 + msg.header.stamp.nanosec
                    lat[kind].append((now - stamp) / 1e6)
                    counts[kind] += 1
            return cb

        node.create_subscription(Image, '/camera/image_raw', on('image'), sensor_qos(5))
        if compressed:
            node.create_subscription(CompressedImage, '/camera/image_raw/compressed',
                                     on('compressed'), sensor_qos(5))
        node.create_subscription(DiagnosticArray, '/diagnostics', diags.append, 10)
        executor = SingleThreadedExecutor(context=ctx)
        executor.add_node(node)
        stop = threading.Event()

        def spin() -> None:
            while not stop.is_set():
                executor.spin_once(timeout_sec=0.05)
        spinner = threading.Thread(target=spin, daemon=True)
        spinner.start()
        try:
            time.sleep(WARMUP_S)
            cam = psutil.Process(proc.pid)
            me = psutil.Process()
            cam.cpu_percent(None)
            me.cpu_percent(None)
            measuring.set()
            t0 = time.monotonic()
            time.sleep(WINDOW_S)
            measuring.clear()
            elapsed = time.monotonic() - t0
            cam_cpu = cam.cpu_percent(None)
            sub_cpu = me.cpu_percent(None)
        finally:
            stop.set()
            spinner.join(5)
            proc.send_signal(2)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
            node.destroy_node()
            ctx.try_shutdown()
        values = {}
        for array in diags:
            for s in array.status:
                if s.name == 'camera: camera':
                    values = {kv.key: kv.value for kv in s.values}
        result = {'compressed': compressed, 'window_s': round(elapsed, 2),
                  'camera_cpu_percent': round(cam_cpu, 1),
                  'subscriber_cpu_percent': round(sub_cpu, 1),
                  'camera_dropped': int(values.get('dropped', -1)),
                  'camera_late': int(values.get('late', -1))}
        for kind in ('image', 'compressed') if compressed else ('image',):
            result[kind] = {
                'received_fps': round(counts[kind] / elapsed, 2),
                'latency_ms_p50': round(pct(lat[kind], 0.5), 2),
                'latency_ms_p95': round(pct(lat[kind], 0.95), 2),
                'latency_ms_max': round(max(lat[kind]) if lat[kind] else float('nan'), 2),
                'latency_ms_mean': round(statistics.fmean(lat[kind]), 2) if lat[kind] else None,
            }
        return result


def run_transport(transport: str) -> List[dict]:
    """Run both modes in a child process whose Fast DDS reads the transport's profile."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(50, 100)),
               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               PYTHONPATH=os.pathsep.join([str(ROOT / 'src'), os.environ.get('PYTHONPATH', '')]))
    env.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)
    if transport == 'large-shm':
        env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(ROOT / 'config' / 'fastdds-large-data.xml')
    out = subprocess.run([sys.executable, __file__, '--child'], env=env, capture_output=True,
                         text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f'bench child failed:\n{out.stdout}\n{out.stderr}')
    runs = [{'transport': transport, **json.loads(line)}
            for line in out.stdout.splitlines() if line.startswith('{')]
    for r in runs:
        print(json.dumps(r), flush=True)
    return runs


def main() -> int:
    if sys.argv[1:] == ['--child']:
        for compressed in (False, True):
            print(json.dumps(run_mode(compressed, dict(os.environ))), flush=True)
        return 0
    out = write_results('camera', {
        'load_before': [round(x, 2) for x in os.getloadavg()],
        'format': f'{WIDTH}x{HEIGHT} rgb8 @ {FPS:g} fps, synthetic pattern source',
        'runs': run_transport('default') + run_transport('large-shm'),
    })
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
