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
UnityKernel core, one subpackage per subsystem; imports run down this list, never up.

- ``errors``, ``paths``: exception types and installed files, used by all.
- ``bus``: events, topic patterns, the five-tier priority bus (pure Python).
- ``config``: document reading with file:line errors, the kernel config schema, hot reload.
- ``component``: the interface of the kernel's components (mirror, supervisor, ...).
- ``module_commands``: the operator commands on modules and their outcomes (pure data),
  shared by the supervisor, the live view and the ``modules`` verb.
- ``ros``: the ROS edge shared by every node (types and CDR, logging, diagnostics, spinning).
- ``intake``: the topic map and the node that subscribes to DDS topics for the bus.
- ``audit``: the Redis Streams audit trail (mirror, journal, replay, export, consumers).
- ``supervision``: module manifests, dependency order, runners, restart policy.
- ``kernel``: the lifecycle node that wires all of the above together.
- ``api`` / ``cli``: the ``unity-kernel`` command's logic and its thin verbs.
"""

__version__ = '0.1.0'
