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
The priority event bus: five isolated tiers, each with bounded queues and its own workers.

Pure Python, no ROS. Each tier owns ``workers`` lanes; a lane is one bounded FIFO queue and one
worker thread. An event goes to the lane chosen by a stable hash of its topic, so events of one
topic are handled in order, and a tier's handlers never wait behind another tier's: a flood in
LOW fills LOW's queues only, and CRITICAL has its own threads.

When a lane is full, the tier's overflow policy applies: ``block`` makes the publisher wait
(back-pressure, nothing dropped; the default for CRITICAL), ``drop_oldest`` evicts the oldest
queued event, ``drop_newest`` refuses the new one. Every drop is counted.

A handler that raises is retried ``max_retries`` times with exponential back-off, then the event
goes to the dead-letter sinks with the error; the bus never dies from a handler.

CRITICAL comes first for the processor too, not only in its queues: while a CRITICAL event is
queued or being handled, the NORMAL, LOW and DEFERRED workers do not start another event
(for at most ``YIELD_TO_CRITICAL_MAX_S`` at a time, so a stuck CRITICAL handler cannot starve
them) and publishers into those tiers hand the interpreter lock over. All workers share one
CPython interpreter lock: a CRITICAL thread that wants it waits for the lower tier's Python
step in progress. Lower-tier workers hand the lock over (``time.sleep(0)``) once they have
worked for ``HANDOVER_S`` since the last time, not after every event: the sleep lasts about
80 microseconds on Linux (the timer slack), which after every event held a NORMAL worker to
about 11 000 events/s; that long a window is what lets a woken thread take the lock (a
shorter one, or none, left a thread waiting to publish CRITICAL for 3-85 ms under a LOW
flood: CPython's lock goes to whoever asks first, and a waiter's own timeout request is
reset by every switch between other threads; docs/performance-history.md, "The audit
writer in its own process"). The interpreter's switch interval (the kernel sets it:
``kernel.switch_interval_ms``) bounds the rest.

The sequence numbers come from a :class:`Sequencer`: by default the bus's own (a lock and a
counter); with the native intake, the native producer's (one mutex shared with the native
threads that number DDS messages and write them into the audit ring), so events published
here and messages taken there share one order. Those messages reach the bus already
numbered and audited, through :meth:`EventBus.inject`, and only for topics a subscription
wants (:meth:`EventBus.wants`; :meth:`EventBus.add_interest_listener` hears of changes).

A thread wake-up costs more than a short handler: waking a worker for every event cost
the kernel's process about 30 microseconds of CPU per event at 16 000 events/s (two
context switches and an interpreter-lock hand-over). So a tier may have a batch window
(``TierPolicy.batch_window_s``; NORMAL, LOW and DEFERRED by default): its worker, having
emptied its queue, naps that long, and publishers wake it only when it waits (after a nap
that found nothing). CRITICAL and HIGH are woken for every event.
"""

import collections
import dataclasses
import enum
import itertools
import logging
import threading
import time
import traceback
from typing import (Any, Callable, ContextManager, Deque, Dict, Iterable, List, Mapping,
                    Optional, Protocol, Tuple)
import zlib

from unity_kernel_core.bus.events import Event, PayloadCodec, Tier
from unity_kernel_core.bus.patterns import compile_pattern
from unity_kernel_core.common.backoff import ExponentialBackoff
from unity_kernel_core.errors import BusError, BusFullError, BusStoppedError

_LOG = logging.getLogger('unity_kernel.bus')

YIELD_TO_CRITICAL_MAX_S = 0.1
"""Longest a lower-tier worker waits for CRITICAL work to finish before taking one event."""

HANDOVER_S = 0.0005
"""A lower-tier worker that has worked this long since its last hand-over hands the lock over."""

BATCH_MAX = 64
"""Most events a worker with a batch window takes off its queue at once."""

Handler = Callable[[Event], Any]


class Sequencer(Protocol):
    """
    Where the bus's sequence numbers come from; ``lock`` is held around :meth:`next` and the taps.

    The bus's own (:class:`LocalSequencer`), or the native producer's
    (``unity_kernel_core.native``), shared with the native intake threads.
    """

    @property
    def lock(self) -> ContextManager[Any]:
        """Return the lock held around numbering an event and running the taps."""

    def next(self) -> int:  # noqa: A003 (the sequencer's next number)
        """Return the next sequence number (``lock`` held)."""

    @property
    def last(self) -> int:
        """Return the last sequence number issued."""

    def set_next(self, seq: int) -> None:
        """Continue numbering at ``seq`` (forward only)."""


class LocalSequencer:
    """The bus's own sequencer: a lock and a counter."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._seq = 0

    def next(self) -> int:  # noqa: A003
        """Return the next sequence number (``lock`` held)."""
        self._seq += 1
        return self._seq

    @property
    def last(self) -> int:
        """Return the last sequence number issued."""
        return self._seq

    def set_next(self, seq: int) -> None:
        """Continue numbering at ``seq`` (forward only)."""
        with self.lock:
            if seq - 1 < self._seq:
                raise BusError(f'sequence can only move forward ({self._seq} -> {seq - 1})')
            self._seq = seq - 1


