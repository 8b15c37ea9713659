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

May import ``bus``, ``config`` and ``ros``; must not import intake, supervision or the kernel node.
"""
