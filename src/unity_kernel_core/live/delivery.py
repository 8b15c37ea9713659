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
Pure delivery logic of the live view: throttles, publish allow-list, ROS's own parameters.

Also the recent events ring and rates; ROS's own parameters are read-only from the live view.

No network, no ROS: the Foxglove server and the dashboard call these on every message or
request, and the unit tests drive them with plain values.
"""

import collections
import threading
from typing import Any, Deque, Dict, Iterable, List, Optional, Sequence, Tuple

from unity_kernel_core.bus.events import Tier
from unity_kernel_core.bus.patterns import any_match, compile_pattern, first_match


class Throttle:
    """
    Per-topic rate limits: ``allow(topic, now_s)`` says whether a message may be forwarded.

    Rules are ``(pattern, max_hz)``; the first matching rule limits the topic, each topic on
    its own budget (a minimum spacing of ``1 / max_hz`` with one period of slack, so a stream
    at exactly ``max_hz`` passes whole despite jitter). CRITICAL events are never throttled.
    """

    def __init__(self, rules: Sequence[Tuple[str, float]]) -> None:
        for pattern, max_hz in rules:
            compile_pattern(pattern)
            if max_hz <= 0:
                raise ValueError(f'throttle {pattern}: max_hz must be > 0, got {max_hz}')
        self._rules = list(rules)
        self._period: Dict[str, Optional[float]] = {}
        self._next: Dict[str, float] = {}
        self._lock = threading.Lock()
        self.throttled = 0

    def period_of(self, topic: str) -> Optional[float]:
        """Return the minimum spacing of ``topic`` in seconds, or None when unlimited."""
        period = self._period.get(topic, -1.0)
        if period == -1.0:
            hz = first_match(self._rules, topic)
            period = None if hz is None else 1.0 / hz
            self._period[topic] = period
        return period

    def allow(self, topic: str, tier: Tier, now_s: float) -> bool:
        """Return True when a message of ``topic`` may go out at ``now_s`` (and count it)."""
        if tier == Tier.CRITICAL:
            return True
        period = self.period_of(topic)
        if period is None:
            return True
        with self._lock:
            due = self._next.get(topic, 0.0)
            if now_s + 1e-9 < due:
                self.throttled += 1
                return False
            # keep to the grid, not to arrival times, so jitter does not lower the rate; after
            # a pause of more than one period, start the grid again from now
            step = due + period if due else now_s + period
            self._next[topic] = now_s if step <= now_s - period else step
            return True


class PublishPolicy:
    """Which topics a Foxglove client may publish on (off unless the config enables it)."""

    SAFETY = '/safety/**'

    def __init__(self, enabled: bool, allow: Iterable[str], allow_safety: bool) -> None:
        self.enabled = enabled
        self.allow = list(allow)
        self.allow_safety = allow_safety
        for pattern in self.allow:
            compile_pattern(pattern)

    def check(self, topic: str) -> Optional[str]:
        """Return None when publishing on ``topic`` is allowed, else why not."""
        if not self.enabled:
            return 'client publishing is off (live.client_publish: false)'
        if not any_match(self.allow, topic):
            return f'{topic} is not in live.publish_allow'
        if not self.allow_safety and any_match([self.SAFETY], topic):
            return (f'{topic} is a safety topic: only with live.publish_allow_safety: true')
        return None


#: Parameters every ROS 2 node has, owned by ROS itself: rclpy's ``USE_SIM_TIME_NAME`` and
#: ``START_TYPE_DESCRIPTION_SERVICE_PARAM`` (a unit test checks they are rclpy's).
ROS_OWNED_PARAMETERS = ('use_sim_time', 'start_type_description_service')
#: ... and the families named by a prefix (rclpy's ``qos_overrides.<topic>.<entity>.<policy>``).
ROS_OWNED_PREFIXES = ('qos_overrides.',)


def ros_owned_parameter(name: str) -> bool:
    """Return True for a parameter that belongs to ROS itself (read-only from the live view)."""
    return name in ROS_OWNED_PARAMETERS or name.startswith(ROS_OWNED_PREFIXES)


class EventRing:
    """The last N events (topic, type, tier, seq, stamp, preview) for the dashboard."""

    def __init__(self, size: int) -> None:
        self._items: Deque[Dict[str, Any]] = collections.deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, item: Dict[str, Any]) -> None:
        """Append one event summary (the oldest falls out)."""
        with self._lock:
            self._items.append(item)

    def matching(self, pattern: Optional[str], limit: int) -> List[Dict[str, Any]]:
        """Return up to ``limit`` newest summaries whose topic matches ``pattern``, newest last."""
        with self._lock:
            items = list(self._items)
        if pattern:
            regex = compile_pattern(pattern)
            items = [i for i in items if regex.match(i['topic'])]
        return items[-limit:]


class Rates:
    """Per-key rates (events/s) from successive counter readings."""

    def __init__(self) -> None:
        self._prev: Dict[str, Tuple[float, float]] = {}

    def update(self, key: str, count: float, now_s: float) -> float:
        """Return the rate of ``count`` since the last reading of ``key``."""
        prev = self._prev.get(key)
        self._prev[key] = (count, now_s)
        if prev is None or now_s <= prev[1]:
            return 0.0
        return max(0.0, (count - prev[0]) / (now_s - prev[1]))
