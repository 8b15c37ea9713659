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
The dashboard's camera: the latest frame only, turned into JPEG when a page asks for it.

Only the latest frame is kept (a page asks for one at a time and always gets the newest:
never a queue of stale frames for a slow client); it is encoded once, whatever the number of
pages.

Frames come from any publisher on the camera's topic, so each is checked before it is
decoded: its CDR may not decode, its ``height``/``step``/``width`` may not match its data,
a compressed image may claim billions of pixels. Such a frame is not shown (``jpeg`` returns
None and ``error`` says why); it never raises.
"""

import dataclasses
import threading
from typing import Any, Dict, Optional, Tuple

from unity_kernel_core.bus.events import Event
from unity_kernel_core.common.images import bound_image_decoding, image_problem
from unity_kernel_core.common.images import MAX_IMAGE_PIXELS

#: The most pixels the dashboard decodes or encodes for one frame (8192 x 8192).
MAX_PIXELS = MAX_IMAGE_PIXELS
bound_image_decoding()  # OpenCV reads its bound once, when first imported: before that
#: Bytes per pixel of the raw encodings the dashboard shows.
CHANNELS = {'rgb8': 3, 'bgr8': 3, 'mono8': 1, 'rgba8': 4, 'bgra8': 4}


class FrameError(ValueError):
    """A camera frame the dashboard cannot show (the message says why)."""


@dataclasses.dataclass(frozen=True)
class Jpeg:
    """The latest frame as JPEG, with its bus sequence number and its stamp (ns, wall clock)."""

    data: bytes
    seq: int
    stamp_ns: int


class Camera:
    """The latest camera frame (raw and compressed), turned into JPEG on demand."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.compressed_topic = topic + '/compressed'
        self._raw: Optional[Event] = None
        self._compressed: Optional[Event] = None
        self._jpeg: Tuple[int, Optional[Jpeg]] = (-1, None)
        self._lock = threading.Lock()
        self.frames = 0
        self.error: Optional[str] = None

    def offer(self, event: Event) -> None:
        """Keep ``event`` when it is a frame of the camera (the previous one is dropped)."""
        if event.topic == self.topic:
            self._raw = event
            self.frames += 1
        elif event.topic == self.compressed_topic:
            self._compressed = event

    def info(self) -> Dict[str, Any]:
        """Return what the dashboard needs to know (topic, frames, latest seq, last error)."""
        latest = self._latest()
        return {'topic': self.topic, 'frames': self.frames,
                'seq': latest.seq if latest is not None else None, 'error': self.error}

    def _latest(self) -> Optional[Event]:
        raw, comp = self._raw, self._compressed
        if comp is not None and (raw is None or comp.seq >= raw.seq - 5):
            return comp
        return raw

    def jpeg(self) -> Optional[Jpeg]:
        """Return the latest frame as JPEG; None before the first or for a bad frame."""
        event = self._latest()
        if event is None:
            return None
        with self._lock:
            if self._jpeg[0] == event.seq:
                return self._jpeg[1]
            try:
                frame: Optional[Jpeg] = Jpeg(to_jpeg(event), event.seq, event.stamp_ns)
                self.error = None
            except FrameError as exc:
                frame, self.error = None, f'frame {event.seq} on {event.topic}: {exc}'
            self._jpeg = (event.seq, frame)
            return frame


def _message(event: Event) -> Any:
    try:
        return event.message
    except Exception as exc:  # any publisher's CDR: whatever the codec raises, it is bad input
        raise FrameError(f'does not decode as {event.type_name}: {exc}') from None


def to_jpeg(event: Event) -> bytes:
    """Return the frame of ``event`` as JPEG; raise FrameError when it cannot be shown."""
    msg = _message(event)
    compressed = event.type_name.endswith('CompressedImage')
    if compressed and ('jpeg' in msg.format or 'jpg' in msg.format):
        return bytes(msg.data)
    import cv2
    try:
        image = _decode(msg, compressed)
        ok, buf = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    except cv2.error as exc:
        raise FrameError(f'OpenCV: {str(exc).strip().splitlines()[-1]}') from None
    if not ok:
        raise FrameError('JPEG encoding failed')
    return bytes(buf)


def _decode(msg: Any, compressed: bool) -> Any:
    import cv2
    import numpy as np
    data = np.frombuffer(bytes(msg.data), np.uint8)
    if compressed:
        problem = image_problem(data)
        if problem is not None:
            raise FrameError(f'a {msg.format!r} image that does not decode: {problem}')
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if image is None:
            raise FrameError(f'a {msg.format!r} image that does not decode')
        return image
    channels = CHANNELS.get(msg.encoding)
    if channels is None:
        raise FrameError(f'encoding {msg.encoding!r} is not shown (only {", ".join(CHANNELS)})')
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if not (0 < width and 0 < height and width * height <= MAX_PIXELS):
        raise FrameError(f'{width}x{height} pixels (at most {MAX_PIXELS} are shown)')
    if step < width * channels or len(data) < height * step:
        raise FrameError(f'{len(data)} bytes do not hold {height} rows of step {step} '
                         f'({width} pixels of {channels} bytes)')
    rows = data[:height * step].reshape(height, step)[:, :width * channels]
    image = rows.reshape(height, width, channels) if channels > 1 else rows
    conversion = {'rgb8': cv2.COLOR_RGB2BGR, 'rgba8': cv2.COLOR_RGBA2BGR,
                  'bgra8': cv2.COLOR_BGRA2BGR}.get(msg.encoding)
    return cv2.cvtColor(image, conversion) if conversion is not None else image
