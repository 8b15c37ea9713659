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
The audit writer's counters: what each part of the writer counts, read by the diagnostics.

One :class:`WriterCounts` is shared by the parts of one writer (tap queue, entry encoder,
Redis sink, journal spool); each part adds to its own keys. Every key exists from the start,
so :meth:`WriterCounts.snapshot` may copy them from another thread at any time.
"""

import logging
import time
from typing import Dict

from unity_kernel_core.bus.events import Tier

_LOG = logging.getLogger('unity_kernel.mirror')

COUNTERS = ('written', 'journaled', 'drained', 'duplicates', 'rejected', 'dropped_queue',
            'dropped_journal_full', 'journal_errors', 'journal_corrupt', 'skipped',
            'unencodable', 'outages', 'writer_errors', 'critical_waits', 'ring_corrupt')
"""The counters every writer reports (thread or process), in the diagnostics' order."""


class WriterCounts:
    """The counters of one writer, events not recorded by tier, and rate-limited ERROR logs."""

    def __init__(self) -> None:
        self.counters: Dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.dropped_by_tier: Dict[str, int] = dict.fromkeys((t.name for t in Tier), 0)
        """Events not recorded, by tier (queue full, or lost at stop with nowhere to go)."""
        self.last_error = ''
        self._last_log: Dict[str, float] = {}

    def drop(self, tier: str, key: str = 'dropped_queue', count: int = 1) -> None:
        """Count ``count`` events of ``tier`` that are not recorded, under ``key``."""
        self.counters[key] += count
        self.dropped_by_tier[tier] = self.dropped_by_tier.get(tier, 0) + count

    def log_limited(self, key: str, message: str, period_s: float = 10.0) -> None:
        """Log ``message`` as an ERROR, at most once per ``period_s`` for each ``key``."""
        now = time.monotonic()
        if now - self._last_log.get(key, -period_s) >= period_s:
            self._last_log[key] = now
            _LOG.error(message)
