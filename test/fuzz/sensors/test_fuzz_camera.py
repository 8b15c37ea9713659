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
Fuzz: what the camera reads from files (images of a folder, its calibration YAML).

- any bytes as an image file: an 8-bit BGR frame, or SensorConfigError saying why the file is
  skipped; then through the node's frame path (``as_bgr``, ``fit``, ``image_fields``) to an
  ``Image`` whose fields hold together;
- any calibration text: a Calibration whose CameraInfo serializes, or a CalibrationError
  naming the file (never another exception).
"""

import json

import cv2
from hypothesis import example, given, strategies as st
import numpy as np
import pytest
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CameraInfo, Image

from unity_sensors.camera.calibration import (CalibrationError, camera_info_fields,
                                              parse_calibration)
from unity_sensors.camera.frames import as_bgr, fit, image_fields
from unity_sensors.camera.sources import read_image
from unity_sensors.errors import SensorConfigError

SEEDS = {suffix: cv2.imencode(suffix, np.arange(6 * 5 * 3, dtype=np.uint8).reshape(6, 5, 3))[1]
         .tobytes() for suffix in ('.png', '.jpg', '.bmp', '.ppm', '.tif')}


@st.composite
def image_bytes(draw):
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    how = draw(st.sampled_from(['whole', 'cut', 'flip', 'random', 'header']))
    if how == 'cut':
        data = data[:draw(st.integers(0, len(data)))]
    elif how == 'flip':
        for _ in range(draw(st.integers(1, 6))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif how == 'header':  # sizes and counts in the first bytes: as a bomb would set them
        at = draw(st.integers(0, min(40, len(data) - 4)))
        data[at:at + 4] = draw(st.sampled_from([  # each example quick: no claim just under
            b'\xff\xff\xff\xff', b'\x7f\xff\xff\xff', b'\x00\x00\x00\x00',  # the bound
            b'\x00\x01\x00\x00', b'\x00\x00\x01\x00']))
    elif how == 'random':
        data = bytearray(draw(st.binary(max_size=200)))
    return bytes(data)


@pytest.fixture(scope='module')
def image_path(tmp_path_factory):
    return tmp_path_factory.mktemp('images') / 'frame.png'


@given(data=image_bytes(), size=st.sampled_from([(0, 0), (16, 16), (33, 17)]),
       encoding=st.sampled_from(['rgb8', 'bgr8']))
@example(data=SEEDS['.png'][:33] + b'\x7f\xff\xff\xff' + SEEDS['.png'][37:], size=(0, 0),
         encoding='rgb8')  # found here: OpenCV took 4 GB for this 100-byte file
def test_any_image_file_is_a_frame_for_an_image_message_or_skipped(
        image_path, data, size, encoding):
    image_path.write_bytes(data)
    try:
        frame = read_image(image_path)
    except SensorConfigError as exc:
        assert str(image_path) in str(exc)
        return
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    fields, pixels = image_fields(fit(as_bgr(frame), *size), encoding)
    assert fields['step'] * fields['height'] == len(pixels)
    if size != (0, 0):
        assert (fields['width'], fields['height']) == size
    message = Image(**fields)
    message.data.frombytes(pixels)
    assert serialize_message(message)


@given(st.tuples(st.integers(0, 5), st.integers(0, 5)),
       st.sampled_from([(), (1,), (2,), (3,), (4,), (5,)]),
       st.sampled_from([np.uint8, np.uint16, np.float32]))
def test_any_frame_a_source_hands_over_is_converted_or_refused(hw, channels, dtype):
    frame = np.zeros(hw + channels, dtype)
    try:
        bgr = as_bgr(frame)
    except SensorConfigError as exc:
        assert 'expected 8-bit grey, BGR or BGRA' in str(exc)
        return
    assert bgr.shape == hw + (3,) and bgr.dtype == np.uint8


MATRIX = {'rows': 3, 'cols': 3, 'data': [1.0, 0, 2, 0, 1, 2, 0, 0, 1]}
GOOD = {'image_width': 64, 'image_height': 48, 'camera_name': 'cam',
        'camera_matrix': MATRIX, 'distortion_model': 'plumb_bob',
        'distortion_coefficients': {'rows': 1, 'cols': 5, 'data': [0.0] * 5},
        'projection_matrix': {'rows': 3, 'cols': 4, 'data': [1.0] * 12}}
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(),
                    st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=13), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=16)


def _calibration_or_error(text):
    try:
        calibration = parse_calibration(text, 'cam.yaml')
    except CalibrationError as exc:
        assert exc.issues and all(str(i).startswith('cam.yaml') for i in exc.issues)
        return
    info = CameraInfo(**camera_info_fields(calibration, 0, 0))
    assert serialize_message(info)


@given(st.text(max_size=300))
@example('camera_name: "\\ud800"')
def test_any_calibration_text_is_camera_info_or_a_calibration_error(text):
    _calibration_or_error(text)


@given(st.sampled_from(sorted(GOOD)), values)
@example('distortion_model', 'a\x00b')
@example('camera_matrix', {'rows': 64, 'cols': 64, 'data': [0.0] * 4096})
def test_any_value_of_a_calibration_key_is_camera_info_or_a_calibration_error(key, value):
    _calibration_or_error(json.dumps({**GOOD, key: value}, default=str))
