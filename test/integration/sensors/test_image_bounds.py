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
The pixel bound on decoded images holds in the package's own processes.

OpenCV reads its bound once, when it is first imported, so it is only in force in a process
where the package bounded it before anything imported ``cv2``: a fresh interpreter here, as
the camera node and the kernel are (the test process imported ``cv2`` long ago).
"""

import subprocess
import sys

import cv2
import numpy as np
import pytest
import support

from unity_kernel_core.common.images import MAX_IMAGE_PIXELS

PROBE = """
import sys
import {module}
import cv2, numpy as np
data = np.frombuffer(open(sys.argv[1], 'rb').read(), np.uint8)
try:
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    print('decoded', None if image is None else image.shape)
except cv2.error:
    print('refused')
"""


@pytest.fixture(scope='module')
def bomb(tmp_path_factory):
    """Make a PNG of 8193 x 8193 black pixels (over the bound): 200 KB on disk, 67 MB decoded."""
    side = 8193
    assert side * side > MAX_IMAGE_PIXELS
    ok, png = cv2.imencode('.png', np.zeros((side, side), np.uint8))
    path = tmp_path_factory.mktemp('bomb') / 'bomb.png'
    path.write_bytes(png.tobytes())
    return path


@pytest.mark.timeout(60)
@pytest.mark.parametrize('module', ['unity_sensors.camera.sources',
                                    'unity_kernel_core.live.camera'])
def test_an_image_over_the_pixel_bound_is_refused_by_the_camera_and_the_dashboard(bomb,
                                                                                  module):
    """Regression: the camera's image folder decoded any image OpenCV's default allowed."""
    env = support.ros_environment(bomb.parent)
    env.pop('OPENCV_IO_MAX_IMAGE_PIXELS', None)
    result = subprocess.run([sys.executable, '-c', PROBE.format(module=module), str(bomb)],
                            env=env, capture_output=True, text=True, timeout=50)
    assert result.stdout.strip() == 'refused', result.stdout + result.stderr
