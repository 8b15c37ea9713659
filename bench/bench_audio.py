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
Audio benchmark: end-to-end latency from capture to a subscriber, and CPU use.

The audio node runs as its own process on a private PulseAudio daemon (pipe source fed with
a tone in real time, see test/audio_harness.py), auto-activated; a bare rclpy subscriber in
this process decodes each chunk's header and compares its capture stamp (first frame, from
the PortAudio callback) with the receive time (same clock). Reported per configuration:

- ``first_frame_ms``: first frame captured -> chunk received (includes the chunk's own
  duration: a 100 ms chunk cannot leave before its last frame is captured);
- ``pipeline_ms``: ``first_frame_ms`` minus the chunk duration, i.e. last frame captured ->
  received (callback hand-off, chunking, publish thread, DDS, subscriber); for the WAV
  source (a whole block is read at its stamp) the same as ``first_frame_ms``;
- ``node_cpu_percent``: the node process's user+system CPU over the run (100 = one core);
- chunks received, sequence gaps, overruns reported on /diagnostics.

Results: bench/results/audio.json; summary in docs/performance.md.
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
import wave

from _results import write_results
import numpy as np
import psutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'src'))
sys.path.insert(0, str(ROOT / 'test'))

from audio_harness import PulseAudio  # noqa: E402,I100  (test/ helper, on sys.path)

from unity_sensors.audio import pcm  # noqa: E402

SECONDS = 20.0
WARMUP_S = 3.0
RATE = 16000
CONFIGS = [
    {'name': '100 ms chunks, 20 ms blocks', 'chunk_frames': 1600, 'block_frames': 320},
    {'name': '20 ms chunks, 20 ms blocks', 'chunk_frames': 320, 'block_frames': 320},
    {'name': '20 ms chunks, PortAudio blocks', 'chunk_frames': 320, 'block_frames': 0},
    {'name': '10 ms chunks, 48 kHz stereo', 'chunk_frames': 480, 'block_frames': 480,
     'sample_rate': 48000, 'channels': 2},
    {'name': 'WAV file, real-time, 20 ms chunks = blocks (no PortAudio)', 'chunk_frames': 320,
     'block_frames': 320, 'source': 'wav'},
]


def pct(values: list, q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def run_config(cfg: dict, env: dict, tmp: pathlib.Path) -> dict:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import UInt8MultiArray

    rate, channels = cfg.get('sample_rate', RATE), cfg.get('channels', 1)
    pa = PulseAudio(tmp / f'pulse-{rate}-{cfg["chunk_frames"]}-{cfg["block_frames"]}',
                    rate=rate, channels=channels).start()
    t = np.arange(rate) / rate
    tone = np.round(0.5 * 32767 * np.sin(2 * np.pi * 440 * t)).astype('<i2')
    pa.feed(np.repeat(tone, channels).tobytes(), loop=True)
    args = [sys.executable, '-m', 'unity_sensors.audio.node', '--ros-args',
            '-p', 'autostart:=true', '-p', 'device:=pulse', '-p', f'sample_rate:={rate}',
            '-p', f'channels:={channels}', '-p', f'chunk_frames:={cfg["chunk_frames"]}',
            '-p', f'block_frames:={cfg["block_frames"]}', '-p', 'queue_size:=8']
    if cfg.get('source') == 'wav':
        wav_path = tmp / 'bench.wav'
        with wave.open(str(wav_path), 'wb') as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(np.repeat(tone, channels).tobytes())
        args += ['-p', 'source:=wav', '-p', f'wav_path:={wav_path}', '-p', 'wav_loop:=true']
    log = open(tmp / 'audio.log', 'ab')
    node = subprocess.Popen(args, env=pa.env(env), stdout=log, stderr=subprocess.STDOUT)
    latencies: list = []
    seqs: list = []
    measuring = threading.Event()
    diag: dict = {}

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for st in msg.status:
            if st.name == 'audio: audio':
                diag.update({kv.key: kv.value for kv in st.values})

    def on_chunk(msg: UInt8MultiArray) -> None:
        now = time.time_ns()
        header, _ = pcm.decode(msg.data)
        if measuring.is_set():
            latencies.append((now - header.stamp_ns) / 1e6)
            seqs.append(header.seq)

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        sub_node = rclpy.create_node('bench_audio_subscriber', context=ctx)
        sub_node.create_subscription(UInt8MultiArray, '/audio/pcm', on_chunk,
                                     QoSProfile(depth=100,
                                                reliability=ReliabilityPolicy.RELIABLE))
        sub_node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)
        executor = SingleThreadedExecutor(context=ctx)
        executor.add_node(sub_node)
        proc = psutil.Process(node.pid)
        end_warmup = time.monotonic() + WARMUP_S
        while time.monotonic() < end_warmup:
            executor.spin_once(timeout_sec=0.05)
        cpu0, wall0 = proc.cpu_times(), time.monotonic()
        measuring.set()
        end = wall0 + SECONDS
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        measuring.clear()
        cpu1, wall1 = proc.cpu_times(), time.monotonic()
        end_diag = time.monotonic() + 1.5
        while time.monotonic() < end_diag:
            executor.spin_once(timeout_sec=0.05)
        executor.shutdown()
        sub_node.destroy_node()
    finally:
        ctx.try_shutdown()
        node.terminate()
        node.wait(15)
        log.close()
        pa.stop()
    chunk_ms = 1000.0 * cfg['chunk_frames'] / rate
    # a device's chunk is complete one chunk after its first frame; a WAV chunk is read whole
    waited_ms = 0.0 if cfg.get('source') == 'wav' else chunk_ms
    pipeline = [v - waited_ms for v in latencies]
    cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (wall1 - wall0) * 100
    gaps = sum(b - a - 1 for a, b in zip(seqs, seqs[1:]) if b != a + 1)
    if not latencies:
        raise RuntimeError(f'no chunks received for {cfg["name"]}; see {tmp / "audio.log"}')
    return {
        'name': cfg['name'], 'sample_rate': rate, 'channels': channels,
        'chunk_frames': cfg['chunk_frames'], 'block_frames': cfg['block_frames'],
        'chunk_ms': round(chunk_ms, 2), 'chunks': len(latencies), 'seq_gaps': gaps,
        'first_frame_ms': {'p50': round(statistics.median(latencies), 2),
                           'p95': round(pct(latencies, .95), 2),
                           'max': round(max(latencies), 2)},
        'pipeline_ms': {'p50': round(statistics.median(pipeline), 2),
                        'p95': round(pct(pipeline, .95), 2), 'max': round(max(pipeline), 2)},
        'node_cpu_percent': round(cpu, 1),
        'node_counters': {k: diag.get(k) for k in ('captured', 'published', 'dropped', 'late',
                                                   'overruns', 'device_overflows',
                                                   'device_underflows')},
    }


def main() -> int:
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(50, 100)),
               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONPATH=str(ROOT / 'src'))
    os.environ['ROS_DOMAIN_ID'] = env['ROS_DOMAIN_ID']
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for cfg in CONFIGS:
            print(f'audio: {cfg["name"]} ({SECONDS:g} s)...', flush=True)
            result = run_config(cfg, env, pathlib.Path(tmp))
            print(f'  {json.dumps(result)}', flush=True)
            results.append(result)
    out = write_results('audio', {
        'load_average_at_start': [round(x, 2) for x in os.getloadavg()],
        'seconds_per_config': SECONDS, 'configs': results})
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
