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

"""Camera calibration: camera_info YAML to sensor_msgs/CameraInfo fields, clear errors."""

import pytest
from sensor_support import CALIBRATION

from unity_sensors.camera.calibration import CalibrationError, camera_info_fields, load_calibration


def test_calibration_yaml_gives_camera_info_fields(tmp_path):
    path = tmp_path / 'cam.yaml'
    path.write_text(CALIBRATION)
    fields = camera_info_fields(load_calibration(f'file://{path}'), 0, 0)
    assert fields['width'] == 64 and fields['k'][0] == 50.0 and fields['d'][4] == 0.01
    assert len(fields['p']) == 12
    uncalibrated = camera_info_fields(None, 640, 480)
    assert uncalibrated['k'] == [0.0] * 9 and uncalibrated['width'] == 640


def test_bad_calibration_names_file_line_and_key(tmp_path):
    path = tmp_path / 'cam.yaml'
    path.write_text(CALIBRATION.replace('data: [0.1, -0.2, 0.0, 0.0, 0.01]', 'data: [0.1]'))
    with pytest.raises(CalibrationError) as info:
        load_calibration(path)
    assert f'{path}:9: distortion_coefficients: data has 1 values' in str(info.value)


@pytest.mark.parametrize('old, new, why', [
    ('plumb_bob', '"plumb\\ud800bob"', 'unpaired surrogate'),
    ('plumb_bob', '"plumb\\0bob"', 'distortion_model: must be printable text'),
    ('test_cam', '"\\e[2J"', 'camera_name: must be printable text')])
def test_names_published_in_every_camera_info_must_be_printable_utf8(tmp_path, old, new, why):
    r"""Regression: "\ud800" loaded, then every CameraInfo publish raised (a fault loop)."""
    path = tmp_path / 'cam.yaml'
    path.write_text(CALIBRATION.replace(old, new))
    with pytest.raises(CalibrationError, match=why):
        load_calibration(path)
