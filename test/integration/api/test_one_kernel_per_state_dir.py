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
One kernel per state dir: a second ``up`` or kernel node fails at once and touches nothing.

With real processes: the first holds the state dir's lock for its life; the second says
``state dir X is in use by pid N`` and exits, leaving the first one's private Redis, ring and
journal alone; the first runs on and stops cleanly.
"""

import signal
import sys
import time

import pytest
import redis
import support

from unity_kernel_core.audit.writer_process import ring_path

pytestmark = [pytest.mark.ros, pytest.mark.redis]

CLI = [sys.executable, '-m', 'unity_kernel_core.cli.main']


def test_a_second_up_fails_at_once_and_leaves_the_first_ones_redis_alone(
        processes, ros_env, tmp_path):
    state = tmp_path / 'state'
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{state_dir: {state}, discovery_period_s: 0.2}}\n')
    env = {k: v for k, v in ros_env.items() if k != 'UNITY_REDIS_URL'}
    first = processes.start(CLI + ['up', '--config', str(config)], env, tmp_path / 'up1.log')
    first.wait_output('Ctrl-C to stop', 60)
    url = (state / 'redis' / 'url').read_text().strip()
    redis_pid = (state / 'redis' / 'redis.pid').read_text().strip()
    ring = ring_path(state)
    started = time.monotonic()
    second = processes.start(CLI + ['up', '--config', str(config)], env, tmp_path / 'up2.log')
    assert second.wait(60) == 2
    assert time.monotonic() - started < 30  # at once: no configure, no writer, no Redis
    assert f'state dir {state} is in use by pid {first.pid}' in second.output()
    assert 'private redis-server' not in second.output()
    assert redis.Redis.from_url(url).ping()  # the first one's Redis: not adopted, not stopped
    assert (state / 'redis' / 'redis.pid').read_text().strip() == redis_pid
    assert ring_path(state) == ring and ring.exists()
    assert first.proc.poll() is None
    first.signal(signal.SIGINT)
    assert first.wait(30) == 0 and 'stopped (clean)' in first.output()


def test_a_second_kernel_node_fails_at_once_and_the_first_goes_on(
        processes, ros_env, tmp_path, redis_server):
    state = tmp_path / 'state'
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{state_dir: {state}, discovery_period_s: 0.2}}\n'
                      f'redis: {{url: "{redis_server.url}"}}\n')
    first = support.start_kernel(processes, ros_env, tmp_path, config, log='kernel1.log',
                                 wait='active: mapping topics', timeout=60)
    second = support.start_kernel(processes, ros_env, tmp_path, config, log='kernel2.log')
    assert second.wait(60) == 1
    assert f'state dir {state} is in use by pid {first.pid}' in second.output()
    processes.start([sys.executable, str(support.ROOT / 'test' / 'nodes' / 'talker.py'),
                     '--topic', '/chatter', '--count', '20', '--rate', '100'], ros_env,
                    tmp_path / 'talker.log').wait_output('talker: done', 30)
    client = redis.Redis.from_url(redis_server.url)
    support.wait_for(lambda: client.xlen('unity:topic:/chatter') == 20, 20,
                     message='the first kernel mirroring on')
    first.signal(signal.SIGINT)
    assert first.wait(30) == 0
    third = support.start_kernel(processes, ros_env, tmp_path, config, log='kernel3.log',
                                 wait='active: mapping topics', timeout=60)
    third.signal(signal.SIGINT)  # the lock went with the first: the next one starts
    assert third.wait(30) == 0