class OverflowPolicy(str, enum.Enum):
    """What a full tier does with a new event."""

    BLOCK = 'block'
    DROP_OLDEST = 'drop_oldest'
    DROP_NEWEST = 'drop_newest'


@dataclasses.dataclass(frozen=True)
class TierPolicy:
    """Queue, worker and retry settings of one tier."""

    workers: int = 1
    queue_size: int = 10000
    overflow: OverflowPolicy = OverflowPolicy.DROP_OLDEST
    max_retries: int = 2
    retry_backoff_s: float = 0.01
    block_timeout_s: Optional[float] = None
    batch_window_s: float = 0.0
    """
    How long a worker that has emptied its queue naps before it looks again (0: it waits to
    be woken by the next event). While it naps, publishers do not wake it, so a busy lane
    costs one thread wake-up per window instead of one per event; an event waits at most
    this long more. A nap that finds nothing makes the worker wait to be woken again.
    Such a worker takes up to ``BATCH_MAX`` queued events at once (one lock round for the
    lot); events it holds are handled even by ``stop(drain=False)``.
    """

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise BusError(f'workers must be >= 1, got {self.workers}')
        if self.queue_size < self.workers:
            raise BusError(
                f'queue_size ({self.queue_size}) must be >= workers ({self.workers})')
        if self.max_retries < 0 or self.retry_backoff_s < 0 or self.batch_window_s < 0:
            raise BusError('max_retries, retry_backoff_s and batch_window_s must be >= 0')

    @property
    def retry_backoff(self) -> ExponentialBackoff:
        """Return the wait before a handler's next try: ``retry_backoff_s``, doubled each time."""
        return ExponentialBackoff(self.retry_backoff_s)


DEFAULT_POLICIES: Mapping[Tier, TierPolicy] = {
    Tier.CRITICAL: TierPolicy(workers=2, queue_size=10000, overflow=OverflowPolicy.BLOCK,
                              max_retries=3),
    Tier.HIGH: TierPolicy(workers=2, queue_size=10000),
    Tier.NORMAL: TierPolicy(workers=1, queue_size=10000, batch_window_s=0.001),
    Tier.LOW: TierPolicy(workers=1, queue_size=5000, batch_window_s=0.001),
    Tier.DEFERRED: TierPolicy(workers=1, queue_size=1000, max_retries=1,
                              batch_window_s=0.001),
}


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """An event whose handler kept failing after every retry."""

    event: Event
    handler: str
    error: str
    traceback: str
    attempts: int
    time_ns: int


class Subscription:
    """A handler attached to the bus for topics matching ``pattern``."""

    _ids = itertools.count(1)

    def __init__(self, pattern: str, handler: Handler, name: str,
                 tiers: Optional[frozenset]) -> None:
        self.pattern = pattern
        self.regex = compile_pattern(pattern)
        self.handler = handler
        self.name = name
        self.tiers = tiers
        self.id = next(Subscription._ids)

    def __repr__(self) -> str:
        return f'Subscription({self.name!r}, {self.pattern!r})'


@dataclasses.dataclass
class TierStats:
    """Counters of one tier, summed over its lanes."""

    tier: Tier
    published: int = 0
    delivered: int = 0
    dropped: int = 0
    handler_errors: int = 0
    retries: int = 0
    dead_letters: int = 0
    depth: int = 0
    high_water: int = 0
    capacity: int = 0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0


