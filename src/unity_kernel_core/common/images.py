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
The one bound on images the package decodes: camera frames, image files, dashboard frames.

OpenCV refuses to decode an image of more than ``OPENCV_IO_MAX_IMAGE_PIXELS`` pixels (by
default 2^30: a 32768 x 32768 PNG of a few hundred bytes would take 3 GB). It reads that
variable once, when it is first imported in the process, so :func:`bound_image_decoding`
runs before any module of the package imports ``cv2`` (the camera package's ``__init__``, the
live view's ``camera``). The pixel bound is not all: OpenCV's PNG reader allocates what a
chunk's length field claims before it finds the file shorter (a 100-byte file claiming a
2 GiB chunk took 4 GB), so every image is checked by :func:`image_problem` first.
"""

import os
from typing import Any, Optional

MAX_IMAGE_PIXELS = 2 ** 26
"""Most pixels of an image the package decodes (8192 x 8192)."""
MAX_IMAGE_FILE_BYTES = 256 * 1024 * 1024
"""Largest image file read (an uncompressed 8192 x 8192 RGB image is 192 MiB)."""


def bound_image_decoding() -> None:
    """Bound OpenCV's decoders to :data:`MAX_IMAGE_PIXELS` (unless the environment says)."""
    os.environ.setdefault('OPENCV_IO_MAX_IMAGE_PIXELS', str(MAX_IMAGE_PIXELS))


PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def image_problem(data: Any) -> Optional[str]:
    """
    Return why ``data`` must not be handed to OpenCV's decoders, or None.

    ``data``: bytes, or anything with the buffer protocol (a numpy array). A PNG's chunks
    must each fit in the bytes there are (length, type, data and CRC): a longer one is what
    makes OpenCV allocate gigabytes for a few bytes.
    """
    view = memoryview(data)
    if bytes(view[:8]) != PNG_SIGNATURE:
        return None
    at = 8
    while at < len(view):
        if at + 12 > len(view):
            return f'a PNG cut short in a chunk header at byte {at}'
        length = int.from_bytes(view[at:at + 4], 'big')
        if length > len(view) - at - 12:
            return (f'a PNG chunk at byte {at} claims {length} bytes: more than the '
                    f'{len(view)} bytes of the image')
        at += 12 + length
    return None
