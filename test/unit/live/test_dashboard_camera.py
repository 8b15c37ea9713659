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

"""The dashboard's camera: good frames become JPEG, hostile ones are refused, never raise."""

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from unity_kernel_core.bus.events import Event, Tier
from unity_kernel_core.live.camera import Camera, FrameError, MAX_PIXELS, to_jpeg
from unity_kernel_core.ros.message_types import CdrCodec

TOPIC = '/sensors/camera/image_raw'


def _image(width=8, height=6, encoding='rgb8', step=None, data=None):
    channels = {'rgb8': 3, 'bgr8': 3, 'mono8': 1, 'rgba8': 4, 'bgra8': 4}.get(encoding, 2)
    step = width * channels if step is None else step
    if data is None:
        data = bytes(i % 256 for i in range(height * step))
    return Image(width=width, height=height, encoding=encoding, step=step, data=data)


def _event(msg, seq=1, topic=TOPIC, type_name='sensor_msgs/msg/Image'):
    return Event(topic, type_name, Tier.HIGH, seq, message=msg)


def _decodes(jpeg):
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) is not None


def test_raw_frames_of_each_encoding_and_a_padded_step_become_jpeg():
    for encoding in ('rgb8', 'bgr8', 'mono8', 'rgba8', 'bgra8'):
        assert _decodes(to_jpeg(_event(_image(encoding=encoding)))), encoding
    assert _decodes(to_jpeg(_event(_image(width=5, step=32))))


def test_a_jpeg_frame_is_passed_through_and_another_format_decoded():
    ok, png = cv2.imencode('.png', np.zeros((4, 4, 3), np.uint8))
    jpeg = CompressedImage(format='jpeg', data=b'\xff\xd8 anything')
    assert to_jpeg(_event(jpeg, type_name='sensor_msgs/msg/CompressedImage')) == \
        b'\xff\xd8 anything'
    png_msg = CompressedImage(format='png', data=bytes(png))
    assert _decodes(to_jpeg(_event(png_msg, type_name='sensor_msgs/msg/CompressedImage')))


@pytest.mark.parametrize('msg, why', [
    (_image(width=4000, height=4000, data=b'\x00' * 30), 'do not hold'),
    (_image(width=8, height=6, step=4), 'do not hold'),
    (_image(width=0, height=6), 'pixels'),
    (_image(width=2 ** 16, height=2 ** 16, data=b''), 'pixels'),
    (_image(encoding='16UC1'), 'not shown'),
    (_image(encoding='rgb8', data=b''), 'do not hold'),
])
def test_hostile_raw_frames_are_refused_with_a_reason(msg, why):
    with pytest.raises(FrameError, match=why):
        to_jpeg(_event(msg))


def test_hostile_compressed_frames_and_cdr_that_does_not_decode_are_refused():
    garbage = CompressedImage(format='png', data=b'\x89PNG\r\n\x1a\n' + b'\x00' * 64)
    with pytest.raises(FrameError, match='does not decode'):
        to_jpeg(_event(garbage, type_name='sensor_msgs/msg/CompressedImage'))
    # a PNG whose header was changed to claim 2**30 pixels
    ok, png = cv2.imencode('.png', np.zeros((1, 1, 3), np.uint8))
    huge = bytearray(png)
    huge[16:24] = (2 ** 15).to_bytes(4, 'big') + (2 ** 15).to_bytes(4, 'big')
    with pytest.raises(FrameError):
        to_jpeg(_event(CompressedImage(format='png', data=bytes(huge)),
                       type_name='sensor_msgs/msg/CompressedImage'))
    assert 2 ** 30 > MAX_PIXELS
    bad_cdr = Event(TOPIC, 'sensor_msgs/msg/Image', Tier.HIGH, 1, cdr=b'\x00\x01\x00\x00\xff',
                    codec=CdrCodec())
    with pytest.raises(FrameError, match='does not decode'):
        to_jpeg(bad_cdr)


def test_the_camera_keeps_the_latest_frame_and_says_why_one_is_not_shown():
    camera = Camera(TOPIC)
    assert camera.jpeg() is None and camera.info()['seq'] is None
    first = _event(_image(), seq=1)
    camera.offer(first)
    good = camera.jpeg()
    assert _decodes(good.data) and camera.info()['error'] is None
    assert (good.seq, good.stamp_ns) == (1, first.stamp_ns)
    assert camera.jpeg() is good  # encoded once
    camera.offer(_event(_image(width=999, data=b'x'), seq=2))
    assert camera.jpeg() is None
    assert 'frame 2' in camera.info()['error'] and camera.info()['seq'] == 2
    camera.offer(_event(_image(), seq=3))
    assert _decodes(camera.jpeg().data) and camera.info()['error'] is None
    assert camera.frames == 3


def test_a_compressed_png_claiming_a_huge_chunk_is_refused_before_opencv_sees_it():
    """Regression: any publisher's 100-byte PNG with a 2 GiB chunk made the kernel take 4 GB."""
    ok, png = cv2.imencode('.png', np.zeros((6, 5, 3), np.uint8))
    bomb = bytearray(png.tobytes())
    bomb[33:37] = b'\x7f\xff\xff\xff'
    with pytest.raises(FrameError, match='claims 2147483647 bytes'):
        to_jpeg(_event(CompressedImage(format='png', data=bytes(bomb)),
                       type_name='sensor_msgs/msg/CompressedImage'))
