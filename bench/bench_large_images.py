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
Large images delivered by default: frames received / published. Results: large_images.json.

The camera node (synthetic pattern, rgb8, 30 fps) runs as its own process with no environment
set for it, as ``ros2 launch`` or ``unity-kernel up`` start it; two receivers with Fast DDS's
default transports and sensor-data QoS, as ``ros2 topic hz`` and rviz subscribe: the kernel
(``kernel`` with a config mapping ``~/image_raw`` only, no Redis, so no mirror; its count is
the native intake's ``taken`` on ``/diagnostics``, or with ``kernel.intake: python`` the HIGH
tier's ``published``) and a plain rclpy subscriber in this
process. Over a window after a warm-up, frames published are the camera's own count
(``published`` on ``/diagnostics``). Each size runs twice: ``default`` (the camera picks its
transport: ``ros/transport.py``) and ``builtin_transports`` (the camera given a profile file
that keeps Fast DDS's defaults: what happened before).

``python bench/bench_large_images.py`` measures 320x240, 640x480 and 1280x720 (about 3
minutes); ``python bench/bench_large_images.py smoke`` one short run of 320x240 (printed, not
written).
"""

import os
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'src'))
sys.path.insert(0, str(ROOT / 'test'))
sys.path.insert(0, str(ROOT / 'bench'))

from _results import write_results  # noqa: E402
import support  # noqa: E402

SIZES = [(320, 240), (640, 480), (1280, 720)]
FPS = 30.0
WARMUP_S = 6.0
WINDOW_S = 15.0
BUILTIN_PROFILE = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                   '<profiles xmlns="http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"/>\n')
KERNEL_CONFIG = """
kernel: {{state_dir: {state}, discovery_period_s: 0.2, diagnostics_period_s: 1.0}}
modules: {{enabled: []}}
live: {{enabled: false}}
topics:
  - {{pattern: /sensors/camera/image_raw, tier: HIGH, mirror: false}}
exclude: [/rosout, /parameter_events, /diagnostics, /unity_kernel/**, /**/transition_event,
          /sensors/camera/camera_info]
"""


def value(status, key: str) -> Optional[int]:
    """Return an integer value of a DiagnosticStatus, or None."""
    for kv in status.values:
        if kv.key == key:
            return int(float(kv.value))
    return None


def run_size(width: int, height: int, mode: str, tmp: pathlib.Path,
             window_s: float) -> Dict[str, float]:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    env = dict(os.environ, **support.ros_environment(tmp / f'ros-{width}-{mode}'))
    env.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)  # the receivers: Fast DDS's defaults
    env.pop('UNITY_REDIS_URL', None)  # the kernel without Redis: no mirror
    camera_env = dict(env)
    if mode == 'builtin_transports':
        profile = tmp / 'builtin.xml'
        profile.write_text(BUILTIN_PROFILE)
        camera_env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(profile)
    config = tmp / f'kernel-{width}-{mode}.yaml'
    config.write_text(KERNEL_CONFIG.format(state=tmp / f'state-{width}-{mode}'))
    logs = [open(tmp / f'{name}-{width}-{mode}.log', 'wb') for name in ('camera', 'kernel')]
    camera = subprocess.Popen(
        [sys.executable, '-m', 'unity_sensors.camera.node', '--ros-args', '-r',
         '__ns:=/sensors', '-p', 'source:=pattern', '-p', f'width:={width}', '-p',
         f'height:={height}', '-p', f'fps:={FPS}', '-p', 'autostart:=true'],
        env=camera_env, stdout=logs[0], stderr=subprocess.STDOUT)
    kernel = subprocess.Popen(
        [sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args', '-p',
         f'config_file:={config}', '-p', 'autostart:=true', '-p', 'spawn_modules:=false'],
        env=env, stdout=logs[1], stderr=subprocess.STDOUT)
    ctx = Context()
    rclpy.init(context=ctx, domain_id=int(env['ROS_DOMAIN_ID']))
    node = rclpy.create_node('bench_plain_subscriber', context=ctx)
    counts = {'plain': 0}
    last: Dict[str, Tuple[float, int]] = {}

    def on_image(_msg: Image) -> None:
        counts['plain'] += 1

    def on_diagnostics(msg: DiagnosticArray) -> None:
        now = time.monotonic()
        for status in msg.status:
            if status.name.endswith(': camera'):
                found = value(status, 'published')
                if found is not None:
                    last['camera'] = (now, found)
            elif status.name.endswith(': kernel'):
                found = value(status, 'high.published')
                if found is not None:
                    last['kernel'] = (now, found)
            elif status.name.endswith(': intake'):  # the native intake: what its threads took
                found = value(status, 'taken')
                if found is not None:
                    last['kernel_native'] = (now, found)

    node.create_subscription(Image, '/sensors/camera/image_raw', on_image,
                             qos_profile_sensor_data)
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 50)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)

    def spin_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)

    try:
        spin_for(WARMUP_S)
        deadline = time.monotonic() + 20
        while not {'camera', 'kernel'} <= set(last) and time.monotonic() < deadline:
            spin_for(0.2)
        start = {k: v[1] for k, v in last.items()}
        counts['plain'] = 0
        spin_for(window_s)
        end = {k: v[1] for k, v in last.items()}
    finally:
        executor.shutdown()
        node.destroy_node()
        ctx.try_shutdown()
        for proc in (camera, kernel):
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for log in logs:
            log.close()
        support.release_domain_id(int(env['ROS_DOMAIN_ID']))
    published = end.get('camera', 0) - start.get('camera', 0)
    # the native intake (the default) takes a topic nobody in the interpreter wants without
    # publishing it on the bus: its own count; the Python intake publishes every message
    source = 'kernel_native' if 'kernel_native' in end else 'kernel'
    kernel_got = end.get(source, 0) - start.get(source, 0)
    # both diagnostics counts are read at 1 Hz: the windows match within one report
    return {'published': published, 'published_fps': round(published / window_s, 1),
            'kernel_received': kernel_got, 'plain_received': counts['plain'],
            'kernel_ratio': round(kernel_got / published, 3) if published else 0.0,
            'plain_ratio': round(counts['plain'] / published, 3) if published else 0.0}


def main(argv: List[str]) -> int:
    smoke = argv[:1] == ['smoke']
    sizes = SIZES[:1] if smoke else SIZES
    window = 4.0 if smoke else WINDOW_S
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp_text:
        for width, height in sizes:
            row = {}
            for mode in ('default', 'builtin_transports'):
                row[mode] = run_size(width, height, mode, pathlib.Path(tmp_text), window)
                r = row[mode]
                print(f'{width}x{height} {mode:<19} published {r["published_fps"]:>5} fps  '
                      f'kernel {r["kernel_ratio"]:.1%}  plain rclpy {r["plain_ratio"]:.1%}',
                      flush=True)
            results[f'{width}x{height}'] = row
    fields = {'fps': FPS, 'encoding': 'rgb8', 'window_s': window, 'sizes': results}
    if smoke:
        print(fields)
        return 0
    write_results('large_images', fields, 'Fast DDS, camera and receivers on one machine')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
