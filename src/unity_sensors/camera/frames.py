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
Camera frame logic without ROS: the test pattern, resizing, JPEG, image message fields.

Frames are ``numpy`` arrays ``(height, width, 3)`` of ``uint8`` in OpenCV's BGR order.
"""

import datetime
from typing import Any, Dict, Tuple

import cv2
import numpy as np

from unity_sensors.errors import SensorConfigError

ENCODINGS = ('rgb8', 'bgr8')
MIN_SIDE = 16
MAX_SIDE = 8192
_BARS = np.array([[255, 255, 255], [0, 255, 255], [255, 255, 0], [0, 255, 0],
                  [255, 0, 255], [0, 0, 255], [255, 0, 0], [0, 0, 0]], dtype=np.uint8)


def check_resolution(width: int, height: int) -> None:
    """Raise SensorConfigError unless width x height is a supported size (0 = native)."""
    for name, v in (('width', width), ('height', height)):
        if v != 0 and not MIN_SIDE <= v <= MAX_SIDE:
            raise SensorConfigError(
                f'unsupported resolution {width}x{height}: {name} must be 0 (native) or '
                f'{MIN_SIDE}..{MAX_SIDE}')
    if (width == 0) != (height == 0):
        raise SensorConfigError(f'unsupported resolution {width}x{height}: give both width '
                                'and height, or neither (0 = native)')


def check_encoding(encoding: str) -> None:
    """Raise SensorConfigError unless the encoding is one the camera publishes."""
    if encoding not in ENCODINGS:
        raise SensorConfigError(f'unsupported encoding {encoding!r}: expected one of '
                                f'{", ".join(ENCODINGS)}')


def draw_test_pattern(frame_number: int, width: int, height: int, stamp_s: float) -> np.ndarray:
    """
    Draw the synthetic test pattern: moving colour bars, a moving box, frame number and time.

    Consecutive frames always differ (the bars scroll and the text changes).
    """
    xs = (np.arange(width) + 4 * frame_number) % width
    bars = _BARS[(xs * len(_BARS)) // width]
    frame = np.broadcast_to(bars, (height, width, 3)).copy()
    side = max(8, min(width, height) // 6)
    x = (7 * frame_number) % max(1, width - side)
    y = (5 * frame_number) % max(1, height - side)
    cv2.rectangle(frame, (x, y), (x + side, y + side), (40, 40, 40), thickness=-1)
    when = datetime.datetime.fromtimestamp(stamp_s, tz=datetime.timezone.utc)
    scale = max(0.4, min(width, height) / 480)
    thickness = max(1, int(2 * scale))
    for row, text in enumerate((f'frame {frame_number}',
                                when.strftime('%H:%M:%S.%f')[:-3] + ' UTC')):
        origin = (10, int((row + 1) * 32 * scale) + 4)
        cv2.putText(frame, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                    thickness + 2, cv2.LINE_AA)
        cv2.putText(frame, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    thickness, cv2.LINE_AA)
    return frame


def fit(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Return ``frame`` resized to width x height (unchanged when 0 or already that size)."""
    if width and height and frame.shape[:2] != (height, width):
        return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    return frame


def as_bgr(frame: np.ndarray) -> np.ndarray:
    """
    Return a 3-channel 8-bit BGR frame from grey, BGRA or BGR input.

    Raise SensorConfigError for anything else a source might hand over (another channel
    count or sample type, an empty frame), so that it is refused with the reason.
    """
    channels = 1 if frame.ndim == 2 else frame.shape[2] if frame.ndim == 3 else 0
    if frame.dtype != np.uint8 or channels not in (1, 3, 4) or 0 in frame.shape:
        raise SensorConfigError(f'a frame of shape {frame.shape} and type {frame.dtype}: '
                                'expected 8-bit grey, BGR or BGRA')
    if channels == 1:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


def image_fields(frame: np.ndarray, encoding: str) -> Tuple[Dict[str, Any], bytes]:
    """
    Return (``sensor_msgs/Image`` scalar fields, pixel bytes) for a BGR frame.

    ``step`` is the length of one row in bytes (width x 3 for rgb8/bgr8); rows are packed.
    """
    check_encoding(encoding)
    pixels = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if encoding == 'rgb8' else frame
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    return ({'height': height, 'width': width, 'encoding': encoding, 'is_bigendian': 0,
             'step': width * 3}, pixels.tobytes())


def jpeg(frame: np.ndarray, quality: int) -> bytes:
    """Encode a BGR frame as JPEG at ``quality`` (1..100)."""
    if not 1 <= quality <= 100:
        raise SensorConfigError(f'jpeg_quality must be 1..100, got {quality}')
    ok, data = cv2.imencode('.jpg', frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise SensorConfigError(f'JPEG encoding failed for a {frame.shape} frame')
    return data.tobytes()


def compressed_format(encoding: str) -> str:
    """Return ``CompressedImage.format`` as image_transport writes it for JPEG."""
    return f'{encoding}; jpeg compressed bgr8'
