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
The DDS transport a process that publishes large messages needs, chosen by the process itself.

Fast DDS's shared-memory segments are 512 KB by default, and the segment that matters is the
*publishing* participant's: a larger message (a 640x480 rgb8 image is 900 KB) travels over UDP
in fragments instead, and with best-effort QoS one lost fragment loses the frame (measured:
subscribers of a 640x480 camera got 1-2 of 5 frames a second). So a process of the package
that can publish such messages (the camera, ``unity-kernel replay``) points Fast DDS at the
shipped ``config/fastdds-large-data.xml`` (16 MB segments, UDP kept for other hosts) before it
creates its participant, unless the user chose a profile file of their own, the built-in
transports (``FASTDDS_BUILTIN_TRANSPORTS``: containers set ``UDPv4``, because shared memory
does not cross a container's boundary) or another RMW. Subscribers (the kernel, rviz,
``ros2 topic hz``) need nothing.
"""

import os
import pathlib
from typing import MutableMapping, Optional

from unity_kernel_core.paths import share_dir

PROFILES_VARIABLE = 'FASTDDS_DEFAULT_PROFILES_FILE'
BUILTIN_TRANSPORTS_VARIABLE = 'FASTDDS_BUILTIN_TRANSPORTS'
LARGE_DATA_PROFILE = 'fastdds-large-data.xml'
FAST_DDS = 'rmw_fastrtps'


def large_data_profile() -> pathlib.Path:
    """Return the shipped large-data profile (``share/unity_kernel/config/...``)."""
    return share_dir() / 'config' / LARGE_DATA_PROFILE


def use_large_data_transport(
        environ: Optional[MutableMapping[str, str]] = None) -> Optional[str]:
    """
    Make this process's Fast DDS participants use the large-data profile; call before rclpy.init.

    Return the profile file now in use, or None when nothing was changed: the user's own
    ``FASTDDS_DEFAULT_PROFILES_FILE`` or ``FASTDDS_BUILTIN_TRANSPORTS`` is kept (the profile
    would replace the built-in transports), another RMW (``RMW_IMPLEMENTATION``) is left
    alone, and so is a package installed without its config folder.
    """
    env = os.environ if environ is None else environ
    if env.get(PROFILES_VARIABLE) or env.get(BUILTIN_TRANSPORTS_VARIABLE):
        return None
    if not env.get('RMW_IMPLEMENTATION', FAST_DDS).startswith(FAST_DDS):
        return None
    try:
        profile = large_data_profile()
    except FileNotFoundError:
        return None
    if not profile.is_file():
        return None
    env[PROFILES_VARIABLE] = str(profile)
    return str(profile)
