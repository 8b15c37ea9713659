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
The camera node (``camera`` executable): frames from one source to ROS image topics.

Publishes, with sensor-data QoS, ``~/image_raw`` (``sensor_msgs/Image``, rgb8 or bgr8),
``~/camera_info`` (``sensor_msgs/CameraInfo``: from ``camera_info_url`` when given, else
uncalibrated) and, with ``publish_compressed``, ``~/image_raw/compressed``
(``sensor_msgs/CompressedImage``, JPEG at ``jpeg_quality``). The source, its pacing and the
message fields are plain Python (``sources``, ``frames``, ``calibration``);
the lifecycle, threads and diagnostics come from :class:`SensorNode`.

Parameters: ``source`` (see ``sources``; default ``pattern``), ``width``, ``height``
(0 = native), ``fps`` (0 = native: the file's rate, the device's, 30 for patterns and
directories), ``encoding``, ``frame_id``, ``loop``, ``publish_compressed``,
``jpeg_quality``, ``camera_info_url``. ``width``, ``height``, ``fps``, ``encoding`` and
``jpeg_quality`` can be changed while active and apply from the next frame.
``stale_timeout_s`` (default 5 s, at least three frame periods; 0: off): a device lost for
longer, after reopening with backoff all along, puts the node into the error state.
"""

import sys
import time
from typing import Any, List, Optional, Tuple

from builtin_interfaces.msg import Time
import numpy as np
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from unity_kernel_core.errors import ConfigError
from unity_kernel_core.ros.parameters import Applies, ParamSpec
from unity_sensors.camera.calibration import Calibration, camera_info_fields, load_calibration
from unity_sensors.camera.frames import check_encoding, check_resolution, compressed_format
from unity_sensors.camera.frames import image_fields, jpeg
from unity_sensors.camera.sources import Format, FrameSource, make_source
from unity_sensors.capture import Pacer
from unity_sensors.errors import SensorConfigError, SensorError
from unity_sensors.sensor_node import run_node, sensor_qos, SensorNode

_FORMAT_PARAMS = ('width', 'height', 'fps')


PARAMETERS = [
    ParamSpec('source', 'pattern', 'What to read: pattern, a device (0, /dev/video0, '
              'device:PATH), a video file (file:PATH) or an image directory (dir:PATH).'),
    ParamSpec('width', 0, "Image width in pixels; 0: the source's own (set with height).",
              Applies.LIVE),
    ParamSpec('height', 0, "Image height in pixels; 0: the source's own (set with width).",
              Applies.LIVE),
    ParamSpec('fps', 0.0, 'Frames per second, 0 (native) .. 1000.', Applies.LIVE),
    ParamSpec('encoding', 'rgb8', 'Image encoding: rgb8 or bgr8.', Applies.LIVE),
    ParamSpec('loop', True, 'Files and directories: start again at the end.'),
    ParamSpec('publish_compressed', False, 'Also publish ~/image_raw/compressed (JPEG).'),
    ParamSpec('jpeg_quality', 80, 'JPEG quality of ~/image_raw/compressed, 1..100.',
              Applies.LIVE),
    ParamSpec('camera_info_url', '', 'Calibration file (path or file:// URL); empty: '
              'uncalibrated.'),
]


class CameraNode(SensorNode):
    """A lifecycle camera driver over :mod:`unity_sensors.camera.sources`."""

    sensor_name = 'camera'
    default_stale_timeout_s = 5.0
    LARGE_MESSAGES = True  # images beyond Fast DDS's 512 KB segment: the transport for them

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('camera', **kwargs)
        self.declare_specs(PARAMETERS)
        self.source: Optional[FrameSource] = None
        self.calibration: Optional[Calibration] = None
        self.pacer = Pacer(30.0, sleep=self._pace_sleep)
        self.encoding = 'rgb8'
        self.jpeg_quality = 80
        self._last_read = 0.0
        self._image_pub: Optional[Any] = None
        self._jpeg_pub: Optional[Any] = None
        self._info_pub: Optional[Any] = None

    # -- SensorNode hooks ------------------------------------------------------------------

    def configure_sensor(self) -> None:
        self.encoding = str(self.get_parameter('encoding').value)
        check_encoding(self.encoding)
        self.jpeg_quality = int(self.get_parameter('jpeg_quality').value)
        if not 1 <= self.jpeg_quality <= 100:
            raise SensorConfigError(f'jpeg_quality must be 1..100, got {self.jpeg_quality}')
        source = make_source(str(self.get_parameter('source').value), self._format(),
                             loop=bool(self.get_parameter('loop').value))
        source.check()
        url = str(self.get_parameter('camera_info_url').value)
        try:
            self.calibration = load_calibration(url) if url else None
        except ConfigError as exc:
            raise SensorConfigError(str(exc)) from None
        self.source = source
        qos = sensor_qos()
        self._image_pub = self.create_lifecycle_publisher(Image, '~/image_raw', qos)
        self._info_pub = self.create_lifecycle_publisher(CameraInfo, '~/camera_info', qos)
        if self.get_parameter('publish_compressed').value:
            self._jpeg_pub = self.create_lifecycle_publisher(
                CompressedImage, '~/image_raw/compressed', qos)

    def open_sensor(self) -> None:
        assert self.source is not None
        self.source.start()
        self.pacer.set_rate(self.source.rate())
        self._last_read = 0.0

    def read_sample(self) -> Optional[Tuple[np.ndarray, Time]]:
        source = self.source
        assert source is not None
        if source.paced:
            missed = self.pacer.wait()
            if missed:
                self.counters.add(late=missed)
        frame = source.read()
        now = time.monotonic()
        if not source.paced and self._last_read and now - self._last_read > 1.5 / source.rate():
            self.counters.add(late=1)
        self._last_read = now
        if frame is None:
            return None
        return frame, self.get_clock().now().to_msg()

    def handle_sample(self, sample: Tuple[np.ndarray, Time]) -> None:
        frame, stamp = sample
        fields, pixels = image_fields(frame, self.encoding)
        image = Image(**fields)
        image.header.stamp = stamp
        image.header.frame_id = self.frame_id
        image.data.frombytes(pixels)
        if self._image_pub is not None:
            self._image_pub.publish(image)
        if self._jpeg_pub is not None:
            compressed = CompressedImage(format=compressed_format(self.encoding))
            compressed.header = image.header
            compressed.data.frombytes(jpeg(frame, self.jpeg_quality))
            self._jpeg_pub.publish(compressed)
        if self._info_pub is not None:
            info = CameraInfo(**camera_info_fields(self.calibration, fields['width'],
                                                   fields['height']))
            info.header = image.header
            self._info_pub.publish(info)

    def close_sensor(self) -> None:
        if self.source is not None:
            self.source.close()

    def cleanup_sensor(self) -> None:
        for pub in (self._image_pub, self._jpeg_pub, self._info_pub):
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
        self._image_pub = self._jpeg_pub = self._info_pub = None
        self.source = None

    def describe_source(self) -> str:
        return self.source.describe() if self.source is not None else \
            str(self.get_parameter('source').value)

    def sensor_diagnostics(self) -> dict:
        source = self.source
        values: dict = {'source': self.describe_source(), 'encoding': self.encoding,
                        'target_fps': f'{source.rate():.2f}' if source else ''}
        if source is not None and source.ended:
            values['end_of_data'] = True
        if getattr(source, 'unreadable', 0):  # an image folder's files that do not decode
            values['unreadable_images'] = getattr(source, 'unreadable')
            values['last_unreadable'] = getattr(source, 'last_unreadable')
        return values

    def stale_deadline_s(self) -> float:
        """Return ``stale_timeout_s``, at least three frame periods; none after a file's end."""
        source = self.source
        if source is None or source.ended:
            return 0.0
        stale = float(self.get_parameter('stale_timeout_s').value)
        return max(stale, 3.0 / source.rate()) if stale > 0 else 0.0

    def check_parameter(self, param: Parameter) -> Optional[str]:
        try:
            if param.name in ('width', 'height'):
                other = 'height' if param.name == 'width' else 'width'
                size = {param.name: int(param.value), other: int(self.get_parameter(other).value)}
                check_resolution(size['width'], size['height'])
            elif param.name == 'fps' and not 0 <= float(param.value) <= 1000:
                return f'fps must be 0 (native) .. 1000, got {param.value}'
            elif param.name == 'encoding':
                check_encoding(str(param.value))
            elif param.name == 'jpeg_quality' and not 1 <= int(param.value) <= 100:
                return f'jpeg_quality must be 1..100, got {param.value}'
        except SensorError as exc:
            return str(exc)
        return None

    def parameters_changed(self, params: List[Parameter]) -> None:
        names = {p.name for p in params}
        if 'encoding' in names:
            self.encoding = str(self.get_parameter('encoding').value)
        if 'jpeg_quality' in names:
            self.jpeg_quality = int(self.get_parameter('jpeg_quality').value)
        if names & set(_FORMAT_PARAMS) and self.source is not None:
            self.source.set_format(self._format())
            self.pacer.set_rate(self.source.rate())
            self.get_logger().info(f'format now {self._format()}')

    # -- internals -------------------------------------------------------------------------

    def _format(self) -> Format:
        return Format(width=int(self.get_parameter('width').value),
                      height=int(self.get_parameter('height').value),
                      fps=float(self.get_parameter('fps').value))

    def _pace_sleep(self, seconds: float) -> None:
        worker = self.worker
        if worker is not None:
            worker.sleep(seconds)
        else:
            time.sleep(seconds)


def main(args: Optional[List[str]] = None) -> int:
    """Run the camera node (``ros2 run unity_kernel camera``)."""
    return run_node(CameraNode, args)


if __name__ == '__main__':
    sys.exit(main())
