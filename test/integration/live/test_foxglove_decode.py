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

"""The live view read by a client made of Foxglove's own libraries, as the Foxglove app does."""

import base64
import sys

import live_support
import pytest
from rclpy.serialization import deserialize_message
import ros_samples

pytestmark = [pytest.mark.ros, pytest.mark.redis]

KERNEL_TOPICS = {'/sensors/camera/image_raw': 'sensor_msgs/msg/Image',
                 '/sensors/camera/camera_info': 'sensor_msgs/msg/CameraInfo',
                 '/diagnostics': 'diagnostic_msgs/msg/DiagnosticArray'}


def test_every_schema_parses_and_every_message_decodes_to_what_was_published(
        processes, ros_env, tmp_path, foxglove_js):
    kernel = live_support.start_live_kernel(processes, ros_env, tmp_path, ['camera'])
    processes.start([sys.executable, str(live_support.NODES / 'sample_publisher.py'),
                     '--rate', '5'], ros_env, tmp_path / 'samples.log')
    wanted = dict.fromkeys(map(ros_samples.topic_of, ros_samples.SAMPLE_TYPES), 3)
    wanted.update(dict.fromkeys(KERNEL_TOPICS, 2))
    run = foxglove_js.live(kernel.foxglove_url, wanted, seconds=60)
    assert run.returncode == 0, (run.events[-3:], run.stderr[-2000:])

    schemas = [e for e in run.of('schema') if e.get('schemaEncoding') == 'ros2msg']
    assert {e['topic'] for e in schemas} >= set(wanted)
    assert [e for e in schemas if not e['ok']] == []

    types = dict(KERNEL_TOPICS, **{ros_samples.topic_of(t): t for t in ros_samples.SAMPLE_TYPES})
    expected = {t: ros_samples.expected_plains(t, 2000) for t in ros_samples.SAMPLE_TYPES}
    for event in run.of('message'):
        assert 'error' not in event, event
        cdr = base64.b64decode(event['data'])
        type_name = types[event['topic']]
        published = deserialize_message(cdr, ros_samples.message_class(type_name))
        assert event['decoded'] == ros_samples.plain(published), event['topic']
        if type_name in expected and event['topic'].startswith('/samples/'):
            assert ros_samples.key(event['decoded']) in expected[type_name]
    assert {e['topic'] for e in run.of('message')} == set(wanted)