class _Lane:
    """One bounded FIFO and the worker thread that drains it."""

    def __init__(self, bus: 'EventBus', tier: Tier, index: int, capacity: int,
                 policy: TierPolicy) -> None:
        self.bus = bus
        self.tier = tier
        self.capacity = capacity
        self.policy = policy
        self.queue: Deque[Event] = collections.deque()
        self.cond = threading.Condition()
        self.running = False
        self.busy = False
        self.waiting = False
        """The worker waits on ``cond`` for an event (a nap is no wait: nobody wakes it)."""
        self.thread = threading.Thread(
            target=self._run, name=f'bus-{tier.name.lower()}-{index}', daemon=True)
        # counters: published/dropped/high_water written under cond, the rest by the worker
        self.published = 0
        self.dropped = 0
        self.high_water = 0
        self.delivered = 0
        self.handler_errors = 0
        self.retries = 0
        self.dead_letters = 0
        self.latencies: Deque[int] = collections.deque(maxlen=2048)
        self.yields = tier > Tier.HIGH
        """Lower tiers: wait while CRITICAL work is pending before taking the next event."""

    def put(self, event: Event) -> bool:
        with self.cond:
            if not self.running:
                raise BusStoppedError(f'bus is stopped; cannot accept {event!r}')
            if len(self.queue) >= self.capacity:
                policy = self.policy.overflow
                if policy is OverflowPolicy.BLOCK:
                    deadline = (None if self.policy.block_timeout_s is None
                                else time.monotonic() + self.policy.block_timeout_s)
                    while len(self.queue) >= self.capacity and self.running:
                        remaining = None if deadline is None else deadline - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            self.dropped += 1
                            raise BusFullError(
                                f'{self.tier.name} queue stayed full for '
                                f'{self.policy.block_timeout_s}s; refused {event!r}')
                        self.cond.wait(remaining)
                    if not self.running:
                        raise BusStoppedError(f'bus stopped while {event!r} waited for room')
                elif policy is OverflowPolicy.DROP_OLDEST:
                    self.queue.popleft()
                    self.dropped += 1
                else:
                    self.dropped += 1
                    return False
            self.queue.append(event)
            self.published += 1
            if len(self.queue) > self.high_water:
                self.high_water = len(self.queue)
            if self.waiting:
                self.cond.notify_all()
            return True

    def _run(self) -> None:
        handed_over = time.perf_counter()
        window = self.policy.batch_window_s
        take = BATCH_MAX if window else 1
        napped = False
        batch: List[Event] = []
        while True:
            if self.yields:
                self.bus._yield_to_critical()
            with self.cond:
                if not self.queue and self.running and window and not napped:
                    napped = True  # nap once: what arrives meanwhile wakes nobody
                else:
                    napped = False
                    self.waiting = True
                    while not self.queue and self.running:
                        self.cond.wait()
                    self.waiting = False
                    if not self.queue:
                        return
                    queue = self.queue
                    batch = [queue.popleft() for _ in range(min(take, len(queue)))]
                    self.busy = True
                    self.cond.notify_all()
            if napped:
                time.sleep(window)
                handed_over = time.perf_counter()
                if self.queue:
                    napped = False  # found work: the next empty queue naps again
                continue
            try:
                for i, event in enumerate(batch):
                    if i and self.yields:
                        self.bus._yield_to_critical()
                    self.latencies.append(time.monotonic_ns() - event.mono_ns)
                    self.bus._dispatch(self, event)
                    if self.yields and time.perf_counter() - handed_over >= HANDOVER_S:
                        # let a thread that waits for the lock (a CRITICAL intake or worker)
                        # have it: after every HANDOVER_S of work, not after every event
                        time.sleep(0)
                        handed_over = time.perf_counter()
            finally:
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()
                if self.tier is Tier.CRITICAL:
                    self.bus._critical_step_done()

    def idle(self) -> bool:
        return not self.queue and not self.busy


