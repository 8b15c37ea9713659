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
from typing import Any, Callable, Dict, Optional, Tuple

from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.experimental import EventsExecutor

from unity_kernel_core.bus.event_bus import EventBus
from unity_kernel_core.bus.events import Tier
from unity_kernel_core.config.kernel_config import KernelConfig
from unity_kernel_core.errors import BusStoppedError
from unity_kernel_core.intake.follower import publisher_qos, qos_profile, TopicFollower
from unity_kernel_core.intake.topic_map import kernel_want, SubscriptionPlan
from unity_kernel_core.ros import callbacks
from unity_kernel_core.ros.spinning_node import SpinningNode

_LOG = logging.getLogger('unity_kernel.intake')

__all__ = ['Intake', 'publisher_qos', 'qos_profile']


class Intake:
    """
    The set of DDS subscriptions feeding the bus.

    ``critical_thread(native_id)``, when given, is called with the CRITICAL intake's thread
    once it is made (the kernel gives it its OS scheduling).
    """

    def __init__(self, node: Any, bus: EventBus, config: KernelConfig,
                 critical_thread: Optional[Callable[[int], None]] = None) -> None:
        self._node = node
        self._critical_thread = critical_thread
        # The subscriptions live on a node of their own, spun on a thread of its own by
        # rclpy's EventsExecutor: no wait set rebuilt per message (the SingleThreadedExecutor
        # of the kernel node, with its services and timers, lost messages from about 6k/s;
        # see docs/performance.md). The kernel node keeps its services and timers.
        # CRITICAL topics get a node, executor and thread of their own too (made on first
        # use): a flood on other topics cannot queue ahead of them in DDS or an executor.
        self._spinners: Dict[bool, SpinningNode] = {}
        self._node_for(Tier.NORMAL)
        self._bus = bus
        self.received = 0
        self.refused = 0
        self._follower = TopicFollower(
            node, kernel_want(config), self._subscribe,
            report=lambda topic, why: _LOG.error('not mapping %s: %s', topic, why),
            dropped=lambda plan, why: _LOG.info('unmapped %s: %s', plan.topic, why),
            exclude_nodes=(node.get_name(),))

    def _node_for(self, tier: Tier) -> Any:
        """Return the intake node taking in ``tier`` (CRITICAL's own, or the common one)."""
        critical = tier is Tier.CRITICAL
        spinner = self._spinners.get(critical)
        if spinner is None:
            name = f'{self._node.get_name()}_intake' + ('_critical' if critical else '')
            spinner = self._spinners[critical] = SpinningNode(
                name, self._node.context, namespace=self._node.get_namespace(),
                executor_factory=EventsExecutor)
            if critical and self._critical_thread is not None:
                self._critical_thread(spinner.native_id)
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
        return self._follower.plans

    def set_config(self, config: KernelConfig) -> None:
        """Use a new config from the next sync on (tiers and QoS may change)."""
        self._follower.want = kernel_want(config)

    def sync(self) -> None:
        """Subscribe to new mapped topics, re-subscribe where the plan changed (the follower)."""
        self._follower.sync()

    def clear(self) -> None:
        """Destroy every subscription (intake stops; queued events stay on the bus)."""
        self._follower.clear()

    def _subscribe(self, plan: SubscriptionPlan, msg_type: Any) -> Tuple[Any, Any]:
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

        node = self._node_for(tier)
        sub = callbacks.subscribe(
            node, msg_type, topic, on_message, qos_profile(plan.qos), raw=True,
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=on_incompatible))
        extra = f' ({"; ".join(plan.notes)})' if plan.notes else ''
        _LOG.info('mapped %s [%s] -> %s, %s%s', topic, type_name, tier.name,
                  plan.qos.reliability, extra)
        return node, sub
