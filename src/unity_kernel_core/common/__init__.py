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
Low-level utilities any part of the package may use: the kernel, the sensors, the bridge.

Owns: a thread's OS scheduling and the command prefix program that applies it
(``os_scheduling``), the one back-off (``backoff``), bounded reads of small text files
(``files``), the one secret reader and the one redaction of secrets shown to people
(``credentials``), the share of the shutdown timeout a component may spend stopping
(``shutdown``), and the bounds on images handed to OpenCV (``images``).

The bottom layer beside ``errors``: imports nothing of the kernel but ``errors``, no ROS,
Redis or pydantic.
"""