class EventBus:
    """
    Priority event bus with five isolated tiers.

    Thread-safe: ``publish`` may be called from any thread (the ROS executor, module threads).
    ``classifier`` gives the tier of a topic published without one; ``codec`` (from the ROS
    edge: ``unity_kernel_core.ros.message_types.CDR``) turns payloads between messages and
    bytes when an event's user asks for the form it did not come in; ``sequencer`` numbers
    the events (the bus's own by default).
    """

    def __init__(self, policies: Optional[Mapping[Tier, TierPolicy]] = None,
                 classifier: Optional[Callable[[str], Tier]] = None,
                 codec: Optional[PayloadCodec] = None,
                 sequencer: Optional[Sequencer] = None) -> None:
        self._codec = codec
        merged = dict(DEFAULT_POLICIES)
        merged.update(policies or {})
        self._policies = merged
        self._classifier = classifier
        self._sequencer: Sequencer = sequencer if sequencer is not None else LocalSequencer()
        self._seq_lock = self._sequencer.lock
        self._next_seq = self._sequencer.next
        self._interest_listeners: Tuple[Callable[[], None], ...] = ()
        self._subs: Tuple[Subscription, ...] = ()
        self._route_cache: Dict[str, Tuple[Subscription, ...]] = {}
        self._subs_lock = threading.Lock()
        self._taps: Tuple[Callable[[Event], None], ...] = ()
        self._dead_letter_sinks: Tuple[Callable[[DeadLetter], None], ...] = ()
        self._lanes: Dict[Tier, List[_Lane]] = {}
        self._calm = threading.Condition()
        self._state = 'new'
        self._build_lanes()

    # -- lifecycle -------------------------------------------------------------------------

    def _build_lanes(self) -> None:
        for tier in Tier:
            policy = self._policies[tier]
            per_lane = max(1, policy.queue_size // policy.workers)
            self._lanes[tier] = [_Lane(self, tier, i, per_lane, policy)
                                 for i in range(policy.workers)]

    @property
    def running(self) -> bool:
        """Return True between start() and stop()."""
        return self._state == 'running'

    @property
    def sequencer(self) -> Sequencer:
        """Return where this bus's sequence numbers come from."""
        return self._sequencer

    def policy(self, tier: Tier) -> TierPolicy:
        """Return the queue, worker and retry settings of ``tier``."""
        return self._policies[tier]

    def start(self) -> None:
        """Start every tier's workers."""
        if self._state == 'running':
            return
        if self._state == 'stopped':
            self._build_lanes()
        for lanes in self._lanes.values():
            for lane in lanes:
                lane.running = True
                lane.thread.start()
        self._state = 'running'

    def stop(self, drain: bool = True, timeout: float = 10.0) -> int:
        """
        Stop the workers; with ``drain`` they first handle what is queued.

        Returns the number of events left unhandled (dropped when ``drain`` is False or the
        timeout ran out). Those are counted in the tier's ``dropped``.
        """
        if self._state != 'running':
            return 0
        self._state = 'stopping'
        lanes = [lane for tier_lanes in self._lanes.values() for lane in tier_lanes]
        for lane in lanes:
            with lane.cond:
                if not drain:
                    lane.dropped += len(lane.queue)
                    lane.queue.clear()
                lane.running = False
                lane.cond.notify_all()
        deadline = time.monotonic() + timeout
        for lane in lanes:
            lane.thread.join(max(0.0, deadline - time.monotonic()))
        left = 0
        for lane in lanes:
            with lane.cond:
                if lane.queue:
                    left += len(lane.queue)
                    lane.dropped += len(lane.queue)
                    lane.queue.clear()
        if left:
            _LOG.error('bus stopped with %d event(s) unhandled after %.1fs', left, timeout)
        self._state = 'stopped'
        return left

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queue is empty and no handler runs; return False on timeout."""
        deadline = time.monotonic() + timeout
        for lanes in self._lanes.values():
            for lane in lanes:
                with lane.cond:
                    while not lane.idle():
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            return False
                        lane.cond.wait(remaining)
        return True

    def thread_ids(self, tier: Tier) -> List[int]:
        """Return the native thread ids of ``tier``'s running workers (for OS scheduling)."""
        return [lane.thread.native_id for lane in self._lanes[tier]
                if lane.thread.native_id is not None and lane.thread.is_alive()]

    def _critical_pending(self) -> bool:
        """Return True while a CRITICAL event is queued or being handled."""
        return any(lane.queue or lane.busy for lane in self._lanes[Tier.CRITICAL])

    def _yield_to_critical(self) -> None:
        if self._critical_pending():
            with self._calm:
                self._calm.wait_for(lambda: not self._critical_pending(),
                                    YIELD_TO_CRITICAL_MAX_S)

    def _critical_step_done(self) -> None:
        with self._calm:
            self._calm.notify_all()

    # -- wiring ----------------------------------------------------------------------------

    def set_classifier(self, classifier: Optional[Callable[[str], Tier]]) -> None:
        """Set the function giving the tier of a topic published without an explicit tier."""
        self._classifier = classifier

    def subscribe(self, pattern: str, handler: Handler, *, name: Optional[str] = None,
                  tiers: Optional[Iterable[Tier]] = None) -> Subscription:
        """Call ``handler(event)`` for every event whose topic matches ``pattern``."""
        label = name or str(getattr(handler, '__qualname__', repr(handler)))
        sub = Subscription(pattern, handler, label,
                           None if tiers is None else frozenset(Tier.parse(t) for t in tiers))
        with self._subs_lock:
            self._subs = self._subs + (sub,)
            self._route_cache = {}
        self._interest_changed()
        return sub

    def unsubscribe(self, subscription: Subscription) -> bool:
        """Detach a subscription; return False if it was not attached."""
        with self._subs_lock:
            if subscription not in self._subs:
                return False
            self._subs = tuple(s for s in self._subs if s is not subscription)
            self._route_cache = {}
        self._interest_changed()
        return True

    def wants(self, topic: str, tier: Tier) -> bool:
        """Tell whether any subscription takes events of ``topic`` on ``tier``."""
        return any(s.tiers is None or tier in s.tiers for s in self._routes(topic))

    def add_interest_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every subscribe and unsubscribe (:meth:`wants` changed)."""
        self._interest_listeners = self._interest_listeners + (listener,)

    def remove_interest_listener(self, listener: Callable[[], None]) -> None:
        """Detach a listener added with add_interest_listener."""
        self._interest_listeners = tuple(x for x in self._interest_listeners
                                         if x is not listener)

    def _interest_changed(self) -> None:
        for listener in self._interest_listeners:
            try:
                listener()
            except Exception:  # a listener must not undo a subscription; report loudly
                _LOG.exception('bus interest listener %r failed', listener)

    @property
    def subscriptions(self) -> Tuple[Subscription, ...]:
        """Return the attached subscriptions, in order of attachment."""
        return self._subs

    def add_tap(self, tap: Callable[[Event], None]) -> None:
        """
        Call ``tap(event)`` for every accepted event, in sequence order, before queuing.

        Taps run on the publisher's thread while the sequence lock is held: they must be fast
        and must not block (the Redis mirror only appends to its own buffer here; it waits
        only for a CRITICAL event when its buffer and its CRITICAL reserve are both full).
        """
        self._taps = self._taps + (tap,)

    def remove_tap(self, tap: Callable[[Event], None]) -> None:
        """Detach a tap added with add_tap."""
        self._taps = tuple(t for t in self._taps if t is not tap)

    def add_dead_letter_sink(self, sink: Callable[[DeadLetter], None]) -> None:
        """Call ``sink(dead_letter)`` for every event whose handler exhausted its retries."""
        self._dead_letter_sinks = self._dead_letter_sinks + (sink,)

    def remove_dead_letter_sink(self, sink: Callable[[DeadLetter], None]) -> None:
        """Detach a sink added with add_dead_letter_sink."""
        self._dead_letter_sinks = tuple(s for s in self._dead_letter_sinks if s is not sink)

    # -- data path -------------------------------------------------------------------------

    def publish(self, topic: str, type_name: str, message: Any = None, *,
                cdr: Optional[bytes] = None, tier: 'Optional[Tier | str]' = None,
                stamp_ns: Optional[int] = None, source: str = '') -> Optional[Event]:
        """
        Accept one event; return it, or None when a ``drop_newest`` tier refused it.

        ``tier`` defaults to the classifier's answer for ``topic`` (NORMAL without one).
        Raises BusStoppedError when the bus is not running, and BusFullError when a
        ``block`` tier stayed full past its timeout.
        """
        if self._state != 'running':
            raise BusStoppedError(f'bus is {self._state}; cannot publish on {topic}')
        if tier is None:
            resolved = self._classifier(topic) if self._classifier else Tier.NORMAL
        else:
            resolved = Tier.parse(tier)
        lanes = self._lanes[resolved]
        lane = lanes[zlib.crc32(topic.encode()) % len(lanes)] if len(lanes) > 1 else lanes[0]
        if lane.yields and self._critical_pending():
            time.sleep(0)  # let the CRITICAL worker have the interpreter lock first
        with self._seq_lock:
            event = Event(topic, type_name, resolved, self._next_seq(), message=message,
                          cdr=cdr, stamp_ns=stamp_ns, source=source, codec=self._codec)
            for tap in self._taps:
                try:
                    tap(event)
                except Exception:  # a tap must never stop intake; report loudly
                    _LOG.exception('bus tap %r failed on %r', tap, event)
        return event if lane.put(event) else None

    def inject(self, topic: str, type_name: str, tier: Tier, seq: int, cdr: bytes,
               stamp_ns: int, mono_ns: int, source: str = 'dds') -> Optional[Event]:
        """
        Queue an event numbered and audited elsewhere (the native intake); no taps run.

        ``seq`` came from this bus's sequencer. Returns the event, or None when a
        ``drop_newest`` tier refused it; raises as :meth:`publish` does.
        """
        if self._state != 'running':
            raise BusStoppedError(f'bus is {self._state}; cannot accept {topic}')
        lanes = self._lanes[tier]
        lane = lanes[zlib.crc32(topic.encode()) % len(lanes)] if len(lanes) > 1 else lanes[0]
        event = Event(topic, type_name, tier, seq, cdr=cdr, stamp_ns=stamp_ns, mono_ns=mono_ns,
                      source=source, codec=self._codec)
        return event if lane.put(event) else None

    def _routes(self, topic: str) -> Tuple[Subscription, ...]:
        cache = self._route_cache
        subs = cache.get(topic)
        if subs is None:
            subs = tuple(s for s in self._subs if s.regex.match(topic) is not None)
            if len(cache) < 65536:
                cache[topic] = subs
        return subs

    def _dispatch(self, lane: _Lane, event: Event) -> None:
        policy = lane.policy
        for sub in self._routes(event.topic):
            if sub.tiers is not None and event.tier not in sub.tiers:
                continue
            attempt = 0
            while True:
                attempt += 1
                try:
                    sub.handler(event)
                    lane.delivered += 1
                    break
                except Exception as exc:  # handlers are untrusted: contain and retry
                    lane.handler_errors += 1
                    if attempt <= policy.max_retries:
                        lane.retries += 1
                        time.sleep(policy.retry_backoff.compute(attempt - 1))
                        continue
                    lane.dead_letters += 1
                    self._dead_letter(DeadLetter(
                        event=event, handler=sub.name, error=f'{type(exc).__name__}: {exc}',
                        traceback=traceback.format_exc(), attempts=attempt,
                        time_ns=time.time_ns()))
                    break

    def _dead_letter(self, letter: DeadLetter) -> None:
        _LOG.warning('handler %s failed %d time(s) on %r: %s; sent to dead letters',
                     letter.handler, letter.attempts, letter.event, letter.error)
        for sink in self._dead_letter_sinks:
            try:
                sink(letter)
            except Exception:  # a failing sink must not kill the worker
                _LOG.exception('dead-letter sink %r failed for %r', sink, letter.event)

    # -- observation -----------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """Return the sequence number of the most recent event."""
        return self._sequencer.last

    def set_next_seq(self, seq: int) -> None:
        """Continue numbering after ``seq - 1`` (used when resuming after a restart)."""
        try:
            self._sequencer.set_next(seq)
        except ValueError as exc:  # the native sequencer's refusal, in the bus's terms
            raise BusError(str(exc)) from None

    def stats(self) -> Dict[Tier, TierStats]:
        """Return per-tier counters (a snapshot)."""
        out: Dict[Tier, TierStats] = {}
        for tier, lanes in self._lanes.items():
            s = TierStats(tier=tier)
            samples: List[int] = []
            for lane in lanes:
                with lane.cond:
                    s.published += lane.published
                    s.dropped += lane.dropped
                    s.depth += len(lane.queue)
                    s.high_water = max(s.high_water, lane.high_water)
                    s.capacity += lane.capacity
                    samples.extend(lane.latencies)
                s.delivered += lane.delivered
                s.handler_errors += lane.handler_errors
                s.retries += lane.retries
                s.dead_letters += lane.dead_letters
            if samples:
                samples.sort()
                s.latency_p50_ms = samples[len(samples) // 2] / 1e6
                s.latency_p99_ms = samples[min(len(samples) - 1,
                                               int(len(samples) * 0.99))] / 1e6
            out[tier] = s
        return out
