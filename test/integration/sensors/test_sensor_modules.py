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
"""The sensor nodes as kernel modules: shipped manifests, the launch plan, ``unity-kernel up``."""

import inspect
import json
import signal
import sys

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import Image
from sensor_support import start_kernel_with_module, state
from std_msgs.msg import String
import support

from unity_kernel_core.supervision.manifest import load_manifest
from unity_sensors.sensor_node import sensor_qos

MODULES = support.ROOT / 'modules'


@pytest.mark.parametrize('name,executable',
                         [('camera', 'camera'), ('haptic', 'haptic'), ('audio', 'audio')])
def test_shipped_manifests_are_node_modules_of_console_scripts(name, executable):
    m = load_manifest(MODULES / name)
    assert (m.kind.value, m.executable, m.namespace) == ('node', executable, '/sensors')
    setup = (support.ROOT / 'setup.py').read_text()
    # entered through unity_sensors.entry, which runs unity_sensors.<name>.node's main
    assert f"'{executable} = unity_sensors.entry:{executable}'" in setup
    from unity_sensors import entry
    assert f"launch('unity_sensors.{name}.node')" in inspect.getsource(getattr(entry, executable))


def test_haptic_manifest_feedback_topic_is_on_the_critical_tier():
    from unity_kernel_core.config.kernel_config import load_config
    from unity_kernel_core.bus.events import Tier
    m = load_manifest(MODULES / 'haptic')
    config = load_config(support.ROOT / 'config' / 'kernel.yaml')
    assert m.parameters['feedback_topic'] in m.topics.subscribes
    assert config.tier_for(m.parameters['feedback_topic']) is Tier.CRITICAL


def test_launch_plan_of_the_shipped_config_starts_the_pattern_camera():
    from unity_kernel_core.api.launch_plan import node_modules
    plan = {m.module: m for m in node_modules(support.ROOT / 'config' / 'kernel.yaml')}
    assert plan['camera'].executable == 'camera' and plan['camera'].namespace == '/sensors'
    assert plan['camera'].parameters['source'] == 'pattern'
    assert 'haptic' not in plan  # needs hardware: shipped, not enabled


@pytest.mark.ros
def test_unity_kernel_up_runs_the_camera_and_maps_its_images_to_high(processes, ros_env,
                                                                     tmp_path, probe):
    env = {**ros_env, 'UNITY_KERNEL__KERNEL__STATE_DIR': str(tmp_path / 'state'),
           'UNITY_KERNEL__KERNEL__EVENT_ECHO_TOPIC': '/unity_kernel/events'}
    images = probe.collect('/sensors/camera/image_raw', Image, sensor_qos(20))
    echo = probe.collect('/unity_kernel/events', String)
    up = processes.start([sys.executable, '-m', 'unity_kernel_core.cli.main', 'up'], env,
                         tmp_path / 'up.log')
    support.wait_for(lambda: len(images) >= 3, 90, message='images from the camera module')
    assert (images[0].width, images[0].height, images[0].encoding) == (320, 240, 'rgb8')

    def mapped():
        return [e for e in (json.loads(m.data) for m in list(echo))
                if e['topic'] == '/sensors/camera/image_raw']
    events = support.wait_for(mapped, 30, message='camera images on the kernel bus')
    assert events[0]['tier'] == 'HIGH' and events[0]['type'] == 'sensor_msgs/msg/Image'
    up.signal(signal.SIGINT)
    assert up.wait(60) == 0


@pytest.mark.ros
def test_kernel_brings_the_camera_up_once_its_missing_device_appears(
        processes, ros_env, tmp_path, probe):
    device = tmp_path / 'video0'  # a video file OpenCV opens stands in for /dev/video0
    images = probe.collect('/camera/image_raw', Image, sensor_qos(20))
    start_kernel_with_module(processes, ros_env, tmp_path, 'camera',
                             {'source': f'device:{device}', 'fps': 20.0})
    log = tmp_path / 'state' / 'logs' / 'camera.log'
    support.wait_for(lambda: log.exists() and
                     log.read_text().count(f'device not found: {device}') >= 2, 60,
                     message='the kernel retrying the camera while its device is absent')
    assert not images
    writer = cv2.VideoWriter(str(tmp_path / 'clip.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 20.0,
                             (64, 48))
    for i in range(40):
        writer.write(np.full((48, 64, 3), i * 5, np.uint8))
    writer.release()
    (tmp_path / 'clip.avi').rename(device)   # the device appears
    support.wait_for(lambda: len(images) >= 5, 60, message='images once the device is there')
    assert state(probe, 'camera') == 'active'
