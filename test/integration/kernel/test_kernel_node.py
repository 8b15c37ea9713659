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

"""The kernel node as a real process: lifecycle, topic mapping, tiers, QoS, reload, signals."""

import json
import signal
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
import pytest
from std_msgs.msg import String
import support

pytestmark = pytest.mark.ros

TALKER = str(support.ROOT / 'test' / 'nodes' / 'talker.py')
ECHO = '/unity_kernel/events'

BASE_CONFIG = f"""
kernel:
  discovery_period_s: 0.2
  diagnostics_period_s: 0.5
  event_echo_topic: {ECHO}
  state_dir: STATE
redis:
  enabled: false
"""


def write_config(tmp_path, extra=''):
    path = tmp_path / 'kernel.yaml'
    path.write_text(BASE_CONFIG.replace('STATE', str(tmp_path / 'state')) + extra)
    return path


def start_kernel(processes, ros_env, tmp_path, config, autostart=True, env=None):
    args = [sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args',
            '-p', f'config_file:={config}', '-p', f'autostart:={str(autostart).lower()}']
    return processes.start(args, {**ros_env, **(env or {})}, tmp_path / 'kernel.log')


def wait_ready(kernel, probe):
    """Wait until the kernel is active and its event echo reaches the probe."""
    kernel.wait_output('active: mapping topics', 30)
    support.wait_for(lambda: probe.node.count_publishers(ECHO) >= 1, 20,
                     message='the kernel event echo matched by the probe')
    time.sleep(0.5)


def talker(processes, ros_env, tmp_path, topic, *extra, name=None):
    log = tmp_path / f'talker{(name or topic).replace("/", "_")}.log'
    return processes.start([sys.executable, TALKER, '--topic', topic, *extra], ros_env, log)


def events(echo, topic=None):
    out = [json.loads(m.data) for m in list(echo)]
    return [e for e in out if topic is None or e['topic'] == topic]


