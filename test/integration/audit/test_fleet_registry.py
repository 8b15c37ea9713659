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

"""The fleet registry with a real kernel: its heartbeat, ``fleet list|status``, stopped, stale."""

import json
import sys
import time

import pytest
import redis
import support

from unity_kernel_core.audit.fleet import FleetRegistry

pytestmark = [pytest.mark.ros, pytest.mark.redis]


def test_a_kernel_with_a_robot_id_registers_and_the_fleet_view_shows_it(
        ros_env, tmp_path, processes, redis_server):
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{robot_id: scout_1, discovery_period_s: 0.2, '
                      f'state_dir: {tmp_path / "state"}}}\n'
                      f'redis: {{url: "{redis_server.url}"}}\n'
                      'fleet: {heartbeat_period_s: 0.3, stale_after_s: 5}\n')
    kernel = processes.start([sys.executable, '-m', 'unity_kernel_core.kernel.node',
                              '--ros-args', '-p', f'config_file:={config}', '-p',
                              'autostart:=true'], ros_env, tmp_path / 'kernel.log')
    kernel.wait_output('active: mapping topics', 30)

    def listed():
        result = support.cli(ros_env, 'fleet', '--config', str(config), 'list', '--json')
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
    support.wait_for(lambda: [r['state'] for r in listed()] == ['active'], 10,
                     message='scout_1 active in the fleet view')
    robot = listed()[0]
    beat = robot['heartbeat']
    assert robot['robot_id'] == 'scout_1' and not robot['stale']
    assert beat['pid'] == kernel.pid and beat['version'] and len(beat['config_hash']) == 12
    assert beat['mirror']['connected'] is True and robot['mirror_lag'] == 0
    client = redis.Redis.from_url(redis_server.url)
    assert all(k.startswith(b'unity:{scout_1}:') or k == b'unity:fleet' for k in client.keys())
    status = support.cli(ros_env, 'fleet', '--config', str(config), 'status', 'scout_1')
    assert status.returncode == 0 and 'state:       active' in status.stdout

    FleetRegistry(client, 'unity').put({'robot_id': 'ghost', 'state': 'active',
                                        'last_seen_ms': time.time_ns() // 1_000_000 - 60_000})
    table = support.cli(ros_env, 'fleet', '--config', str(config), 'list')
    lines = {line.split()[0]: line.split()[1] for line in table.stdout.splitlines()[1:]}
    assert lines == {'ghost': 'stale', 'scout_1': 'active'}

    kernel.stop()  # a clean shutdown says goodbye: stopped, not stale
    assert [(r['robot_id'], r['state']) for r in listed()] == [('ghost', 'stale'),
                                                               ('scout_1', 'stopped')]
    missing = support.cli(ros_env, 'fleet', '--config', str(config), 'status', 'nobody')
    assert missing.returncode == 2 and "no robot 'nobody'" in missing.stderr


def test_the_dashboard_shows_the_fleet_from_the_same_registry(ros_env, tmp_path, processes):
    import urllib.request

    import live_support
    env = dict(ros_env, UNITY_ROBOT_ID='dash_1')
    kernel = live_support.start_live_kernel(processes, env, tmp_path, [],
                                            extra='fleet: {heartbeat_period_s: 0.3}\n')

    def fleet():
        return [(r['robot_id'], r['state']) for r in kernel.state()['fleet']]
    support.wait_for(lambda: fleet() == [('dash_1', 'active')], 20,
                     message='dash_1 on the dashboard')
    with urllib.request.urlopen(kernel.dashboard_url, timeout=10) as response:
        assert b'id="fleet-section"' in response.read()
