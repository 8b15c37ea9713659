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
The live plots' history: a bounded ring of samples, and per-topic event counts.

Pure (no ROS, no network, no clock of its own): the live view adds one sample per period
from its state snapshot, and the dashboard serves the ring's columns to the page's charts.
Everything is bounded: the ring keeps ``window_s / period_s`` rows and at most
``max_series`` named series; the topic counter at most ``max_topics`` topics (the rest are
counted together as :data:`OTHER_TOPICS`).
"""

import collections
import math
import threading
from typing import Any, Deque, Dict, Mapping, Optional

from unity_kernel_core.live.delivery import Rates

OTHER_TOPICS = '(other topics)'
"""The series of every topic beyond the counter's or the ring's bound."""

TOPIC_PREFIX = 'topic:'
"""Series named ``topic:<name>`` are per-topic rates (events/s)."""


class SampleRing:
    """
    One row of named values per period over a sliding window (at most ``capacity`` rows).

    A series absent from a row is ``None`` there (a gap in its chart); a new series is
    ``None`` in the rows before it appeared; a series that is ``None`` in every kept row is
    dropped. At most ``max_series`` series are kept: names beyond that are counted in
    ``refused_series``, not stored.
    """

    def __init__(self, window_s: float = 600.0, period_s: float = 1.0,
                 max_series: int = 96) -> None:
        if not (period_s > 0 and window_s >= period_s and max_series >= 1):
            raise ValueError(f'sample ring: need 0 < period_s <= window_s and max_series >= 1 '
                             f'(got {period_s}, {window_s}, {max_series})')
        self.window_s = window_s
        self.period_s = period_s
        self.capacity = int(math.ceil(window_s / period_s))
        self.max_series = max_series
        self._times: Deque[float] = collections.deque(maxlen=self.capacity)
        self._series: Dict[str, Deque[Optional[float]]] = {}
        self._lock = threading.Lock()
        self.refused_series = 0

    def due(self, now_s: float) -> bool:
        """Tell whether a period has passed since the last row (or there is none yet)."""
        with self._lock:
            return not self._times or now_s - self._times[-1] >= self.period_s * 0.95

    def add(self, t_s: float, values: Mapping[str, Optional[float]]) -> None:
        """Append one row at time ``t_s`` (seconds, increasing); older rows fall out."""
        with self._lock:
            if self._times and t_s <= self._times[-1]:
                raise ValueError(f'sample time {t_s} is not after the last ({self._times[-1]})')
            full = len(self._times) == self.capacity
            self._times.append(t_s)
            for name, column in self._series.items():
                column.append(_number(values.get(name)))
            for name, value in values.items():
                if name in self._series:
                    continue
                if len(self._series) >= self.max_series:
                    self.refused_series += 1
                    continue
                column = collections.deque([None] * (len(self._times) - 1),
                                           maxlen=self.capacity)
                column.append(_number(value))
                self._series[name] = column
            if full:  # rows fell out: forget the series that have nothing left
                for name in [n for n, c in self._series.items() if all(v is None for v in c)]:
                    del self._series[name]

    def __len__(self) -> int:
        """Return the number of rows kept."""
        return len(self._times)

    def columns(self, since_s: Optional[float] = None) -> Dict[str, Any]:
        """
        Return the rows after ``since_s`` (all when None) as columns.

        ``{'t': [...], 'series': {name: [...]}, 'window_s', 'period_s'}``: every series has one
        value (or None) per time, as a chart library's aligned data wants them.
        """
        with self._lock:
            times = list(self._times)
            start = 0 if since_s is None else next(
                (i for i, t in enumerate(times) if t > since_s), len(times))
            return {'t': times[start:], 'window_s': self.window_s, 'period_s': self.period_s,
                    'series': {name: list(column)[start:]
                               for name, column in sorted(self._series.items())}}


def _number(value: Any) -> Optional[float]:
    """Return ``value`` as a finite float, or None (booleans and non-numbers are None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class TopicCounter:
    """
    Events seen per topic (at most ``max_topics`` topics; the rest under OTHER_TOPICS).

    ``count`` is called on the bus's worker threads for every event; a topic's events are
    handled on one lane, so each name is incremented by one thread at a time; the lock is
    taken only to add a name.
    """

    def __init__(self, max_topics: int = 512) -> None:
        self.max_topics = max_topics
        self._counts: Dict[str, int] = {}
        self._lock = threading.Lock()
        self._rates = Rates()

    def count(self, topic: str) -> None:
        """Count one event on ``topic``."""
        counts = self._counts
        if topic in counts:
            counts[topic] += 1
            return
        with self._lock:
            if topic not in counts and len(counts) >= self.max_topics:
                topic = OTHER_TOPICS
            counts[topic] = counts.get(topic, 0) + 1

    def totals(self) -> Dict[str, int]:
        """Return the events counted per topic."""
        with self._lock:
            return dict(self._counts)

    def rates(self, now_s: float) -> Dict[str, float]:
        """Return each topic's events/s since the previous call."""
        return {topic: round(self._rates.update(topic, count, now_s), 2)
                for topic, count in self.totals().items()}


def sample_row(state: Mapping[str, Any], topic_rates: Mapping[str, float],
               process: Mapping[str, float], tier_rates: Rates, now_s: float,
               max_topics: int = 24) -> Dict[str, float]:
    """
    Return one row of the live plots from a state snapshot, the topic rates and the process.

    Series: per tier ``tier:<T>:events_per_s`` and ``tier:<T>:drops_per_s`` (from its
    published and dropped counters since the previous row, through ``tier_rates``: over the
    whole sample period, not the snapshot's last refresh) and ``tier:<T>:depth``;
    the audit mirror's ``mirror:journal_pending`` (its lag: events journaled while Redis was
    away, not yet written to it), ``mirror:queue_depth`` (queued for its writer: bytes of the
    ring with ``redis.writer: process``, events with ``thread``) and ``mirror:journal_bytes``;
    the kernel process's ``kernel:cpu_percent`` and ``kernel:rss_mb``; and ``topic:<name>``
    for the ``max_topics`` busiest topics (the others summed as ``topic:(other topics)``).
    """
    row: Dict[str, float] = {}
    for tier in state.get('tiers') or []:
        name = tier.get('tier')
        if not name:
            continue
        for key, counter in (('events_per_s', 'published'), ('drops_per_s', 'dropped')):
            if isinstance(tier.get(counter), (int, float)):
                row[f'tier:{name}:{key}'] = round(
                    tier_rates.update(f'{name}:{counter}', tier[counter], now_s), 2)
        if 'depth' in tier:
            row[f'tier:{name}:depth'] = tier['depth']
    mirror = state.get('mirror') or {}
    if mirror.get('enabled'):
        for key in ('journal_pending', 'queue_depth', 'journal_bytes'):
            if mirror.get(key) is not None:
                row[f'mirror:{key}'] = mirror[key]
    for key in ('cpu_percent', 'rss_mb'):
        if key in process:
            row[f'kernel:{key}'] = process[key]
    ranked = sorted(topic_rates.items(), key=lambda item: (-item[1], item[0]))
    rest = 0.0
    for index, (topic, rate) in enumerate(ranked):
        if index < max_topics and topic != OTHER_TOPICS:
            row[TOPIC_PREFIX + topic] = rate
        else:
            rest += rate
    if rest:
        row[TOPIC_PREFIX + OTHER_TOPICS] = round(rest, 2)
    return row
