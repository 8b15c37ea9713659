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

"""Full message definitions in the form rosbag2 and foxglove_bridge write (ros/msgdef.py)."""

import pathlib
import re

import pytest

from unity_kernel_core.errors import MessageTypeError
from unity_kernel_core.ros.msgdef import dependencies, full_definition, read_msg_file, SEPARATOR

PACKAGES = ['std_msgs', 'sensor_msgs', 'geometry_msgs', 'diagnostic_msgs',
            'visualization_msgs', 'builtin_interfaces']


def test_dependencies_are_named_as_the_fields_write_them_sorted_once():
    text = ('std_msgs/Header header\nfloat64[9] cov # note: Vector3 in a comment\n'
            'Vector3 v\nVector3[] vs\nint32 A=1\nstring<=5 s\nHeader h2\n'
            'geometry_msgs/msg/Point p\n# Pose commented out\n\nbool b\n')
    assert dependencies(text, 'geometry_msgs') == [
        'geometry_msgs/Vector3', 'geometry_msgs/msg/Point', 'std_msgs/Header']


def test_image_is_written_byte_for_byte_as_rosbag2_writes_it():
    sep = f'\n{SEPARATOR}\n'
    assert full_definition('sensor_msgs/msg/Image') == (
        read_msg_file('sensor_msgs/msg/Image')
        + sep + 'MSG: std_msgs/Header\n' + read_msg_file('std_msgs/msg/Header')
        + sep + 'MSG: builtin_interfaces/Time\n' + read_msg_file('builtin_interfaces/msg/Time'))


def test_nested_dependencies_come_depth_first_each_once():
    definition = full_definition('sensor_msgs/msg/Imu')
    names = re.findall(r'^MSG: (.*)$', definition, re.M)
    assert names == ['geometry_msgs/Quaternion', 'geometry_msgs/Vector3', 'std_msgs/Header',
                     'builtin_interfaces/Time']


def _types_of(package):
    from ament_index_python.packages import get_package_share_directory
    folder = pathlib.Path(get_package_share_directory(package)) / 'msg'
    return sorted(f'{package}/msg/{p.stem}' for p in folder.glob('*.msg'))


@pytest.mark.parametrize('package', PACKAGES)
def test_every_field_type_has_one_msg_section_of_exactly_its_name(package):
    # what Foxglove's parser needs: a complex field type written `pkg/Name` is looked up
    # under `MSG: pkg/Name`, so every dependency is named as the fields write it
    types = _types_of(package)
    assert types
    for type_name in types:
        root, *rest = full_definition(type_name).split(f'\n{SEPARATOR}\nMSG: ')
        named = [section.split('\n', 1)[0] for section in rest]
        texts = [(type_name, root)] + [(name, section.split('\n', 1)[1])
                                       for name, section in zip(named, rest)]
        wanted = set().union(*(dependencies(text, name.split('/')[0]) for name, text in texts))
        assert len(named) == len(set(named)) and set(named) == wanted, type_name


def test_a_definition_that_includes_itself_is_refused():
    texts = {'a_msgs/msg/Loop': 'a_msgs/Next n\n', 'a_msgs/Next': 'a_msgs/Next again\nint8 x\n'}
    # a_msgs/Next is seen once; a chain that keeps naming new types ends at the depth bound
    assert 'MSG: a_msgs/Next' in full_definition('a_msgs/msg/Loop', texts.__getitem__)

    def endless(name):
        depth = int(name.rsplit('T', 1)[-1]) if 'T' in name.split('/')[-1] else 0
        return f'a_msgs/T{depth + 1} next\n'
    with pytest.raises(MessageTypeError, match='nests deeper than'):
        full_definition('a_msgs/msg/T0', endless)


def test_a_missing_or_malformed_type_is_a_clear_error():
    with pytest.raises(MessageTypeError, match='nope_msgs'):
        full_definition('nope_msgs/msg/Missing')
    with pytest.raises(MessageTypeError, match='malformed ROS type name'):
        full_definition('not a type')
