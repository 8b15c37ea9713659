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

- ``errors``: the exception types, used by all.
- ``common``: low-level utilities (OS scheduling, back-off, secrets, bounded reads, the
  shutdown budget), used by all; imports only ``errors``.
- ``paths``: installed files, the state directory.
- ``bus``: events, topic patterns, the five-tier priority bus (pure Python).
- ``config`` | ``ros`` | ``native``: the kernel config schema and document reading, hot reload
  | the ROS edge shared by every node (types and CDR, logging, diagnostics, spinning, the
  lifecycle base) | the data path in C (sequence numbers and the audit ring's producer,
  hand-off queues, RESP packing, the DDS intake threads; optional: not built, the
  pure-Python path runs; imports nothing of the package). Independent of each other.
- ``component`` | ``module_commands``: the interface of the kernel's components (mirror,
  supervisor, live view) | the operator commands on modules and their outcomes (pure data,
  imports only ``errors``; the supervisor, the live view and ``api`` speak it).
- ``intake`` | ``audit`` | ``supervision`` | ``live``: the topics taken in | the Redis Streams
  audit trail | module supervision | the live view (Foxglove, dashboard). Independent of
  each other: the kernel wires them together.
- ``kernel``: the lifecycle node that wires all of the above together.
- ``api``, then ``cli``: the ``unity-kernel`` command's logic, and its thin verbs (which use
  nothing of the kernel but ``api``, ``errors``, ``common`` and ``paths``).

The sensors (``unity_sensors``) use ``common``, ``errors``, ``paths``, ``config`` (the
document reader) and ``ros``, nothing else of the kernel; the LLM bridge
(``unity_llm_bridge``) uses those, ``bus`` (patterns) and the public surfaces that ``intake``
and ``audit`` export from their ``__init__``. ``.importlinter`` holds these rules as
contracts; ``make lint`` checks them.
"""

__version__ = '0.1.0'
