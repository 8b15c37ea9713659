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

"""The checks every image passes before OpenCV decodes it."""

import os

import cv2
import numpy as np

from unity_kernel_core.common.images import image_problem, MAX_IMAGE_PIXELS


def png(height=6, width=5):
    return bytearray(cv2.imencode('.png', np.zeros((height, width, 3), np.uint8))[1].tobytes())


def test_a_png_chunk_claiming_more_than_the_file_is_refused_before_decoding():
    """Regression (the camera fuzzer): a 2 GiB IDAT claim in 100 bytes made OpenCV take 4 GB."""
    good = png()
    assert image_problem(good) is None
    assert image_problem(b'not a png at all') is None  # other kinds: OpenCV's own checks
    bomb = bytearray(good)
    bomb[33:37] = b'\x7f\xff\xff\xff'  # the length of the chunk after IHDR
    assert 'claims 2147483647 bytes' in image_problem(bomb)
    assert 'cut short' in image_problem(good[:-5])
    assert image_problem(good[:8]) is None  # the signature alone: nothing claimed


def test_the_pixel_bound_is_set_before_opencv_reads_it():
    # the test session bounds it first, as the package's processes do (test/conftest.py)
    assert os.environ['OPENCV_IO_MAX_IMAGE_PIXELS'] == str(MAX_IMAGE_PIXELS)
