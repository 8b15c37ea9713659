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
Topic mapping, as pure logic: which graph topics to take in, on which tier, with which QoS.

A follower (:mod:`unity_kernel_core.intake.follower`: the kernel's intake, the LLM bridge)
asks the ROS graph for topics and their publishers' QoS; :func:`plan_follow` turns that into
a plan, given the follower's one question (``want``: is this topic wanted, with which QoS and
tier?), and :func:`reconcile` into subscriptions to drop and to make. QoS is adapted to what
publishers offer, the way rosbag2 does it, so that a subscription matches every publisher
instead of silently missing some:

- reliability: a RELIABLE request does not match a BEST_EFFORT publisher, so when any
  publisher is best-effort the subscription becomes best-effort;
- durability: a TRANSIENT_LOCAL request does not match a VOLATILE publisher, so it is lowered
  to VOLATILE when any publisher is volatile;
- deadline: a requested deadline shorter than a publisher's offer is incompatible, so it is
  dropped (and reported) when a publisher offers a longer or infinite one.

What cannot be bridged (several types on one topic) is reported and the topic skipped.
"""

import dataclasses
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from unity_kernel_core.bus.events import Tier
from unity_kernel_core.config.kernel_config import KernelConfig, QosSettings


@dataclasses.dataclass(frozen=True)
class PublisherQos:
    """The QoS a publisher offers (only what matters for matching)."""

    reliability: str  # 'reliable' | 'best_effort'
    durability: str  # 'volatile' | 'transient_local'
    deadline_ms: Optional[float] = None  # None: infinite


@dataclasses.dataclass(frozen=True)
class SubscriptionPlan:
    """How to subscribe to one topic."""

    topic: str
    type_name: str
    tier: Tier
    qos: QosSettings
    notes: Tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A topic that matched a rule but cannot be taken in, and why."""

    topic: str
    reason: str


def adapt_qos(requested: QosSettings,
              publishers: Sequence[PublisherQos]) -> Tuple[QosSettings, Tuple[str, ...]]:
    """Return QoS compatible with every publisher, and notes on what was changed."""
    if not requested.adapt_to_publishers or not publishers:
        return requested, ()
    notes: List[str] = []
    changes: Dict[str, object] = {}
    if requested.reliability == 'reliable' and any(
            p.reliability == 'best_effort' for p in publishers):
        changes['reliability'] = 'best_effort'
        notes.append('best-effort publisher: subscribing best-effort')
    if requested.durability == 'transient_local' and any(
            p.durability == 'volatile' for p in publishers):
        changes['durability'] = 'volatile'
        notes.append('volatile publisher: subscribing volatile')
    if requested.deadline_ms is not None:
        offered = [p.deadline_ms for p in publishers]
        if any(d is None or d > requested.deadline_ms for d in offered):
            changes['deadline_ms'] = None
            notes.append(f'publisher offers no deadline <= {requested.deadline_ms} ms: '
                         'deadline not requested')
    if not changes:
        return requested, ()
    return requested.model_copy(update=changes), tuple(notes)


@dataclasses.dataclass(frozen=True)
class Wanted:
    """What a follower wants of one topic: the QoS to start from and the tier it goes to."""

    qos: QosSettings
    tier: Tier = Tier.NORMAL


Want = Callable[[str], Optional[Wanted]]
"""Say whether a topic is wanted (and how), or None: the follower's one question."""


def plan_follow(
        topics: Sequence[Tuple[str, Sequence[str]]],
        publishers: Mapping[str, Sequence[PublisherQos]],
        want: Want,
) -> Tuple[List[SubscriptionPlan], List[Skipped]]:
    """
    Decide which of the graph's topics to subscribe to, and how.

    ``topics`` is what ``Node.get_topic_names_and_types()`` returns; ``publishers`` maps a
    topic to its publishers' QoS. Topics without publishers are not subscribed yet (their
    QoS is unknown) and come back on a later pass.
    """
    plans: List[SubscriptionPlan] = []
    skipped: List[Skipped] = []
    for topic, types in topics:
        wanted = want(topic)
        if wanted is None:
            continue
        if len(types) != 1:
            skipped.append(Skipped(topic, f'{len(types)} types on one topic '
                                          f'({", ".join(types)}): cannot subscribe'))
            continue
        pubs = publishers.get(topic, ())
        if not pubs:
            continue
        qos, notes = adapt_qos(wanted.qos, pubs)
        plans.append(SubscriptionPlan(topic, types[0], wanted.tier, qos, notes))
    return plans, skipped


def kernel_want(config: KernelConfig) -> Want:
    """Return the kernel intake's question: a topic's route says whether and on which tier."""
    def want(topic: str) -> Optional[Wanted]:
        route = config.route(topic)
        return Wanted(route.qos, route.tier) if route.intake else None
    return want


def reconcile(current: Mapping[str, SubscriptionPlan], plans: Sequence[SubscriptionPlan],
              want: Want) -> Tuple[List[Tuple[str, str]], List[SubscriptionPlan]]:
    """
    Return the subscriptions to drop (topic, why) and the plans to subscribe, in that order.

    A topic no longer wanted is dropped; one whose plan changed (tier, QoS, type) is dropped
    and subscribed again; one that is still wanted but has no publishers now is kept (they
    may come back).
    """
    wanted = {p.topic: p for p in plans}
    drops: List[Tuple[str, str]] = []
    for topic, plan in current.items():
        new = wanted.get(topic)
        if new is None:
            if want(topic) is None:
                drops.append((topic, 'no longer wanted'))
        elif (new.tier, new.qos, new.type_name) != (plan.tier, plan.qos, plan.type_name):
            drops.append((topic, 'plan changed'))
    dropped = {topic for topic, _why in drops}
    adds = [p for topic, p in wanted.items() if topic not in current or topic in dropped]
    return drops, adds
