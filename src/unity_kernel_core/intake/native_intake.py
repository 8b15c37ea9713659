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
The native intake (``kernel.intake: native``): DDS messages taken on native threads.

The same follower as the Python intake (graph discovery, QoS adaptation, one plan per
topic from ``config.kernel_config.KernelConfig.routes``) decides what to subscribe to; each
subscription is made on the native thread of its tier (``unity_kernel_core.native._rcl``,
CRITICAL on its own) with the route carried by value: the tier, whether the audit trail
mirrors the topic, and whether anything in the interpreter wants it (:meth:`EventBus.wants`,
kept up to date as subscriptions come and go). Per message the thread takes it straight
into the audit ring, numbered by the bus's sequencer (the native producer) and with its entry
ID; only wanted topics are handed to the interpreter, through a bounded queue per tier
(the tier's size and overflow policy) that a Python thread per tier drains into the bus
(:meth:`EventBus.inject`: no taps, the ring has it already).

The rclpy context is shared: the subscriptions live on a node of their own made by rclpy
in the kernel's context (not spun by any executor: nothing of it needs the interpreter), and
the native threads are stopped before that node is destroyed (:meth:`NativeIntake.close`),
so the context outlives them.
"""

import logging
import threading
from typing import Any, Callable, Dict, Optional, Tuple

import rclpy
from rclpy.parameter import Parameter

from unity_kernel_core import native
from unity_kernel_core.bus.event_bus import EventBus, OverflowPolicy
from unity_kernel_core.bus.events import Tier
from unity_kernel_core.config.kernel_config import KernelConfig, QosSettings
from unity_kernel_core.errors import BusFullError, BusStoppedError
from unity_kernel_core.intake.follower import TopicFollower
from unity_kernel_core.intake.topic_map import kernel_want, SubscriptionPlan

_LOG = logging.getLogger('unity_kernel.intake')

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
"""Largest message the native threads take (a larger one is lost, counted and logged)."""
HANDOFF_MAX_BYTES = 64 * 1024 * 1024
"""Most message bytes waiting per tier between the native threads and the interpreter."""
HANDOFF_BATCH = 64
"""Most messages a hand-off thread takes at once."""
_POLICIES = {OverflowPolicy.BLOCK: 0, OverflowPolicy.DROP_OLDEST: 1,
             OverflowPolicy.DROP_NEWEST: 2}


def qos_tuple(qos: QosSettings) -> Tuple[bool, int, bool, bool, int, int]:
    """Return the native intake's form of a subscription's QoS (as ``follower.qos_profile``)."""
    return (qos.history == 'keep_all', qos.depth, qos.reliability == 'best_effort',
            qos.durability == 'transient_local',
            int(qos.deadline_ms * 1e6) if qos.deadline_ms is not None else 0,
            int(qos.lifespan_ms * 1e6) if qos.lifespan_ms is not None else 0)


def intake_path(config: KernelConfig) -> Tuple[str, str]:
    """
    Return the intake ``config`` gets (``native`` or ``python``) and, for a fallback, why.

    ``kernel.intake: native`` runs the Python intake where the extension is not built and
    with a mirror whose writer is a thread (it takes every event from the bus's tap).
    """
    if config.kernel.intake == 'python':
        return 'python', ''
    redis = config.redis
    if redis.enabled and redis.url and redis.writer == 'thread':
        return 'python', ('kernel.intake native needs the audit writer in its own process: '
                          'redis.writer is thread, so every event goes through the bus')
    if native.rcl() is None:
        return 'python', f'kernel.intake native is not available: {native.why_not("_rcl")}'
    return 'native', ''


class _Subscriptions:
    """The follower's view of the native subscriptions: ``destroy_subscription``."""

    def __init__(self, intake: 'NativeIntake') -> None:
        self._intake = intake

    def destroy_subscription(self, index: int) -> None:
        """Destroy a native subscription (the follower drops a topic)."""
        self._intake._remove(index)


class NativeIntake:
    """
    The kernel's DDS subscriptions on native threads (the interface of ``Intake``).

    ``producer`` is the bus's sequencer (a native producer); ``critical_thread(native_id)``,
    when given, is called with the CRITICAL tier's native thread and its hand-off thread
    once they are made (the kernel gives them its OS scheduling).
    """

    def __init__(self, node: Any, bus: EventBus, config: KernelConfig, producer: Any,
                 critical_thread: Optional[Callable[[int], None]] = None) -> None:
        rcl = native.rcl()
        core = native.core()
        if rcl is None or core is None:
            raise RuntimeError(native.why_not('_rcl'))
        self._bus = bus
        self._config = config
        self._critical_thread = critical_thread
        self._node = rclpy.create_node(
            f'{node.get_name()}_intake', namespace=node.get_namespace(), context=node.context,
            start_parameter_services=False, use_global_arguments=False,
            parameter_overrides=[Parameter('start_type_description_service', value=False)])
        self._handoffs = tuple(self._handoff(core, bus, tier) for tier in Tier)
        self._native = rcl.Intake(
            context=node.context.handle.pointer, node=self._node.handle.pointer,
            producer=producer, handoffs=self._handoffs, max_message_bytes=MAX_MESSAGE_BYTES)
        self._routes: Dict[int, Tuple[str, str, Tier]] = {}
        """index -> (topic, type, tier) of every native subscription, and of a removed one
        until its tier's hand-off thread has delivered what was queued of it."""
        self._live: Dict[int, Tier] = {}
        self._retired: Dict[int, Tier] = {}
        self._lock = threading.Lock()
        self._threads: Dict[Tier, threading.Thread] = {}
        self._running = True
        self._scheduled = False
        self.refused = 0
        self.delivered = 0
        self._subs = _Subscriptions(self)
        self._follower = TopicFollower(
            node, kernel_want(config), self._subscribe,
            report=lambda topic, why: _LOG.error('not mapping %s: %s', topic, why),
            dropped=lambda plan, why: _LOG.info('unmapped %s: %s', plan.topic, why),
            exclude_nodes=(node.get_name(),))
        bus.add_interest_listener(self._refresh_flags)

    @staticmethod
    def _handoff(core: Any, bus: EventBus, tier: Tier) -> Any:
        policy = bus.policy(tier)
        timeout = policy.block_timeout_s
        return core.Handoff(_POLICIES[policy.overflow], policy.queue_size, HANDOFF_MAX_BYTES,
                            -1.0 if timeout is None else timeout)

    # -- the Intake interface ----------------------------------------------------------------

    @property
    def received(self) -> int:
        """Return how many messages the native threads took."""
        return int(self._native.stats()['taken'])

    @property
    def mapped(self) -> Dict[str, SubscriptionPlan]:
        """Return the plan of every topic taken in now, by topic."""
        return self._follower.plans

    def set_config(self, config: KernelConfig) -> None:
        """Use a new config from the next sync on (tiers, QoS and mirroring may change)."""
        self._config = config
        self._follower.want = kernel_want(config)
        self._refresh_flags()

    def sync(self) -> None:
        """Subscribe to new mapped topics, re-subscribe where the plan changed; log the notes."""
        self._follower.sync()
        for text in self._native.notes():
            _LOG.error('native intake: %s', text)

    def clear(self) -> None:
        """Destroy every subscription (intake stops; what was handed over is still handled)."""
        self._follower.clear()

    def close(self) -> None:
        """Stop the native threads (before the node and the context go), then the hand-offs."""
        self._bus.remove_interest_listener(self._refresh_flags)
        self.clear()
        self._native.close()
        self._running = False
        for handoff in self._handoffs:
            handoff.close()
        for thread in self._threads.values():
            thread.join(2.0)
        self._node.destroy_node()

    def stats(self) -> Dict[str, Any]:
        """Return the native threads' counters, the hand-offs' and the interpreter's side."""
        out = dict(self._native.stats())
        out.pop('subscriptions', None)
        out['delivered'] = self.delivered
        out['refused'] = self.refused
        out['handoff'] = {tier.name: h.stats() for tier, h in zip(Tier, self._handoffs)}
        return out

    # -- subscriptions -----------------------------------------------------------------------

    def _flags(self, topic: str, tier: Tier) -> Tuple[bool, bool]:
        """Return (mirror, deliver) for a topic: the route's mirroring, the bus's interest."""
        return self._config.routes(topic).mirror, self._bus.wants(topic, tier)

    def _subscribe(self, plan: SubscriptionPlan, msg_type: Any) -> Tuple[Any, Any]:
        msg_type.__class__.__import_type_support__()
        mirror, deliver = self._flags(plan.topic, plan.tier)
        index = self._native.add(plan.topic, plan.type_name, msg_type._TYPE_SUPPORT,
                                 int(plan.tier), qos_tuple(plan.qos), mirror, deliver)
        with self._lock:
            self._routes[index] = (plan.topic, plan.type_name, plan.tier)
            self._live[index] = plan.tier
        self._start_handoff(plan.tier)
        extra = f' ({"; ".join(plan.notes)})' if plan.notes else ''
        _LOG.info('mapped %s [%s] -> %s, %s, native%s%s', plan.topic, plan.type_name,
                  plan.tier.name, plan.qos.reliability, '' if deliver else ' (audit only)',
                  extra)
        return self._subs, index

    def _remove(self, index: int) -> None:
        self._native.remove(index)
        with self._lock:  # its queued messages are still delivered: the route stays a while
            tier = self._live.pop(index, None)
            if tier is not None:
                self._retired[index] = tier

    def _refresh_flags(self) -> None:
        """Tell the native threads, per topic, whether to mirror it and to hand it over."""
        with self._lock:
            live = [(index, self._routes[index]) for index in self._live]
        for index, (topic, _type, tier) in live:
            self._native.set_flags(index, *self._flags(topic, tier))

    def _forget_retired(self, tier: Tier) -> None:
        """Drop the routes of removed subscriptions of ``tier`` (its hand-off is empty)."""
        with self._lock:
            for index in [i for i, t in self._retired.items() if t is tier]:
                del self._retired[index]
                del self._routes[index]

    # -- the hand-off threads ----------------------------------------------------------------

    def _start_handoff(self, tier: Tier) -> None:
        if tier in self._threads:
            return
        thread = threading.Thread(target=self._drain, args=(tier,), daemon=True,
                                  name=f'intake-handoff-{tier.name.lower()}')
        self._threads[tier] = thread
        thread.start()
        if tier is Tier.CRITICAL and self._critical_thread is not None:
            self._critical_thread(self._native.thread_id(int(tier)))
            assert thread.native_id is not None
            self._critical_thread(thread.native_id)

    def _drain(self, tier: Tier) -> None:
        """Move one tier's handed-over messages into the bus (a thread per tier)."""
        handoff = self._handoffs[tier]
        window = self._bus.policy(tier).batch_window_s
        inject = self._bus.inject
        routes = self._routes
        while self._running or len(handoff):
            items = handoff.take(HANDOFF_BATCH, 0.1, window)
            if not items and self._retired:
                self._forget_retired(tier)  # nothing of a removed subscription is queued
            for index, seq, stamp_ns, mono_ns, cdr in items:
                route = routes.get(index)
                if route is None:
                    continue
                try:
                    inject(route[0], route[1], route[2], seq, cdr, stamp_ns, mono_ns)
                    self.delivered += 1
                except (BusStoppedError, BusFullError):
                    self.refused += 1
