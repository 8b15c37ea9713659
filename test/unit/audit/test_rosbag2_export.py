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

"""The rosbag2 metadata as rosbag2 writes it (version 9), from the kernel's QoS settings."""

import yaml

from unity_kernel_core.audit.rosbag2_export import BagStats, export_rosbag2, qos_profile
from unity_kernel_core.config.kernel_config import QosSettings


def test_qos_profile_in_rosbag2s_version_9_form():
    profile = qos_profile(QosSettings(reliability='best_effort', durability='transient_local',
                                      depth=5, deadline_ms=1500.5))
    assert profile == {
        'history': 'keep_last', 'depth': 5, 'reliability': 'best_effort',
        'durability': 'transient_local', 'deadline': {'sec': 1, 'nsec': 500_500_000},
        'lifespan': {'sec': 9223372036, 'nsec': 854775807}, 'liveliness': 'automatic',
        'liveliness_lease_duration': {'sec': 9223372036, 'nsec': 854775807},
        'avoid_ros_namespace_conventions': False}


def test_a_bag_without_messages_says_so_as_rosbag2_does(tmp_path):
    info = BagStats().information('b_0.mcap', '')
    assert info['message_count'] == 0 and info['topics_with_message_count'] == []
    assert info['starting_time'] == {'nanoseconds_since_epoch': 2 ** 63 - 1}
    assert info['duration'] == {'nanoseconds': 0}
    export_rosbag2(iter(()), tmp_path / 'b', lambda _t: QosSettings())
    written = yaml.safe_load((tmp_path / 'b' / 'metadata.yaml').read_text())
    assert written == {'rosbag2_bagfile_information': dict(info, ros_distro=written[
        'rosbag2_bagfile_information']['ros_distro'])}
