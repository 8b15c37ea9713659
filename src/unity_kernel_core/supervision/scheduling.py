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
A node module's OS scheduling (the manifest's ``scheduling``) as the command prefix it runs under.

The kernel's node runner puts :func:`prefix` in front of the command it starts; the launch
plan gives ``ros2 launch`` the same as the node's ``prefix``. The prefix is the program of
:mod:`unity_kernel_core.common.os_scheduling`, which applies the setting and runs the node.
"""

import sys
from typing import List

from unity_kernel_core.common import os_scheduling
from unity_kernel_core.config.kernel_config import Scheduling
from unity_kernel_core.supervision.manifest import Manifest


def arguments(scheduling: Scheduling) -> List[str]:
    """Return the prefix's options for a setting."""
    if scheduling.policy != 'other':
        return ['--policy', scheduling.policy, '--priority', str(scheduling.priority)]
    return ['--nice', str(scheduling.nice)]


def prefix(manifest: Manifest) -> List[str]:
    """Return the command prefix that runs a node module at its scheduling ([] if none)."""
    if manifest.scheduling.is_default:
        return []
    return [sys.executable, '-m', os_scheduling.__name__, '--module', manifest.name,
            *arguments(manifest.scheduling), '--']
