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
Module supervision.

Owns: manifests, dependency order, restart policy, the per-module state machine
(``machine``) and the scheduler that drives it (``scheduler``; both ROS-free), runners
behind one interface (``runner``: node processes, launch-owned nodes, in-process modules),
a node module's OS scheduling as a command prefix (``scheduling``), the lifecycle client,
the in-process module API, operator commands and their outcomes (``commands``,
``outcomes``) and the supervisor component (ROS edge).

May import ``common``, ``bus``, ``config``, ``module_commands`` and ``ros``; must not import
intake, audit or the kernel node.
"""
