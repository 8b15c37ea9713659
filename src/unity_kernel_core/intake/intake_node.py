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
Intake: the kernel's DDS subscriptions, kept in step with the graph and the topic map.

Messages are taken raw (CDR bytes, no deserialization on the callback path) and published on
the bus with the topic's tier; the message object is made lazily by whoever needs it.
"""

import logging
from typing import Any, Dict, List, Set, Tuple

from rclpy.duration import Duration
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.experimental import EventsExecutor
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from unity_kernel_core.bus.event_bus import EventBus
from unity_kernel_core.bus.events import Tier
from unity_kernel_core.config.kernel_config import KernelConfig, QosSettings
from unity_kernel_core.errors import BusStoppedError, MessageTypeError
from unity_kernel_core.intake.topic_map import plan_subscriptions, PublisherQos, SubscriptionPlan
from unity_kernel_core.ros import message_types
from unity_kernel_core.ros.spinning_node import SpinningNode

_LOG = logging.getLogger('unity_kernel.intake')

_INFINITE_NS = 0x7FFFFFFFFFFFFFFF


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


class Intake:
    """The set of DDS subscriptions feeding the bus."""

    def __init__(self, node: Any, bus: EventBus, config: KernelConfig) -> None:
        self._node = node
        # The subscriptions live on a node of their own, spun on a thread of its own by
        # rclpy's EventsExecutor: no wait set rebuilt per message (the SingleThreadedExecutor
        # of the kernel node, with its services and timers, lost messages from about 6k/s;
        # see docs/performance.md). The kernel node keeps its services and timers.
        # CRITICAL topics get a node, executor and thread of their own too (made on first
        # use): a flood on other topics cannot queue ahead of them in DDS or an executor.
        self._spinners: Dict[bool, SpinningNode] = {}
        self._node_for(Tier.NORMAL)
        self._bus = bus
        self._config = config
        self._subs: Dict[str, Tuple[SubscriptionPlan, Any]] = {}
        self._reported: Set[Tuple[str, str]] = set()
        self.received = 0
        self.refused = 0

    def _node_for(self, tier: Tier) -> Any:
        """Return the intake node taking in ``tier`` (CRITICAL's own, or the common one)."""
        critical = tier is Tier.CRITICAL
        spinner = self._spinners.get(critical)
        if spinner is None:
            name = f'{self._node.get_name()}_intake' + ('_critical' if critical else '')
            spinner = self._spinners[critical] = SpinningNode(
                name, self._node.context, namespace=self._node.get_namespace(),
                executor_factory=EventsExecutor)
        return spinner.node

    def close(self) -> None:
        """Destroy every subscription and stop the intake threads."""
        self.clear()
        for spinner in self._spinners.values():
            spinner.close()
        self._spinners.clear()

    @property
    def mapped(self) -> Dict[str, SubscriptionPlan]:
        """Return the plan of every topic taken in now, by topic."""
        return {topic: plan for topic, (plan, _sub) in self._subs.items()}

    def set_config(self, config: KernelConfig) -> None:
        """Use a new config from the next sync on (tiers and QoS may change)."""
        self._config = config

    def sync(self) -> None:
        """Subscribe to new matching topics, re-subscribe where the plan changed."""
        node = self._node
        topics = node.get_topic_names_and_types()
        own = node.get_name()
        publishers: Dict[str, List[PublisherQos]] = {}
        for topic, _types in topics:
            if not self._config.route(topic).intake:
                continue
            infos = node.get_publishers_info_by_topic(topic)
            publishers[topic] = [publisher_qos(i.qos_profile) for i in infos
                                 if i.node_name != own]
        plans, skipped = plan_subscriptions(self._config, topics, publishers)
        for s in skipped:
            self._report_once(s.topic, s.reason)
        wanted = {p.topic: p for p in plans}
        for topic in list(self._subs):
            plan, _sub = self._subs[topic]
            new = wanted.get(topic)
            if new is None and not self._config.route(topic).intake:
                self._drop(topic, 'no longer mapped')
            elif new is not None and (new.tier, new.qos, new.type_name) != (
                    plan.tier, plan.qos, plan.type_name):
                self._drop(topic, 'plan changed')
        for topic, plan in wanted.items():
            if topic not in self._subs:
                self._subscribe(plan)

    def clear(self) -> None:
        """Destroy every subscription (intake stops; queued events stay on the bus)."""
        for topic in list(self._subs):
            self._drop(topic, None)

    def _report_once(self, topic: str, reason: str) -> None:
        if (topic, reason) not in self._reported:
            self._reported.add((topic, reason))
            _LOG.error('not mapping %s: %s', topic, reason)

    def _subscribe(self, plan: SubscriptionPlan) -> None:
        try:
            msg_type = message_types.import_message_type(plan.type_name)
        except MessageTypeError as exc:
            self._report_once(plan.topic, str(exc))
            return
        topic, type_name, tier, bus = plan.topic, plan.type_name, plan.tier, self._bus

        def on_message(raw: bytes) -> None:
            self.received += 1
            try:
                bus.publish(topic, type_name, cdr=raw, tier=tier, source='dds')
            except BusStoppedError:
                self.refused += 1

        def on_incompatible(event: Any) -> None:
            _LOG.error('QoS incompatible with a publisher on %s (policy %s): messages from '
                       'it are not received', topic, event.last_policy_kind)

        sub = self._node_for(tier).create_subscription(
            msg_type, topic, on_message, qos_profile(plan.qos), raw=True,
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=on_incompatible))
        self._subs[topic] = (plan, sub)
        extra = f' ({"; ".join(plan.notes)})' if plan.notes else ''
        _LOG.info('mapped %s [%s] -> %s, %s%s', topic, type_name, tier.name,
                  plan.qos.reliability, extra)

    def _drop(self, topic: str, why: 'str | None') -> None:
        plan, sub = self._subs.pop(topic)
        self._node_for(plan.tier).destroy_subscription(sub)
        if why:
            _LOG.info('unmapped %s: %s', topic, why)
