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
The kernel node.

Owns: the lifecycle node that wires config, bus, intake and components (audit mirror,
supervisor; their interface is ``unity_kernel_core.component``) together, and its
``/diagnostics`` summary.

The top of the core: may import every subpackage; nothing in them imports it (``api`` and
``cli`` sit above it).
"""
