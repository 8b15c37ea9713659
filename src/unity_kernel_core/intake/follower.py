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
The topic follower: subscriptions kept in step with the ROS graph, as publishers come and go.

One follower per node that takes in graph topics: the kernel's intake and the LLM bridge.
Each :meth:`TopicFollower.sync` asks the graph for topics and their publishers' QoS, plans
with the pure :func:`~unity_kernel_core.intake.topic_map.plan_follow` (QoS adapted to the
publishers) and :func:`~unity_kernel_core.intake.topic_map.reconcile`, reports a topic that
cannot be taken once, and subscribes or unsubscribes. What a subscription does with a message
(and on which node it lives) is the owner's: its ``subscribe`` callback makes it.
"""

from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from unity_kernel_core.config.kernel_config import QosSettings
from unity_kernel_core.errors import MessageTypeError
from unity_kernel_core.intake.topic_map import plan_follow, PublisherQos, reconcile
from unity_kernel_core.intake.topic_map import SubscriptionPlan, Want
from unity_kernel_core.ros import message_types

_INFINITE_NS = 0x7FFFFFFFFFFFFFFF

Subscribe = Callable[[SubscriptionPlan, Any], Tuple[Any, Any]]
"""Make the subscription of a plan (given the message class); return (node, subscription)."""


def qos_profile(settings: QosSettings) -> QoSProfile:
    """Build an rclpy QoSProfile from QoS settings."""
    profile = QoSProfile(
        history=(HistoryPolicy.KEEP_ALL if settings.history == 'keep_all'
                 else HistoryPolicy.KEEP_LAST),
        depth=settings.depth,
        reliability=(ReliabilityPolicy.BEST_EFFORT if settings.reliability == 'best_effort'
                     else ReliabilityPolicy.RELIABLE),
        durability=(DurabilityPolicy.TRANSIENT_LOCAL
                    if settings.durability == 'transient_local' else DurabilityPolicy.VOLATILE),
    )
    if settings.deadline_ms is not None:
        profile.deadline = Duration(nanoseconds=int(settings.deadline_ms * 1e6))
    if settings.lifespan_ms is not None:
        profile.lifespan = Duration(nanoseconds=int(settings.lifespan_ms * 1e6))
    return profile


def publisher_qos(profile: Any) -> PublisherQos:
    """Summarize an endpoint's QoSProfile for matching."""
    deadline_ns = profile.deadline.nanoseconds
    return PublisherQos(
        reliability=('best_effort' if profile.reliability == ReliabilityPolicy.BEST_EFFORT
                     else 'reliable'),
        durability=('transient_local' if profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
                    else 'volatile'),
        deadline_ms=None if deadline_ns in (0, _INFINITE_NS) or deadline_ns < 0
        else deadline_ns / 1e6)


class TopicFollower:
    """
    Subscriptions to the graph topics ``want`` asks for, kept in step by :meth:`sync`.

    ``graph`` is the node asking the graph; publishers on a node named in ``exclude_nodes``
    (the owner's own) do not count. ``report(topic, why)`` hears once about each topic that
    cannot be taken in; ``dropped(plan, why)`` about each subscription removed.
    """

    def __init__(self, graph: Any, want: Want, subscribe: Subscribe, *,
                 report: Callable[[str, str], object],
                 dropped: Optional[Callable[[SubscriptionPlan, str], object]] = None,
                 exclude_nodes: Tuple[str, ...] = ()) -> None:
        self._graph = graph
        self.want = want
        self._subscribe = subscribe
        self._report = report
        self._dropped = dropped
        self._exclude = exclude_nodes
        self._subs: Dict[str, Tuple[SubscriptionPlan, Any, Any]] = {}
        self._reported: Set[Tuple[str, str]] = set()

    @property
    def plans(self) -> Dict[str, SubscriptionPlan]:
        """Return the plan of every topic subscribed now, by topic."""
        return {topic: plan for topic, (plan, _node, _sub) in self._subs.items()}

    def sync(self) -> None:
        """Subscribe to new wanted topics, re-subscribe where the plan changed, drop the rest."""
        graph, want = self._graph, self.want
        topics = graph.get_topic_names_and_types()
        publishers: Dict[str, List[PublisherQos]] = {}
        for topic, _types in topics:
            if want(topic) is None:
                continue
            publishers[topic] = [publisher_qos(i.qos_profile)
                                 for i in graph.get_publishers_info_by_topic(topic)
                                 if i.node_name not in self._exclude]
        plans, skipped = plan_follow(topics, publishers, want)
        for s in skipped:
            self._report_once(s.topic, s.reason)
        drops, adds = reconcile(self.plans, plans, want)
        for topic, why in drops:
            self._drop(topic, why)
        for plan in adds:
            self._add(plan)

    def clear(self) -> None:
        """Destroy every subscription."""
        for topic in list(self._subs):
            self._drop(topic, None)

    def _report_once(self, topic: str, reason: str) -> None:
        if (topic, reason) not in self._reported:
            self._reported.add((topic, reason))
            self._report(topic, reason)

    def _add(self, plan: SubscriptionPlan) -> None:
        try:
            msg_type = message_types.import_message_type(plan.type_name)
        except MessageTypeError as exc:
            self._report_once(plan.topic, str(exc))
            return
        node, sub = self._subscribe(plan, msg_type)
        self._subs[plan.topic] = (plan, node, sub)

    def _drop(self, topic: str, why: Optional[str]) -> None:
        plan, node, sub = self._subs.pop(topic)
        node.destroy_subscription(sub)
        if why and self._dropped is not None:
            self._dropped(plan, why)
