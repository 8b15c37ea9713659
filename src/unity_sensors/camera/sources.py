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
Where camera frames come from: a device, a video file, an image directory or a test pattern.

All sources have one interface (:class:`FrameSource`) and are chosen by a ``source`` string
(:func:`parse_source`):

==========================  ==========================================================
``pattern``                 synthetic moving test pattern with frame number and time
``0``, ``/dev/video0``      V4L2 device by index or path (``/dev/v4l/by-id/...`` too)
``device:PATH``             a device at any path (opened with OpenCV's default backend)
``file:PATH``, ``*.avi``    video file read through FFMPEG (MJPG, mp4v, XVID...)
``dir:PATH``                directory of images (png, jpg, bmp, ppm, tif), in name order
==========================  ==========================================================

``start`` (open) raises :class:`DeviceNotFoundError` (``device not found: /dev/video0``) when the
device is absent, :class:`SensorConfigError` when it cannot be used as asked (corrupt file,
unsupported resolution). ``read`` returns a BGR frame, or None when no frame is due yet
(end of a file that does not loop); :class:`DeviceLostError` when an open device stops
delivering. No ROS here.
"""

import dataclasses
import os
import pathlib
import re
import stat
import time
from typing import List, Optional

import cv2
import numpy as np

from unity_kernel_core.common.images import image_problem, MAX_IMAGE_FILE_BYTES
from unity_sensors.camera.frames import as_bgr, check_resolution, draw_test_pattern, fit
from unity_sensors.camera.frames import MAX_SIDE
from unity_sensors.errors import DeviceLostError, DeviceNotFoundError, SensorConfigError

VIDEO_SUFFIXES = ('.avi', '.mp4', '.mkv', '.mov', '.mjpg', '.mjpeg', '.webm')
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm', '.pgm', '.tif', '.tiff')
DEFAULT_SIZE = (640, 480)
DEFAULT_FPS = 30.0


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """A parsed ``source`` parameter."""

    kind: str
    """``pattern``, ``device``, ``file`` or ``dir``."""
    target: str = ''
    """Device path, file or directory."""


def parse_source(text: str) -> SourceSpec:
    """Parse a ``source`` parameter; raise SensorConfigError naming the accepted forms."""
    s = text.strip()
    if s in ('pattern', 'test_pattern'):
        return SourceSpec('pattern')
    if re.fullmatch(r'\d+', s):
        return SourceSpec('device', f'/dev/video{int(s)}')
    for prefix in ('device', 'file', 'dir'):
        if s.startswith(prefix + ':') and len(s) > len(prefix) + 1:
            return SourceSpec(prefix, s[len(prefix) + 1:])
    if s.startswith('/dev/'):
        return SourceSpec('device', s)
    if s.lower().endswith(VIDEO_SUFFIXES):
        return SourceSpec('file', s)
    raise SensorConfigError(
        f'unknown camera source {text!r}: expected pattern, a device index or /dev/videoN, '
        'device:PATH, file:PATH (or a path ending in a video suffix), or dir:PATH')


@dataclasses.dataclass
class Format:
    """What the node asks for: size (0 = native) and rate (0 = native)."""

    width: int = 0
    height: int = 0
    fps: float = 0.0


class FrameSource:
    """The interface every camera source implements."""

    paced = True
    """True when :meth:`read` returns at once and the caller paces it at :meth:`rate`."""

    def __init__(self, spec: SourceSpec, fmt: Format, loop: bool = True) -> None:
        self.spec = spec
        self.fmt = fmt
        self.loop = loop
        self.frames = 0
        self.ended = False

    def check(self) -> None:
        """Validate cheaply at configure time (paths exist, sizes are sane); open nothing."""
        check_resolution(self.fmt.width, self.fmt.height)

    def start(self) -> None:
        """Open the source."""

    def read(self) -> Optional[np.ndarray]:
        """Return the next BGR frame, or None when none is available."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the source (idempotent)."""

    def set_format(self, fmt: Format) -> None:
        """Apply a new size/rate while open (takes effect from the next frame)."""
        check_resolution(fmt.width, fmt.height)
        self.fmt = fmt

    def rate(self) -> float:
        """Return the rate frames should be delivered at."""
        return self.fmt.fps or DEFAULT_FPS

    def describe(self) -> str:
        """Return a short description for logs and diagnostics."""
        return f'{self.spec.kind}:{self.spec.target}' if self.spec.target else self.spec.kind


class PatternSource(FrameSource):
    """The synthetic moving test pattern."""

    def read(self) -> Optional[np.ndarray]:
        width, height = (self.fmt.width, self.fmt.height) if self.fmt.width else DEFAULT_SIZE
        self.frames += 1
        return draw_test_pattern(self.frames, width, height, time.time())


class _CaptureSource(FrameSource):
    """A source read through ``cv2.VideoCapture``."""

    def __init__(self, spec: SourceSpec, fmt: Format, loop: bool = True) -> None:
        super().__init__(spec, fmt, loop)
        self._cap: Optional[cv2.VideoCapture] = None

    def _deliver(self, frame: np.ndarray) -> np.ndarray:
        self.frames += 1
        return fit(as_bgr(frame), self.fmt.width, self.fmt.height)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class VideoFileSource(_CaptureSource):
    """A video file read through FFMPEG, paced at its own fps unless ``fps`` is given."""

    def __init__(self, spec: SourceSpec, fmt: Format, loop: bool = True) -> None:
        super().__init__(spec, fmt, loop)
        self.file_fps = 0.0

    def check(self) -> None:
        super().check()
        if not os.path.isfile(self.spec.target):
            raise SensorConfigError(f'video file not found: {self.spec.target}')

    def start(self) -> None:
        self.check()
        cap = cv2.VideoCapture(self.spec.target, cv2.CAP_FFMPEG)
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if cap.isOpened() and max(size) > MAX_SIDE:
            cap.release()
            raise SensorConfigError(f'video file {self.spec.target}: frames of {size[0]}x'
                                    f'{size[1]} pixels: at most {MAX_SIDE} a side are read')
        ok, first = cap.read() if cap.isOpened() else (False, None)
        if not ok or first is None:
            cap.release()
            raise SensorConfigError(f'cannot read video file {self.spec.target}: corrupt, '
                                    'empty or in a format FFMPEG here cannot decode')
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.file_fps = fps if 0 < fps < 1000 else DEFAULT_FPS
        self._cap = cap
        self.ended = False

    def read(self) -> Optional[np.ndarray]:
        if self._cap is None or self.ended:
            return None
        ok, frame = self._cap.read()
        if not ok:
            if not self.loop:
                self.ended = True
                return None
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read()
            if not ok:
                raise DeviceLostError(f'video file {self.spec.target} stopped decoding')
        return self._deliver(frame)

    def rate(self) -> float:
        return self.fmt.fps or self.file_fps or DEFAULT_FPS


class ImageDirSource(FrameSource):
    """The images of a directory in name order, looping unless told not to."""

    def __init__(self, spec: SourceSpec, fmt: Format, loop: bool = True) -> None:
        super().__init__(spec, fmt, loop)
        self.files: List[pathlib.Path] = []
        self._next = 0
        self.unreadable = 0
        self.last_unreadable = ''
        """Why the last image skipped could not be read (a file and a reason)."""

    def check(self) -> None:
        super().check()
        root = pathlib.Path(self.spec.target)
        if not root.is_dir():
            raise SensorConfigError(f'image directory not found: {root}')

    def start(self) -> None:
        self.check()
        root = pathlib.Path(self.spec.target)
        self.files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SensorConfigError(f'no images in {root} (looked for '
                                    f'{", ".join(IMAGE_SUFFIXES)})')
        self._next = 0
        self.ended = False

    def read(self) -> Optional[np.ndarray]:
        for _ in range(len(self.files)):
            if self._next >= len(self.files):
                if not self.loop:
                    self.ended = True
                    return None
                self._next = 0
            path = self.files[self._next]
            self._next += 1
            try:
                frame = read_image(path)
            except SensorConfigError as exc:
                self.unreadable += 1
                self.last_unreadable = str(exc)
                continue
            self.frames += 1
            return fit(as_bgr(frame), self.fmt.width, self.fmt.height)
        raise SensorConfigError(f'none of the images in {self.spec.target} can be read (the '
                                f'last: {self.last_unreadable})')


def read_image(path: 'str | os.PathLike[str]') -> np.ndarray:
    """
    Return the BGR image in the file at ``path``; raise SensorConfigError saying why not.

    Only a regular file of at most :data:`MAX_IMAGE_FILE_BYTES` is read (a FIFO would block
    the capture thread, a device never end), and decoded within OpenCV's pixel bound
    after :func:`~unity_kernel_core.common.images.image_problem`'s check: a corrupt file, a
    file of another kind, a "decompression bomb" claiming billions of pixels or a PNG chunk
    claiming gigabytes is refused, never half-decoded.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError) as exc:
        raise SensorConfigError(f'{path}: cannot open: '
                                f'{getattr(exc, "strerror", None) or exc}') from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SensorConfigError(f'{path}: not a regular file (a FIFO, socket, device or '
                                    'directory)')
        if info.st_size > MAX_IMAGE_FILE_BYTES:
            raise SensorConfigError(f'{path}: {info.st_size} bytes, more than the '
                                    f'{MAX_IMAGE_FILE_BYTES} an image may be')
        with os.fdopen(os.dup(fd), 'rb') as f:
            data = f.read(MAX_IMAGE_FILE_BYTES + 1)
    except OSError as exc:
        raise SensorConfigError(f'{path}: cannot read: {exc.strerror}') from None
    finally:
        os.close(fd)
    if len(data) > MAX_IMAGE_FILE_BYTES:
        raise SensorConfigError(f'{path}: more than the {MAX_IMAGE_FILE_BYTES} bytes an image '
                                'may be')
    problem = image_problem(data)
    if problem is not None:
        raise SensorConfigError(f'{path}: does not decode: {problem}')
    try:
        frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    except cv2.error as exc:  # the pixel bound, or a decoder's own refusal
        raise SensorConfigError(f'{path}: does not decode: '
                                f'{str(exc).strip().splitlines()[-1]}') from None
    if frame is None:
        raise SensorConfigError(f'{path}: does not decode as an image (corrupt, or of a '
                                'kind OpenCV here cannot read)')
    return frame


class DeviceSource(_CaptureSource):
    """A V4L2 camera (or anything OpenCV opens by path); the device paces the frames."""

    paced = False

    def __init__(self, spec: SourceSpec, fmt: Format, loop: bool = True) -> None:
        super().__init__(spec, fmt, loop)
        self._pending: Optional[Format] = None
        self.actual = (0, 0)

    def start(self) -> None:
        path = self.spec.target
        if not os.path.exists(path):
            raise DeviceNotFoundError(path)
        backend = cv2.CAP_V4L2 if path.startswith('/dev/') else cv2.CAP_ANY
        cap = cv2.VideoCapture(path, backend)
        if not cap.isOpened():
            cap.release()
            raise DeviceNotFoundError(path, 'exists but cannot be opened as a camera')
        self._cap = cap
        try:
            self._apply(self.fmt)
        except SensorConfigError:
            self.close()
            raise

    def _apply(self, fmt: Format) -> None:
        cap = self._cap
        assert cap is not None
        if fmt.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, fmt.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, fmt.height)
        if fmt.fps:
            cap.set(cv2.CAP_PROP_FPS, fmt.fps)
        self.actual = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                       int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if fmt.width and self.actual != (fmt.width, fmt.height) and \
                self.spec.target.startswith('/dev/'):
            raise SensorConfigError(
                f'unsupported resolution {fmt.width}x{fmt.height} for {self.spec.target} '
                f'(the device offers {self.actual[0]}x{self.actual[1]})')
        self.fmt = fmt

    def set_format(self, fmt: Format) -> None:
        check_resolution(fmt.width, fmt.height)
        self._pending = fmt  # applied by the capture thread before its next read

    def read(self) -> Optional[np.ndarray]:
        if self._cap is None:
            raise DeviceLostError(f'device {self.spec.target} is not open')
        if self._pending is not None:
            fmt, self._pending = self._pending, None
            self._apply(fmt)
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise DeviceLostError(f'device {self.spec.target} stopped delivering frames')
        return self._deliver(frame)

    def rate(self) -> float:
        fps = self._cap.get(cv2.CAP_PROP_FPS) if self._cap is not None else 0.0
        return self.fmt.fps or (fps if 0 < fps < 1000 else DEFAULT_FPS)


_KINDS = {'pattern': PatternSource, 'file': VideoFileSource, 'dir': ImageDirSource,
          'device': DeviceSource}


def make_source(source: str, fmt: Format, loop: bool = True) -> FrameSource:
    """Build (without starting) the source a ``source`` parameter names."""
    spec = parse_source(source)
    return _KINDS[spec.kind](spec, fmt, loop)
