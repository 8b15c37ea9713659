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
One Foxglove client's outbox: a queue per tier, the most urgent pending message sent first.

Producers (the bus's tier workers, the live view's thread) ``push`` from any thread and never
wait; the client's sender ``pop``s on the server's event loop. Policy, per client:

- CRITICAL (also the control messages: advertise, status, service answers) is never dropped.
  It is bounded by ``critical_limit`` pending messages: a client that cannot take even the
  CRITICAL traffic is failed (``push`` returns ``Push.OVERFLOW`` once, with ``failed`` saying
  why) and the server disconnects it with that reason, rather than dropping anything silently;
- every other tier holds at most ``depth`` messages; beyond that the oldest of that tier is
  dropped and counted (``dropped``, per tier);
- a message pushed with a ``key`` (a channel whose latest message is all a viewer needs:
  camera frames) replaces the one of the same key still pending in its tier, in its place in
  the queue, and the replaced one counts as dropped: a slow client gets the newest frame, not
  a queue of stale ones. CRITICAL messages are never replaced (the key is ignored there);
- ``pop`` always takes from the most urgent non-empty tier, FIFO within a tier.

Pure: no I/O, no event loop; a lock makes ``push``/``pop`` safe across threads.
"""

import collections
import enum
import threading
from typing import Deque, Dict, Hashable, List, Optional, Union

from unity_kernel_core.bus.events import Tier

Item = Union[str, bytes]


class _Slot:
    """A keyed message pending in a queue: replaced in place by a newer one of its key."""

    __slots__ = ('key', 'item')

    def __init__(self, key: Hashable, item: Item) -> None:
        self.key = key
        self.item = item


class Push(enum.Enum):
    """What a ``push`` did, and what the caller must do about it."""

    QUEUED = 'queued'        # nothing more to do: the sender is running
    WAKE = 'wake'            # queued; the sender was idle and must be woken
    OVERFLOW = 'overflow'    # CRITICAL bound exceeded: disconnect the client (reason: failed)
    CLOSED = 'closed'        # the outbox failed or closed earlier; the message was discarded


class Outbox:
    """Per-tier queues of one client (see the module docstring for the policy)."""

    def __init__(self, depth: int, critical_limit: int) -> None:
        if depth < 1 or critical_limit < 1:
            raise ValueError(f'outbox depth {depth} and critical_limit {critical_limit} '
                             'must be >= 1')
        self.depth = depth
        self.critical_limit = critical_limit
        self._queues: List[Deque[Union[Item, _Slot]]] = [collections.deque() for _ in Tier]
        self._keyed: List[Dict[Hashable, _Slot]] = [{} for _ in Tier]
        self._dropped = [0] * len(Tier)
        self._sent = 0
        self._pending = 0
        self._idle = True
        self._closed = False
        self.failed: Optional[str] = None
        self._lock = threading.Lock()

    def push(self, item: Item, tier: Tier, key: Optional[Hashable] = None) -> Push:
        """Queue ``item`` in ``tier``'s queue (see the module docstring for ``key``)."""
        with self._lock:
            if self._closed:
                return Push.CLOSED
            queue = self._queues[tier]
            entry: Union[Item, _Slot] = item
            if tier == Tier.CRITICAL:
                if len(queue) >= self.critical_limit:
                    self.failed = (f'{len(queue)} CRITICAL/control messages pending (limit '
                                   f'{self.critical_limit}): the client does not read fast '
                                   'enough for the CRITICAL traffic')
                    self._close()
                    return Push.OVERFLOW
            elif key is not None:
                pending = self._keyed[tier].get(key)
                if pending is not None:  # the newer one takes the older one's place
                    pending.item = item
                    self._dropped[tier] += 1
                    return Push.QUEUED
                entry = self._keyed[tier][key] = _Slot(key, item)
            if tier != Tier.CRITICAL and len(queue) >= self.depth:
                self._forget(tier, queue.popleft())
                self._dropped[tier] += 1
                self._pending -= 1
            queue.append(entry)
            self._pending += 1
            if self._idle:
                self._idle = False
                return Push.WAKE
            return Push.QUEUED

    def _forget(self, tier: Tier, entry: Union[Item, _Slot]) -> Item:
        if isinstance(entry, _Slot):
            del self._keyed[tier][entry.key]
            return entry.item
        return entry

    def pop(self) -> Optional[Item]:
        """Return the most urgent pending message; None (and mark the sender idle) if none."""
        with self._lock:
            if self._pending:
                for tier, queue in enumerate(self._queues):
                    if queue:
                        self._pending -= 1
                        self._sent += 1
                        return self._forget(Tier(tier), queue.popleft())
            self._idle = True
            return None

    def close(self) -> None:
        """Discard everything pending; later pushes return ``Push.CLOSED``."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        self._closed = True
        for queue, keyed in zip(self._queues, self._keyed):
            queue.clear()
            keyed.clear()
        self._pending = 0

    @property
    def dropped(self) -> Dict[str, int]:
        """Return the messages dropped so far, per tier name (CRITICAL is always 0)."""
        with self._lock:
            return {tier.name: self._dropped[tier] for tier in Tier}

    def stats(self) -> Dict[str, object]:
        """Return pending (per tier), sent and dropped counts."""
        with self._lock:
            return {'pending': {t.name: len(self._queues[t]) for t in Tier if self._queues[t]},
                    'sent': self._sent,
                    'dropped': {t.name: self._dropped[t] for t in Tier if self._dropped[t]},
                    'dropped_total': sum(self._dropped), 'failed': self.failed}
