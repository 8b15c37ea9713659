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
Intake: the DDS topics the kernel takes in.

Owns: the topic map and its planning (which topics, which tier, which QoS; pure), the topic
follower (graph discovery, QoS adaptation, subscribe/unsubscribe as publishers come and go;
also used by the LLM bridge), and the intake that hands each message to the bus as raw CDR.

May import ``bus``, ``config`` and ``ros``; must not import audit, supervision or the kernel node.
"""
