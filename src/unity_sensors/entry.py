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

"""The sensor nodes' console scripts: signals are caught before the node's module is imported."""

from unity_kernel_core.ros.startup import launch


def camera() -> int:
    """Run the camera node (console script ``camera``)."""
    return launch('unity_sensors.camera.node')


def haptic() -> int:
    """Run the haptic node (console script ``haptic``)."""
    return launch('unity_sensors.haptic.node')


def audio() -> int:
    """Run the audio node (console script ``audio``)."""
    return launch('unity_sensors.audio.node')
