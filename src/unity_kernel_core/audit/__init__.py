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
The audit trail on Redis Streams.

Owns: records and keys, the mirror (a kernel component), the on-disk journal, the Redis
connection and private server, reading back (store, replay, MCAP export), consumer groups.

May import ``common``, ``bus``, ``config`` and ``ros``; must not import intake, supervision,
live or the kernel node.

Its public surface, for users outside the kernel (the LLM bridge), is what this package
exports: a Redis client made from a ``redis`` config section as the kernel's, the stream keys
and the dead-letter entry's fields. Outside the kernel nothing imports its modules directly.
"""

from unity_kernel_core.audit.record import dead_letter_fields, StreamKeys
from unity_kernel_core.audit.redis_connection import Client, connect

__all__ = ['Client', 'StreamKeys', 'connect', 'dead_letter_fields']
