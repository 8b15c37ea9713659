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
Two robots in two network namespaces, one shared Redis in a third: the fleet view.

Each robot runs ``unity-kernel up`` with its own ``UNITY_ROBOT_ID`` and the same ROS domain
(DDS stays inside each namespace, on its loopback) and mirrors into one redis-server in the
hub namespace, reached over its veth link. Each robot's events land under its own keys only;
``fleet list`` shows both; when one robot's namespace is deleted it turns stale.
"""

import json
import subprocess
import sys
import time

import netns_support
import pytest
import support

pytestmark = [pytest.mark.ros, pytest.mark.redis]

WHY_NOT = netns_support.netns_unavailable()
TALKER = str(support.ROOT / 'test' / 'nodes' / 'talker.py')
STALE_AFTER_S = 3.0


@pytest.fixture
def hub(tmp_path):
    """Create a hub namespace with two robot namespaces linked to it; delete all after."""
    if WHY_NOT:
        pytest.skip(WHY_NOT)
    network = netns_support.Hub(robots=2)
    try:
        network.create()
        yield network
    finally:
        network.delete()


def redis_cli(network, port, *args):
    return subprocess.run(network.exec_args(network.hub) + [
        'redis-cli', '-h', network.hub_address(0), '-p', str(port), *args],
        capture_output=True, text=True, timeout=20).stdout


def fleet(network, ros_env, url, config, *args):
    result = subprocess.run(network.exec_args(network.hub) + [
        sys.executable, '-m', 'unity_kernel_core.cli.main', 'fleet', '--config', str(config),
        '--url', url, *args], env=ros_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_two_robots_in_their_own_namespaces_share_one_store_and_one_fleet_view(
        hub, ros_env, tmp_path, processes):
    port = 6379  # the hub namespace is the test's own: no port is taken there
    redis_dir = tmp_path / 'redis'
    redis_dir.mkdir()
    # bound to the hub's addresses on the two links, nothing else
    processes.start(hub.exec_args(hub.hub) + [
        'redis-server', '--port', str(port), '--bind', hub.hub_address(0), hub.hub_address(1),
        '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--dir', str(redis_dir)],
        ros_env, tmp_path / 'redis.log')
    support.wait_for(lambda: 'PONG' in redis_cli(hub, port, 'PING'), 10,
                     message='redis-server in the hub namespace')
    names = ['robot_a', 'robot_b']
    ups = []
    for i, (ns, robot) in enumerate(zip(hub.robots, names)):
        config = tmp_path / f'{robot}.yaml'
        config.write_text(f'kernel: {{state_dir: {tmp_path / robot}, discovery_period_s: 0.2}}\n'
                          f'fleet: {{heartbeat_period_s: 0.5, stale_after_s: {STALE_AFTER_S}}}\n')
        env = hub.env(ros_env, UNITY_ROBOT_ID=robot,
                      UNITY_REDIS_URL=f'redis://{hub.hub_address(i)}:{port}/0')
        ups.append(processes.start(hub.exec_args(ns) + [
            sys.executable, '-m', 'unity_kernel_core.cli.main', 'up', '--config', str(config)],
            env, tmp_path / f'{robot}-up.log'))
    for up in ups:
        out = up.wait_output('Ctrl-C to stop', 60)
        assert 'private redis-server' not in out and 'fleet ready' in out
    for ns, robot in zip(hub.robots, names):  # the same topic name on both robots
        processes.start(hub.exec_args(ns) + [sys.executable, TALKER, '--topic', '/chatter',
                                             '--count', '30', '--rate', '100'], ros_env,
                        tmp_path / f'{robot}-talker.log').wait_output('talker: done', 60)
        processes.start(hub.exec_args(ns) + [sys.executable, TALKER, '--topic',
                                             f'/{robot}/only', '--count', '5', '--rate', '100'],
                        ros_env, tmp_path / f'{robot}-talker2.log').wait_output(
                            'talker: done', 60)
    for robot in names:
        support.wait_for(lambda r=robot: redis_cli(hub, port, 'XLEN', f'unity:{{{r}}}:topic:'
                                                   f'/{r}/only').strip() == '5', 20,
                         message=f"{robot}'s events in the shared store")
    keys = redis_cli(hub, port, '--scan').split()
    for robot, other in (names, names[::-1]):
        mine = [k for k in keys if k.startswith(f'unity:{{{robot}}}:')]
        assert f'unity:{{{robot}}}:topic:/chatter' in mine
        assert not [k for k in mine if other in k]  # none of the other robot's topics
        assert redis_cli(hub, port, 'XLEN', f'unity:{{{robot}}}:topic:/chatter').strip() == '30'
    assert not [k for k in keys if k.startswith('unity:topic:')]  # no key without a robot

    url = f'redis://{hub.hub_address(0)}:{port}/0'
    config = tmp_path / 'robot_a.yaml'
    listed = json.loads(fleet(hub, ros_env, url, config, 'list', '--json'))
    assert [(r['robot_id'], r['state']) for r in listed] == [('robot_a', 'active'),
                                                             ('robot_b', 'active')]
    assert all(r['heartbeat']['mirror']['connected'] for r in listed)
    table = fleet(hub, ros_env, url, config, 'list')
    assert 'robot_a' in table and 'robot_b' in table and 'active' in table
    assert 'robot:       robot_b' in fleet(hub, ros_env, url, config, 'status', 'robot_b')

    hub.delete_namespace(hub.robots[1])  # robot_b is gone: no goodbye
    time.sleep(STALE_AFTER_S + 1.0)
    listed = json.loads(fleet(hub, ros_env, url, config, 'list', '--json'))
    assert [(r['robot_id'], r['state']) for r in listed] == [('robot_a', 'active'),
                                                             ('robot_b', 'stale')]
    assert listed[1]['age_s'] > STALE_AFTER_S