def test_lifecycle_transitions_from_another_process(processes, ros_env, tmp_path, probe):
    kernel = start_kernel(processes, ros_env, tmp_path, write_config(tmp_path), autostart=False)
    support.wait_for(lambda: ('unity_kernel', '/') in probe.node.get_node_names_and_namespaces(),
                     20, message='kernel node in the graph')
    assert probe.get_state('unity_kernel') == 'unconfigured'
    assert probe.change_state('unity_kernel', 'configure')
    assert probe.get_state('unity_kernel') == 'inactive'
    echo = probe.collect(ECHO, String)
    assert probe.change_state('unity_kernel', 'activate')
    assert probe.get_state('unity_kernel') == 'active'

    t = talker(processes, ros_env, tmp_path, '/safety/estop', '--type', 'std_msgs/msg/Bool',
               '--count', '20', '--rate', '50')
    t.wait_output('talker: done', 30)
    support.wait_for(lambda: len(events(echo, '/safety/estop')) == 20, 10,
                     message='20 estop events')
    got = events(echo, '/safety/estop')
    assert {e['tier'] for e in got} == {'CRITICAL'}
    assert {e['type'] for e in got} == {'std_msgs/msg/Bool'}
    seqs = [e['seq'] for e in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 20

    assert probe.change_state('unity_kernel', 'deactivate')
    assert probe.get_state('unity_kernel') == 'inactive'
    t2 = talker(processes, ros_env, tmp_path, '/safety/estop', '--type', 'std_msgs/msg/Bool',
                '--count', '20', '--rate', '50', '--wait-subscribers', '0', name='second')
    t2.wait_output('talker: done', 30)
    time.sleep(0.5)
    assert len(events(echo, '/safety/estop')) == 20  # nothing taken in while inactive

    assert probe.change_state('unity_kernel', 'cleanup')
    assert probe.get_state('unity_kernel') == 'unconfigured'
    assert probe.change_state('unity_kernel', 'configure')
    assert probe.change_state('unity_kernel', 'shutdown')
    assert probe.get_state('unity_kernel') == 'finalized'
    kernel.signal(signal.SIGTERM)
    assert kernel.wait(20) == 0


def test_topics_go_to_their_tiers_with_adapted_qos(processes, ros_env, tmp_path, probe):
    echo = probe.collect(ECHO, String)
    wait_ready(start_kernel(processes, ros_env, tmp_path, write_config(tmp_path)), probe)
    runs = [
        talker(processes, ros_env, tmp_path, '/safety/estop', '--type', 'std_msgs/msg/Bool',
               '--count', '30', '--rate', '50'),
        # a best-effort publisher on a tier whose QoS starts reliable: must not be missed
        talker(processes, ros_env, tmp_path, '/chatter', '--count', '30', '--rate', '50',
               '--reliability', 'best_effort'),
        talker(processes, ros_env, tmp_path, '/sensors/imu', '--count', '30', '--rate', '50',
               '--reliability', 'best_effort'),
    ]
    for t in runs:
        t.wait_output('talker: done', 40)
    support.wait_for(lambda: len(events(echo, '/safety/estop')) == 30, 10, message='estop')
    support.wait_for(lambda: len(events(echo, '/chatter')) >= 25, 10, message='chatter')
    support.wait_for(lambda: len(events(echo, '/sensors/imu')) >= 25, 10, message='imu')
    assert {e['tier'] for e in events(echo, '/safety/estop')} == {'CRITICAL'}
    assert {e['tier'] for e in events(echo, '/chatter')} == {'NORMAL'}
    assert {e['tier'] for e in events(echo, '/sensors/imu')} == {'HIGH'}
    assert not events(echo, '/rosout') and not events(echo, '/parameter_events')
    log = (tmp_path / 'kernel.log').read_text()
    assert 'best-effort publisher: subscribing best-effort' in log


def test_a_topic_that_appears_later_is_mapped(processes, ros_env, tmp_path, probe):
    echo = probe.collect(ECHO, String)
    kernel = start_kernel(processes, ros_env, tmp_path, write_config(tmp_path))
    wait_ready(kernel, probe)
    time.sleep(1.0)
    t = talker(processes, ros_env, tmp_path, '/late/topic', '--count', '10', '--rate', '20')
    t.wait_output('talker: done', 30)
    support.wait_for(lambda: len(events(echo, '/late/topic')) == 10, 10, message='late topic')


def test_an_unimportable_type_is_reported_once_and_skipped(processes, ros_env, tmp_path, probe):
    shadow = tmp_path / 'shadow' / 'geometry_msgs'
    shadow.mkdir(parents=True)
    (shadow / '__init__.py').write_text("raise ImportError('geometry_msgs hidden by the test')\n")
    env = {'PYTHONPATH': f'{tmp_path / "shadow"}:{ros_env["PYTHONPATH"]}'}
    echo = probe.collect(ECHO, String)
    kernel = start_kernel(processes, ros_env, tmp_path, write_config(tmp_path), env=env)
    wait_ready(kernel, probe)
    twist = talker(processes, ros_env, tmp_path, '/cmd_vel', '--type',
                   'geometry_msgs/msg/Twist', '--count', '200', '--rate', '20',
                   '--wait-subscribers', '0')
    kernel.wait_output('cannot import message type geometry_msgs/msg/Twist', 30)
    chat = talker(processes, ros_env, tmp_path, '/chatter', '--count', '10', '--rate', '20')
    chat.wait_output('talker: done', 30)
    support.wait_for(lambda: len(events(echo, '/chatter')) == 10, 10, message='chatter')
    time.sleep(1.0)  # several more discovery passes see /cmd_vel again
    twist.stop()
    log = kernel.output()
    assert log.count('cannot import message type geometry_msgs/msg/Twist') == 1, log
    assert 'not mapping /cmd_vel' in log
    assert not events(echo, '/cmd_vel')


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_signals_shut_down_gracefully_with_exit_zero(processes, ros_env, tmp_path, sig):
    kernel = start_kernel(processes, ros_env, tmp_path, write_config(tmp_path))
    kernel.wait_output('active: mapping topics', 30)
    kernel.signal(sig)
    assert kernel.wait(20) == 0
    assert 'shutting down: draining the bus' in kernel.output()


def test_kernel_status_on_diagnostics(processes, ros_env, tmp_path, probe):
    diags = probe.collect('/diagnostics', DiagnosticArray)
    start_kernel(processes, ros_env, tmp_path, write_config(tmp_path))

    def kernel_statuses():
        return [s for a in list(diags) for s in a.status if s.name == 'unity_kernel: kernel']

    support.wait_for(lambda: any(s.values and {v.key: v.value for v in s.values}
                                 .get('state') == 'active' for s in kernel_statuses()),
                     30, message='an active kernel status')
    last = [s for s in kernel_statuses()
            if {v.key: v.value for v in s.values}.get('state') == 'active'][-1]
    values = {v.key: v.value for v in last.values}
    assert last.level == b'\x00'
    for tier in ('critical', 'high', 'normal', 'low', 'deferred'):
        assert f'{tier}.depth' in values and f'{tier}.dropped' in values
        assert f'{tier}.rate_hz' in values


def test_config_edit_is_applied_live_and_a_bad_edit_is_rejected(
        processes, ros_env, tmp_path, probe):
    echo = probe.collect(ECHO, String)
    config = write_config(tmp_path, 'topics:\n  - {pattern: /chatter, tier: NORMAL}\n')
    kernel = start_kernel(processes, ros_env, tmp_path, config)
    wait_ready(kernel, probe)
    t = talker(processes, ros_env, tmp_path, '/chatter', '--count', '400', '--rate', '40')
    support.wait_for(lambda: events(echo, '/chatter'), 30, message='first chatter event')
    config.write_text(config.read_text().replace('tier: NORMAL', 'tier: LOW'))
    support.wait_for(lambda: any(e['tier'] == 'LOW' for e in events(echo, '/chatter')), 20,
                     message='chatter events on LOW after the edit')
    changed = events(echo, '/unity_kernel/config_changed')
    assert changed and changed[0]['tier'] == 'HIGH'
    config.write_text(config.read_text().replace('tier: LOW', 'tier: SOMETIMES'))
    kernel.wait_output('config change rejected', 20)
    assert f'{config}:' in kernel.output() and "unknown tier 'SOMETIMES'" in kernel.output()
    time.sleep(1.0)
    assert events(echo, '/chatter')[-1]['tier'] == 'LOW'
    t.stop()


def test_bad_config_fails_configure_with_file_and_line(processes, ros_env, tmp_path):
    config = write_config(tmp_path, 'tiers:\n  CRITICAL:\n    workers: 0\n')
    kernel = start_kernel(processes, ros_env, tmp_path, config)
    assert kernel.wait(30) == 1
    line = config.read_text().splitlines().index('    workers: 0') + 1
    assert f'{config}:{line}: tiers.CRITICAL.workers' in kernel.output()


@pytest.mark.parametrize('redis', ['enabled: false', 'url: null'], ids=['disabled', 'no_url'])
def test_without_redis_diagnostics_say_the_audit_mirror_is_off_and_why(
        processes, ros_env, tmp_path, probe, redis):
    """As under ``ros2 launch`` by default: no Redis, and /diagnostics says so."""
    diags = probe.collect('/diagnostics', DiagnosticArray)
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace('  enabled: false', f'  {redis}'))
    env = {k: v for k, v in ros_env.items() if k != 'UNITY_REDIS_URL'}
    processes.start([sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args', '-p',
                     f'config_file:={config}', '-p', 'autostart:=true'], env,
                    tmp_path / 'kernel.log')

    def mirror():
        found = [s for a in list(diags) for s in a.status if s.name == 'unity_kernel: mirror']
        return found[-1] if found else None
    status = support.wait_for(mirror, 30, message='the mirror on /diagnostics')
    assert status.level == b'\x00' and status.message.startswith('off: ')
    assert {v.key: v.value for v in status.values}['mirror'] == 'off'
    why = 'redis.enabled is false' if redis == 'enabled: false' else 'no Redis: redis.url'
    assert why in status.message, status.message


def test_config_file_may_be_a_package_url(processes, ros_env, tmp_path, probe):
    """``config:=package://unity_kernel/config/kernel.yaml`` (the launch argument) configures."""
    env = {k: v for k, v in ros_env.items() if k != 'UNITY_REDIS_URL'}
    kernel = processes.start(
        [sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args', '-p',
         'config_file:=package://unity_kernel/config/kernel.yaml', '-p', 'autostart:=false',
         '-p', 'spawn_modules:=false'], env, tmp_path / 'kernel.log')
    support.wait_for(lambda: probe.get_state('unity_kernel') == 'unconfigured', 30,
                     message='the kernel up')
    assert probe.change_state('unity_kernel', 'configure'), kernel.output()[-3000:]
    assert 'package:/unity_kernel' not in kernel.output()
