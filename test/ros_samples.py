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
Sample ROS messages of many shapes, numbered, and their plain JSON form.

``sample(type_name, i)`` is the ``i``-th message of a type: nested messages, fixed and
variable arrays, ``byte``/``char``, int64 and uint64 beyond 2^53, float32, unicode strings,
``Header``/``Time``/``Duration``. ``plain(message)`` gives the JSON form
``test/js/foxglove_decode.js`` gives a message Foxglove's libraries decoded, and
``rosbags_plain`` the same for a message ``rosbags`` deserialized, so tests compare the
three exactly.
"""

import importlib
from typing import Any, Dict, List

from rclpy.serialization import deserialize_message, serialize_message

SAMPLE_TYPES = [
    'std_msgs/msg/String', 'std_msgs/msg/UInt64', 'std_msgs/msg/Char', 'std_msgs/msg/Bool',
    'std_msgs/msg/Int64MultiArray', 'std_msgs/msg/Float32MultiArray',
    'std_msgs/msg/UInt8MultiArray', 'sensor_msgs/msg/Image', 'sensor_msgs/msg/CameraInfo',
    'sensor_msgs/msg/CompressedImage', 'sensor_msgs/msg/Imu', 'sensor_msgs/msg/JointState',
    'sensor_msgs/msg/PointCloud2', 'geometry_msgs/msg/PoseStamped',
    'geometry_msgs/msg/WrenchStamped', 'diagnostic_msgs/msg/DiagnosticArray',
    'visualization_msgs/msg/MarkerArray']
SAFE_INT = 2 ** 53


def message_class(type_name: str) -> Any:
    """Return the Python class of ``pkg/msg/Name``."""
    pkg, kind, name = type_name.split('/')
    return getattr(importlib.import_module(f'{pkg}.{kind}'), name)


def topic_of(type_name: str, prefix: str = '/samples') -> str:
    """Return the topic a sample type is published on (``/samples/std_msgs_String``)."""
    pkg, _kind, name = type_name.split('/')
    return f'{prefix}/{pkg}_{name}'


def _header(i: int, frame: str = 'sample') -> Any:
    from std_msgs.msg import Header
    header = Header(frame_id=f'{frame}_{i}')
    header.stamp.sec, header.stamp.nanosec = 1_700_000_000 + i, (i * 7919) % 1_000_000_000
    return header


def sample(type_name: str, i: int) -> Any:  # noqa: C901 (one branch per type)
    """Return the ``i``-th sample message of ``type_name``."""
    cls = message_class(type_name)
    msg = cls()
    name = type_name.split('/')[-1]
    if name == 'String':
        msg.data = f'héllo {i} ✓ \t "quoted"'
    elif name == 'UInt64':
        msg.data = 2 ** 64 - 1 - i
    elif name == 'Char':
        msg.data = 65 + i % 26
    elif name == 'Bool':
        msg.data = i % 2 == 0
    elif name == 'Int64MultiArray':
        from std_msgs.msg import MultiArrayDimension
        msg.layout.dim = [MultiArrayDimension(label='values', size=4, stride=4)]
        msg.layout.data_offset = i % 3
        msg.data = [-2 ** 63, 2 ** 62 + i, -i, SAFE_INT + 1 + i]
    elif name == 'Float32MultiArray':
        msg.data = [0.25 * i, -1.5, 3.0, float(2 ** 20)]
    elif name == 'UInt8MultiArray':
        msg.data = bytes((i + k) % 256 for k in range(37))
    elif name == 'Image':
        msg.header, msg.height, msg.width, msg.encoding = _header(i, 'camera'), 3, 4, 'rgb8'
        msg.is_bigendian, msg.step = 0, 12
        msg.data = bytes((i * 3 + k) % 256 for k in range(36))
    elif name == 'CameraInfo':
        msg.header, msg.height, msg.width = _header(i, 'camera'), 480, 640
        msg.distortion_model = 'plumb_bob'
        msg.d = [0.1 * i, -0.2, 0.0, 0.001, 1 / 3]
        msg.k = [500.0 + i, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
        msg.p = [float(k + i) for k in range(12)]
        msg.binning_x, msg.roi.width, msg.roi.do_rectify = 2, 10 + i, True
    elif name == 'CompressedImage':
        msg.header, msg.format = _header(i), 'rgb8; jpeg compressed bgr8'
        msg.data = bytes([0xFF, 0xD8, i % 256, 0xFF, 0xD9])
    elif name == 'Imu':
        msg.header = _header(i, 'imu')
        msg.orientation.w, msg.orientation.x = 1.0, i / 7
        msg.orientation_covariance = [float(k) / (i + 1) for k in range(9)]
        msg.angular_velocity.z = -i * 0.5
        msg.linear_acceleration_covariance[0] = -1.0
    elif name == 'JointState':
        msg.header = _header(i, 'base')
        msg.name = [f'joint_{k}' for k in range(3)]
        msg.position, msg.velocity, msg.effort = [i * 0.1, 0.2, -0.3], [1.0, 2.0, 3.0], [0.5]
    elif name == 'PointCloud2':
        from sensor_msgs.msg import PointField
        msg.header, msg.height, msg.width = _header(i, 'lidar'), 1, 2
        msg.fields = [PointField(name=n, offset=4 * k, datatype=PointField.FLOAT32, count=1)
                      for k, n in enumerate('xyz')]
        msg.is_bigendian, msg.point_step, msg.row_step, msg.is_dense = False, 12, 24, i % 2 == 1
        msg.data = bytes((i + k) % 256 for k in range(24))
    elif name == 'PoseStamped':
        msg.header = _header(i, 'map')
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = i * 1.5, -2.25, 1e-9
        msg.pose.orientation.w = 1.0
    elif name == 'WrenchStamped':
        msg.header = _header(i, 'glove')
        msg.wrench.force.x, msg.wrench.force.z, msg.wrench.torque.y = 0.12 * i, 9.8, -0.01
    elif name == 'DiagnosticArray':
        from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
        msg.header = _header(i)
        msg.status = [DiagnosticStatus(level=bytes([k % 4]), name=f'sample: part {k}',
                                       message=f'status {i}', hardware_id='hw',
                                       values=[KeyValue(key='i', value=str(i))])
                      for k in range(2)]
    elif name == 'MarkerArray':
        from visualization_msgs.msg import Marker
        from geometry_msgs.msg import Point
        marker = Marker(header=_header(i), ns='samples', id=i, type=Marker.TEXT_VIEW_FACING,
                        action=Marker.ADD, text=f'marker {i}', frame_locked=True)
        marker.pose.position.x, marker.pose.orientation.w = float(i), 1.0
        marker.scale.z = 0.25
        marker.color.r, marker.color.a = 0.5, 1.0
        marker.lifetime.sec, marker.lifetime.nanosec = 2, 500_000_000
        marker.points = [Point(x=float(k), y=-float(k), z=0.5) for k in range(3)]
        msg.markers = [marker, Marker(action=Marker.DELETEALL, id=-1)]
    else:
        raise ValueError(f'no sample of {type_name}')
    return msg


def roundtrip(message: Any) -> Any:
    """Return ``message`` as it arrives: serialized to CDR and back (float32 rounded)."""
    return deserialize_message(serialize_message(message), type(message))


def _scalar(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -SAFE_INT <= value <= SAFE_INT else str(value)
    if isinstance(value, float):
        return value
    if isinstance(value, (bytes, bytearray)):
        return value[0] if len(value) == 1 else list(value)
    return value


def plain(message: Any) -> Any:
    """Return a message (or field value) as plain JSON, as foxglove_decode.js gives it."""
    if hasattr(message, 'get_fields_and_field_types'):
        return {name: plain(getattr(message, name))
                for name in message.get_fields_and_field_types()}
    if isinstance(message, (bytes, bytearray)):
        return _scalar(message)
    if isinstance(message, str) or not hasattr(message, '__iter__'):
        return _scalar(message.item() if hasattr(message, 'item') else message)
    return [plain(v) for v in message]


def rosbags_plain(message: Any) -> Any:
    """Return a message ``rosbags`` deserialized as the same plain JSON as :func:`plain`."""
    import dataclasses
    if dataclasses.is_dataclass(message):
        # rosbags keeps a type's constants (UPPER_CASE) and __msgtype__ as fields too
        return {f.name: rosbags_plain(getattr(message, f.name))
                for f in dataclasses.fields(message)
                if not f.name.startswith('__') and not f.name.isupper()}
    if isinstance(message, str) or not hasattr(message, '__iter__'):
        return _scalar(message.item() if hasattr(message, 'item') else message)
    return [rosbags_plain(v) for v in message]


def key(plain_value: Any) -> str:
    """Return a plain value as canonical JSON text (``3.0`` and ``3`` alike, as in JSON)."""
    import json

    def canonical(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {k: canonical(v) for k, v in value.items()}
        if isinstance(value, list):
            return [canonical(v) for v in value]
        return value
    return json.dumps(canonical(plain_value), sort_keys=True)


def expected_plains(type_name: str, count: int) -> Dict[str, int]:
    """Return ``{key(plain(roundtrip(sample(type_name, i)))): i}`` for ``i < count``."""
    return {key(plain(roundtrip(sample(type_name, i)))): i for i in range(count)}


def all_samples(i: int) -> List[Any]:
    """Return the ``i``-th sample of every type, in :data:`SAMPLE_TYPES` order."""
    return [sample(t, i) for t in SAMPLE_TYPES]
