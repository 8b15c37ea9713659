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
Alias of :mod:`unity_sensors.haptic.node`, for console scripts made before the move.

Scripts installed by an older ``pip install -e .`` import ``unity_sensors.haptic_node:main``;
a new install (``make setup``, ``colcon build``) points them at ``unity_sensors.haptic.node``.
"""

from unity_sensors.haptic.node import main

__all__ = ['main']
