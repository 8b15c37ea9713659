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
also used by the LLM bridge), and the two intakes: the Python one (``intake_node``: rclpy's
EventsExecutor hands each message to the bus as raw CDR) and the native one
(``native_intake``: native threads take each message into the audit ring; only topics an
in-process subscriber wants reach the bus).

May import ``common``, ``bus``, ``config``, ``ros`` and ``native``; must not import audit,
supervision, live or the kernel node.

Its public surface, for users outside the kernel (the LLM bridge follows the topics its
routes match), is what this package exports: the topic follower, the QoS profile of a plan,
and the planning types. Outside the kernel nothing imports its modules directly.
"""

from unity_kernel_core.intake.follower import qos_profile, TopicFollower
from unity_kernel_core.intake.topic_map import SubscriptionPlan, Want, Wanted

__all__ = ['SubscriptionPlan', 'TopicFollower', 'Want', 'Wanted', 'qos_profile']
