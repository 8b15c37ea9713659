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

"""Messages from another process arrive on the kernel's bus with their exact bytes."""

import pathlib
import sys
import threading

import kernel_support
import pytest
from rclpy.serialization import deserialize_message
from std_msgs.msg import String
import support

from unity_kernel_core import native
from unity_kernel_core.kernel.node import KernelNode

pytestmark = pytest.mark.ros


def test_dds_messages_reach_a_bus_handler_with_type_and_cdr(rclpy_context, ros_env, tmp_path,
                                                            processes):
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{discovery_period_s: 0.2, state_dir: {tmp_path}}}\n'
                      'redis: {enabled: false}\n')
    got = []

    def on_active(n):
        n.bus.subscribe('/chatter', got.append, name='test_handler')

    with kernel_support.active_kernel(config, rclpy_context, on_active) as node:
        talker = processes.start(
            [sys.executable, str(support.ROOT / 'test' / 'nodes' / 'talker.py'),
             '--topic', '/chatter', '--count', '50', '--rate', '100'],
            ros_env, tmp_path / 'talker.log')
        talker.wait_output('talker: done', 30)
        support.wait_for(lambda: len(got) == 50, 10, message='50 events on the bus')
        assert [e.message.data for e in got] == [str(i) for i in range(50)]
        assert {e.type_name for e in got} == {'std_msgs/msg/String'}
        assert {e.tier.name for e in got} == {'NORMAL'}
        assert isinstance(got[7].cdr, bytes)
        assert deserialize_message(got[7].cdr, String).data == '7'
        assert all(b.seq > a.seq for a, b in zip(got, got[1:]))
    assert node.state_label == 'finalized'


def test_critical_topics_are_taken_in_on_an_intake_node_and_thread_of_their_own(
        rclpy_context, ros_env, tmp_path, processes):
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{discovery_period_s: 0.2, state_dir: {tmp_path}, '
                      'intake: python}\nredis: {enabled: false}\n')
    taken_on = {}  # topic -> the threads that published its events on the bus

    def tap(event):  # taps run on the publishing (intake) thread
        taken_on.setdefault(event.topic, set()).add(threading.current_thread().name)

    def on_active(n):
        n.bus.add_tap(tap)

    with kernel_support.active_kernel(config, rclpy_context, on_active) as node:
        talkers = [processes.start(
            [sys.executable, str(support.ROOT / 'test' / 'nodes' / 'talker.py'),
             '--topic', topic, '--count', '30', '--rate', '100'],
            ros_env, tmp_path / f'talker{i}.log') for i, topic in enumerate(
                ('/safety/estop', '/chatter'))]
        for talker in talkers:
            talker.wait_output('talker: done', 30)
        support.wait_for(lambda: len(taken_on) >= 2, 10, message='both topics taken in')
        critical, normal = taken_on['/safety/estop'], taken_on['/chatter']
        assert len(critical) == 1 and len(normal) == 1 and critical != normal
        subs = node.get_subscriber_names_and_types_by_node('unity_kernel_intake_critical', '/')
        assert [name for name, _types in subs] == ['/safety/estop']
        subs = node.get_subscriber_names_and_types_by_node('unity_kernel_intake', '/')
        assert '/chatter' in [name for name, _types in subs]
        assert '/safety/estop' not in [name for name, _types in subs]


def test_the_kernel_bounds_how_long_critical_threads_wait_for_the_interpreter_lock(
        rclpy_context, ros_env, tmp_path):
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{state_dir: {tmp_path}, switch_interval_ms: 0.5}}\n'
                      'redis: {enabled: false}\nlive: {enabled: false}\n')
    before = sys.getswitchinterval()
    node = KernelNode(config_file=config, context=rclpy_context)
    try:
        node.trigger_configure()
        assert node.state_label == 'inactive'
        assert sys.getswitchinterval() == pytest.approx(0.0005)
    finally:
        node.trigger_cleanup()
        node.destroy_node()
        sys.setswitchinterval(before)


@pytest.mark.skipif(native.rcl() is None, reason=native.why_not())
def test_the_native_intake_takes_critical_topics_on_a_thread_of_their_own(
        rclpy_context, ros_env, tmp_path, processes):
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{discovery_period_s: 0.2, state_dir: {tmp_path}, '
                      'intake: native}\nredis: {enabled: false}\nlive: {enabled: false}\n')
    got = {}  # topic -> events on the bus

    def on_active(n):
        n.bus.subscribe('/**', lambda e: got.setdefault(e.topic, []).append(e))

    with kernel_support.active_kernel(config, rclpy_context, on_active) as node:
        talkers = [processes.start(
            [sys.executable, str(support.ROOT / 'test' / 'nodes' / 'talker.py'),
             '--topic', topic, '--count', '30', '--rate', '100'],
            ros_env, tmp_path / f'talker{i}.log') for i, topic in enumerate(
                ('/safety/estop', '/chatter'))]
        for talker in talkers:
            talker.wait_output('talker: done', 30)
        support.wait_for(lambda: len(got.get('/safety/estop', ())) == 30 and
                         len(got.get('/chatter', ())) == 30, 10, message='both topics taken in')
        assert {e.tier.name for e in got['/safety/estop']} == {'CRITICAL'}
        assert [e.message.data for e in got['/chatter']] == [str(i) for i in range(30)]
        # one native thread per tier, named after it (what top and py-spy show)
        threads = {tier: node.intake._native.thread_id(tier) for tier in (0, 2)}
        assert 0 not in threads.values() and threads[0] != threads[2]
        comm = {tier: pathlib.Path(f'/proc/self/task/{tid}/comm').read_text().strip()
                for tier, tid in threads.items()}
        assert comm == {0: 'intake-critical', 2: 'intake-normal'}
        subs = node.get_subscriber_names_and_types_by_node('unity_kernel_intake', '/')
        assert {'/chatter', '/safety/estop'} <= {name for name, _types in subs}
