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

"""Camera frames: resolutions, the test pattern, sensor_msgs/Image fields, JPEG."""

import cv2
import numpy as np
import pytest

from unity_sensors.camera.frames import check_resolution, draw_test_pattern, image_fields, jpeg
from unity_sensors.errors import SensorConfigError


@pytest.mark.parametrize('w,h', [(5, 480), (640, 0), (100000, 480), (-1, -1)])
def test_unsupported_resolutions_are_refused(w, h):
    with pytest.raises(SensorConfigError, match=f'unsupported resolution {w}x{h}'):
        check_resolution(w, h)


def test_pattern_frames_have_the_size_asked_for_and_differ():
    a = draw_test_pattern(1, 320, 240, 1000.0)
    b = draw_test_pattern(2, 320, 240, 1000.04)
    assert a.shape == (240, 320, 3) and a.dtype == np.uint8
    assert np.count_nonzero(a != b) > 1000


def test_image_fields_rgb8_swaps_channels_and_packs_rows():
    frame = np.zeros((2, 3, 3), np.uint8)
    frame[..., 0] = 10   # blue
    frame[..., 2] = 200  # red
    fields, data = image_fields(frame, 'rgb8')
    assert fields == {'height': 2, 'width': 3, 'encoding': 'rgb8', 'is_bigendian': 0,
                      'step': 9}
    assert data[:3] == bytes([200, 0, 10]) and len(data) == 18
    _, bgr = image_fields(frame, 'bgr8')
    assert bgr[:3] == bytes([10, 0, 200])
    with pytest.raises(SensorConfigError, match="unsupported encoding 'mono8'"):
        image_fields(frame, 'mono8')


def test_jpeg_round_trips_approximately():
    frame = draw_test_pattern(3, 160, 120, 0.0)
    decoded = cv2.imdecode(np.frombuffer(jpeg(frame, 95), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == frame.shape
    assert np.mean(np.abs(decoded.astype(int) - frame.astype(int))) < 10
