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
The camera sensor: frame sources, frame conversion, calibration, and the lifecycle node.

``sources`` (device, video file, image folder, test pattern), ``frames`` (resolution,
encodings, JPEG, ``sensor_msgs/Image`` fields) and ``calibration`` (``camera_info`` YAML)
are plain Python; ``node`` is the ROS shell on :class:`unity_sensors.sensor_node.SensorNode`.
Importing the package bounds OpenCV's decoders first
(:func:`unity_kernel_core.common.images.bound_image_decoding`).
"""

from unity_kernel_core.common.images import bound_image_decoding

bound_image_decoding()  # before frames and sources import cv2
