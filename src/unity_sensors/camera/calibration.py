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
Camera calibration files in the standard ROS ``camera_info`` YAML format.

The format written by ``camera_calibration`` and read by ``camera_info_manager``::

    image_width: 640
    image_height: 480
    camera_name: front
    camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob
    distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, t1, t2, k3]}
    rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
    projection_matrix: {rows: 3, cols: 4, data: [fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0]}

Problems are reported with file, line and key like the kernel's config (``documents``).
"""

import os
from typing import Any, List, Tuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError

from unity_kernel_core.config.documents import parse_document, read_text, validation_issues
from unity_kernel_core.errors import ConfigError, ConfigIssue
from unity_kernel_core.paths import PACKAGE_URL, resolve_path


class CalibrationError(ConfigError):
    """A calibration file could not be read or did not validate."""

    what = 'camera calibration'


class Matrix(BaseModel):
    """A row-major matrix as written in calibration files."""

    model_config = ConfigDict(extra='forbid', frozen=True, allow_inf_nan=False)

    rows: int = Field(ge=1, le=64)
    cols: int = Field(ge=1, le=64)
    data: List[float]

    @model_validator(mode='after')
    def _size(self) -> 'Matrix':
        if len(self.data) != self.rows * self.cols:
            raise ValueError(f'data has {len(self.data)} values, rows x cols is '
                             f'{self.rows} x {self.cols} = {self.rows * self.cols}')
        return self


def _shape(name: str, m: Matrix, shape: Tuple[int, int]) -> None:
    if (m.rows, m.cols) != shape:
        raise ValueError(f'{name} must be {shape[0]} x {shape[1]}, got {m.rows} x {m.cols}')


class Calibration(BaseModel):
    """One camera's intrinsic calibration (``sensor_msgs/CameraInfo`` fields)."""

    model_config = ConfigDict(extra='forbid', frozen=True, allow_inf_nan=False)

    image_width: int = Field(ge=1, le=1 << 20)
    image_height: int = Field(ge=1, le=1 << 20)
    camera_name: str = Field('', max_length=256)
    camera_matrix: Matrix
    distortion_model: str = Field('plumb_bob', max_length=256)
    distortion_coefficients: Matrix
    rectification_matrix: Matrix = Matrix(rows=3, cols=3, data=[1, 0, 0, 0, 1, 0, 0, 0, 1])
    projection_matrix: Matrix

    @field_validator('camera_name', 'distortion_model')
    @classmethod
    def _printable(cls, value: str) -> str:
        # published in every CameraInfo: a NUL would cut it, an ESC reach a terminal
        if not value.isprintable():
            raise ValueError(f'must be printable text, without control characters (got '
                             f'{value!r})')
        return value

    @model_validator(mode='after')
    def _shapes(self) -> 'Calibration':
        _shape('camera_matrix', self.camera_matrix, (3, 3))
        _shape('rectification_matrix', self.rectification_matrix, (3, 3))
        _shape('projection_matrix', self.projection_matrix, (3, 4))
        if self.distortion_coefficients.rows != 1:
            raise ValueError('distortion_coefficients must have 1 row, got '
                             f'{self.distortion_coefficients.rows}')
        return self


def parse_calibration(text: str, source: str) -> Calibration:
    """Validate calibration YAML text; raise CalibrationError listing every problem."""
    try:
        data, lines = parse_document(text, source)
    except ConfigError as exc:
        raise CalibrationError(exc.issues) from None
    try:
        return Calibration.model_validate(data)
    except ValidationError as exc:
        raise CalibrationError(validation_issues(exc, source, lines)) from None


def load_calibration(url: 'str | os.PathLike[str]') -> Calibration:
    """
    Load a calibration file given as a path, a ``file://`` or a ``package://`` URL.

    ``package://pkg/calib/cam.yaml`` is a file of an installed ROS package (as
    ``camera_info_manager`` reads it), so a deployment's config need not hold a machine's
    absolute path.
    """
    path = str(url)
    if path.startswith('file://'):
        path = path[len('file://'):]
    elif path.startswith(PACKAGE_URL):
        try:
            path = str(resolve_path(path, None))
        except FileNotFoundError as exc:
            raise CalibrationError([ConfigIssue(str(url), None, '', str(exc))]) from None
    try:
        text = read_text(path)
    except ConfigError as exc:
        raise CalibrationError(exc.issues) from None
    return parse_calibration(text, path)


def camera_info_fields(cal: 'Calibration | None', width: int, height: int) -> dict[str, Any]:
    """
    Return ``sensor_msgs/CameraInfo`` field values (without the header).

    Without a calibration the camera is uncalibrated: size only, all matrices zero (the
    ROS convention, ``K[0] == 0``).
    """
    if cal is None:
        return {'width': width, 'height': height, 'distortion_model': '', 'd': [],
                'k': [0.0] * 9, 'r': [0.0] * 9, 'p': [0.0] * 12}
    return {'width': cal.image_width, 'height': cal.image_height,
            'distortion_model': cal.distortion_model,
            'd': list(cal.distortion_coefficients.data), 'k': list(cal.camera_matrix.data),
            'r': list(cal.rectification_matrix.data), 'p': list(cal.projection_matrix.data)}
