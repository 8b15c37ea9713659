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

"""``unity-kernel up`` without a Redis URL: a private redis-server, or a clear error."""

import os
import signal
import sys

import pytest
import redis
import support

pytestmark = [pytest.mark.ros, pytest.mark.redis]

CLI = [sys.executable, '-m', 'unity_kernel_core.cli.main']


def test_up_starts_a_private_redis_server_and_stops_it_on_exit(processes, ros_env, tmp_path):
    state = tmp_path / 'state'
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{state_dir: {state}, discovery_period_s: 0.2}}\n')
    env = {k: v for k, v in ros_env.items() if k != 'UNITY_REDIS_URL'}
    up = processes.start(CLI + ['up', '--config', str(config)], env, tmp_path / 'up.log')
    out = up.wait_output('Ctrl-C to stop', 30)
    assert 'private redis-server at unix://' in out and 'mirror ready' in out
    url = (state / 'redis' / 'url').read_text().strip()
    client = redis.Redis.from_url(url)
    assert client.config_get('appendonly') == {'appendonly': 'yes'}
    assert client.config_get('dir')['dir'] == str(state / 'redis')
    processes.start([sys.executable, str(support.ROOT / 'test' / 'nodes' / 'talker.py'),
                     '--topic', '/chatter', '--count', '20', '--rate', '100'], env,
                    tmp_path / 'talker.log').wait_output('talker: done', 30)
    support.wait_for(lambda: client.xlen('unity:topic:/chatter') == 20, 10,
                     message='20 events mirrored into the private server')
    pid = int((state / 'redis' / 'redis.pid').read_text())
    up.signal(signal.SIGINT)
    assert up.wait(30) == 0
    assert 'stopped (clean)' in up.output()
    support.wait_for(lambda: not _alive(pid), 10, message='the private redis-server gone')
    assert not (state / 'redis' / 'url').exists()
    assert list((state / 'redis').glob('appendonlydir/*.aof'))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f'/proc/{pid}/stat') as f:  # a zombie is gone for our purpose
        return f.read().split()[2] != 'Z'


def test_up_without_redis_server_or_url_says_what_to_install(processes, ros_env, tmp_path):
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{state_dir: {tmp_path / "state"}}}\n')
    env = {k: v for k, v in ros_env.items() if k != 'UNITY_REDIS_URL'}
    env['PATH'] = str(tmp_path / 'empty-bin')
    up = processes.start(CLI + ['up', '--config', str(config)], env, tmp_path / 'up.log')
    assert up.wait(60) == 2
    out = up.output()
    assert 'redis-server is not installed' in out and 'apt-get install redis-server' in out
    assert 'UNITY_REDIS_URL' in out and 'redis.enabled: false' in out
