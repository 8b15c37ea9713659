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
LLM bridge benchmarks. Results: bench/results/llm.json; summary in docs/performance.md.

The model is a loopback stub answering at once (test/llm_support.ScriptedServer), so what is
measured is the bridge, not a model:

(a) overhead: event in -> HTTP request out at the model server, per request, one at a time.
    ``engine``: ``Bridge.submit`` in this process; ``node``: a ``std_msgs/String`` request
    published by a probe to the ``llm_bridge`` process over DDS. Baseline: the same POST
    sent directly with httpx. Also the full round trip (request in -> answer out).
(b) throughput: requests answered per second with N concurrent requests, by worker count,
    against the instant stub and a stub that takes 20 ms per answer (a model's latency).
(c) for scale: short chats with the real model (SmolLM2-135M on llama_cpp.server).
"""

import json
import os
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

from _results import write_results
import httpx

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'src'))
sys.path.insert(0, str(ROOT / 'test'))

from llm_support import ScriptedServer  # noqa: E402
import support  # noqa: E402

from unity_llm_bridge.bridge import Bridge  # noqa: E402
from unity_llm_bridge.config import parse_bridge_config  # noqa: E402
from unity_llm_bridge.providers import make_provider  # noqa: E402
from unity_llm_bridge.routing import LlmRequest  # noqa: E402

REQUESTS = 300
THROUGHPUT_REQUESTS = 400


class Sink:
    """A BridgeOutput that keeps nothing (the benchmark reads the futures)."""

    def chunk(self, *args: Any) -> None:
        pass

    def final(self, outcome: Any) -> None:
        pass

    def action(self, outcome: Any, action: Any) -> None:
        pass

    def error(self, outcome: Any) -> None:
        pass


def ms(values: List[float]) -> Dict[str, float]:
    ordered = sorted(values)
    return {'p50_ms': round(statistics.median(ordered) * 1000, 3),
            'p99_ms': round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 3),
            'mean_ms': round(statistics.fmean(ordered) * 1000, 3)}


def config_json(url: str, workers: int = 4, concurrency: int = 64) -> str:
    return json.dumps({
        'bridge': {'workers': workers, 'max_pending': 10000, 'diagnostics_period_s': 1.0},
        'models': {'stub': {'api': 'openai', 'base_url': url, 'model': 'stub',
                            'max_concurrency': concurrency}},
        'routes': [{'name': 'bench', 'match': ['/bench/**'], 'models': ['stub'],
                    'prompt': {'user': '$text'}}]})


def make_bridge(url: str, workers: int = 4) -> Bridge:
    config = parse_bridge_config(config_json(url, workers), 'bench.json')
    bridge = Bridge(config, {'stub': make_provider('stub', config.models['stub'])}, Sink())
    bridge.start()
    return bridge


def bench_direct(server: ScriptedServer) -> Dict[str, Any]:
    body = {'model': 'stub', 'messages': [{'role': 'user', 'content': 'hi'}], 'stream': False}
    lat_out, lat_round = [], []
    with httpx.Client(base_url=server.base_url, trust_env=False) as client:
        for _ in range(20):
            client.post('/chat/completions', json=body)
        for _ in range(REQUESTS):
            start = time.monotonic()
            client.post('/chat/completions', json=body).json()
            lat_round.append(time.monotonic() - start)
            lat_out.append(server.arrivals[-1] - start)
    return {'request_out': ms(lat_out), 'round_trip': ms(lat_round)}


def bench_engine(server: ScriptedServer) -> Dict[str, Any]:
    bridge = make_bridge(server.base_url)
    lat_out, lat_round = [], []
    try:
        for i in range(REQUESTS + 20):
            start = time.monotonic()
            outcome = bridge.submit(LlmRequest(str(i), topic='/bench/x', text='hi')).result(10)
            if i >= 20:
                lat_round.append(time.monotonic() - start)
                lat_out.append(server.arrivals[-1] - start)
            assert outcome.ok, outcome.error
    finally:
        bridge.stop()
    return {'request_out': ms(lat_out), 'round_trip': ms(lat_round)}


def bench_node(server: ScriptedServer) -> Dict[str, Any]:
    """Publish requests over DDS to the llm_bridge process and time the answers."""
    import rclpy
    from rclpy.context import Context
    from std_msgs.msg import String
    tmp = pathlib.Path(tempfile.mkdtemp())
    env = support.ros_environment(tmp)
    env['ROS_DOMAIN_ID'] = str(random.randint(50, 100))
    config = tmp / 'llm.json'
    config.write_text(config_json(server.base_url))
    proc = subprocess.Popen([str(pathlib.Path(sys.executable).parent / 'llm_bridge'),
                             '--ros-args', '-p', f'config_file:={config}', '-p',
                             'autostart:=true'], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx = Context()
    rclpy.init(context=ctx, domain_id=int(env['ROS_DOMAIN_ID']))
    probe = support.Probe(ctx, 'bench_probe')
    try:
        answers = probe.collect('/llm/response', String)
        pub = probe.node.create_publisher(String, '/llm/request', 100)
        support.wait_for(lambda: pub.get_subscription_count() >= 1 and
                         probe.node.count_publishers('/llm/response') >= 1, 60,
                         message='bridge ready')
        time.sleep(1.0)
        lat_out, lat_round = [], []
        for i in range(REQUESTS + 20):
            before = len(server.arrivals)
            start = time.monotonic()
            pub.publish(String(data=json.dumps({'id': str(i), 'topic': '/bench/x',
                                                'text': 'hi'})))
            support.wait_for(lambda: len(answers) > i, 10, interval=0.001,
                             message=f'answer {i}')
            if i >= 20:
                lat_round.append(time.monotonic() - start)
                lat_out.append(server.arrivals[before] - start)
        return {'request_out': ms(lat_out), 'round_trip': ms(lat_round)}
    finally:
        probe.close()
        ctx.try_shutdown()
        proc.terminate()
        proc.wait(20)


def bench_throughput(server: ScriptedServer, workers: int) -> float:
    bridge = make_bridge(server.base_url, workers)
    try:
        for f in [bridge.submit(LlmRequest(f'w{i}', topic='/bench/x')) for i in range(20)]:
            f.result(30)
        start = time.monotonic()
        futures = [bridge.submit(LlmRequest(str(i), topic='/bench/x', text='hi'))
                   for i in range(THROUGHPUT_REQUESTS)]
        ok = sum(f.result(120).ok for f in futures)
        elapsed = time.monotonic() - start
        assert ok == THROUGHPUT_REQUESTS, f'{THROUGHPUT_REQUESTS - ok} failed'
        return round(THROUGHPUT_REQUESTS / elapsed, 1)
    finally:
        bridge.stop()


def bench_real_model() -> Dict[str, Any]:
    """Time short chats with the real model (SmolLM2-135M, llama.cpp server) for scale."""
    from llm_support import LlamaServer
    group = support.ProcessGroup()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            server = LlamaServer(group, dict(os.environ), pathlib.Path(tmp) / 'llama.log')
            config = parse_bridge_config(json.dumps({
                'models': {'llama': {'api': 'openai', 'base_url': server.base_url,
                                     'model': 'smollm2', 'max_tokens': 24,
                                     'read_timeout_s': 60, 'request_timeout_s': 120}},
                'routes': [{'name': 'chat', 'match': ['/**'], 'models': ['llama'],
                            'prompt': {'user': '$text'}}]}), 'bench.json')
            bridge = Bridge(config, {'llama': make_provider('llama', config.models['llama'])},
                            Sink())
            bridge.start()
            latencies, tokens = [], 0
            try:
                for i in range(12):
                    start = time.monotonic()
                    outcome = bridge.submit(LlmRequest(str(i), topic='/chat',
                                                       text='Say hello to the robot.')).result(120)
                    assert outcome.ok, outcome.error
                    if i >= 2:
                        latencies.append(time.monotonic() - start)
                        tokens += outcome.completion_tokens
            finally:
                bridge.stop()
        finally:
            group.stop_all()
    return {'chats': len(latencies), 'max_tokens': 24, 'round_trip': ms(latencies),
            'completion_tokens_per_s': round(tokens / sum(latencies), 1)}


def main() -> int:
    instant = ScriptedServer(reply='ok')
    slow = ScriptedServer(reply='ok', delay_s=0.02)
    try:
        print('overhead: direct httpx, engine, node (one request at a time)', flush=True)
        overhead = {'direct': bench_direct(instant), 'engine': bench_engine(instant),
                    'node': bench_node(instant)}
        for name, values in overhead.items():
            print(f'  {name:7s} request out {values["request_out"]}  round trip '
                  f'{values["round_trip"]}', flush=True)
        throughput: Dict[str, Dict[str, float]] = {'instant': {}, 'model_20ms': {}}
        for workers in (1, 4, 16):
            throughput['instant'][str(workers)] = bench_throughput(instant, workers)
            throughput['model_20ms'][str(workers)] = bench_throughput(slow, workers)
            print(f'  throughput, {workers:2d} workers: instant '
                  f'{throughput["instant"][str(workers)]} req/s, 20 ms model '
                  f'{throughput["model_20ms"][str(workers)]} req/s', flush=True)
    finally:
        instant.close()
        slow.close()
    print('real model: SmolLM2-135M on llama_cpp.server, 10 short chats', flush=True)
    real = bench_real_model()
    print(f'  round trip {real["round_trip"]}, {real["completion_tokens_per_s"]} tokens/s')
    out = write_results('llm', {
        'requests': REQUESTS, 'throughput_requests': THROUGHPUT_REQUESTS,
        'overhead': overhead, 'throughput_req_per_s': throughput, 'real_model': real,
    })
    print(f'written {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
