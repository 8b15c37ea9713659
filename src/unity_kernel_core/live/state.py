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
The kernel's state as one JSON-ready snapshot (what the dashboard and the JSON channels show).

Peers are found by component name and used through the small protocols below, so the live
view needs neither the audit nor the supervision package.
"""

import time
from typing import Any, Dict, List, Mapping, Optional, Protocol, Sequence

from unity_kernel_core.bus.event_bus import TierStats
from unity_kernel_core.bus.events import Tier
from unity_kernel_core.common.credentials import redact_url
from unity_kernel_core.live.delivery import Rates
from unity_kernel_core.module_commands import CommandOutcome, ModuleCommand


class MirrorView(Protocol):
    """What the live view reads from the audit mirror component (``name == 'mirror'``)."""

    def snapshot(self) -> Dict[str, Any]:
        """Return the mirror's counters and connection state."""


class ModuleOperations(Protocol):
    """What the live view uses of the supervisor component (``name == 'supervisor'``)."""

    def list_modules(self) -> List[Dict[str, Any]]:
        """Return every known module as a dict."""

    def submit(self, command: str, arg: str) -> CommandOutcome:
        """Take a ``ModuleCommand`` (its NAME, or ``load``'s PATH); return its outcome."""

    def outcome(self, outcome_id: str, wait_s: float = 0.0) -> Optional[CommandOutcome]:
        """Return a command's outcome, once final or after ``wait_s``; None if not known."""


MODULE_COMMANDS = tuple(c.value for c in ModuleCommand)


def find_peer(peers: Sequence[Any], name: str, *methods: str) -> Optional[Any]:
    """Return the component called ``name`` when it has ``methods``, else None."""
    for peer in list(peers):
        if getattr(peer, 'name', None) == name and all(
                callable(getattr(peer, m, None)) for m in methods):
            return peer
    return None


def tiers_view(stats: Mapping[Tier, TierStats], rates: Rates,
               now_s: float) -> List[Dict[str, Any]]:
    """Return one row per tier: depth, capacity, published/delivered/dropped and rates."""
    rows = []
    for tier in sorted(stats):
        s = stats[tier]
        rows.append({
            'tier': tier.name, 'depth': s.depth, 'capacity': s.capacity,
            'high_water': s.high_water, 'published': s.published, 'delivered': s.delivered,
            'dropped': s.dropped, 'dead_letters': s.dead_letters,
            'handler_errors': s.handler_errors,
            'events_per_s': round(rates.update(f'tier.{tier.name}', s.published, now_s), 1),
            'drops_per_s': round(rates.update(f'drop.{tier.name}', s.dropped, now_s), 1),
            'latency_p50_ms': round(s.latency_p50_ms, 3),
            'latency_p99_ms': round(s.latency_p99_ms, 3)})
    return rows


def mirror_view(mirror: Optional[MirrorView]) -> Dict[str, Any]:
    """Return the mirror panel: written, journaled, pending, reachable (or off)."""
    if mirror is None:
        return {'enabled': False}
    snap = mirror.snapshot()
    keep = ('written', 'journaled', 'journal_pending', 'journal_bytes', 'queue_depth',
            'queue_capacity', 'dropped_queue', 'connected', 'last_error')
    out: Dict[str, Any] = {k: snap.get(k) for k in keep}
    out['enabled'] = True
    out['url'] = redact_url(snap.get('url'))
    return out


class Snapshot:
    """Builds the state snapshot; one instance per live view (it keeps rate history)."""

    def __init__(self) -> None:
        self._rates = Rates()

    def build(self, *, kernel: Dict[str, Any], stats: Mapping[Tier, TierStats],
              mirror: Optional[MirrorView], modules: Optional[ModuleOperations],
              mapped: Mapping[str, str], llm: Dict[str, Any], camera: Dict[str, Any],
              live: Dict[str, Any]) -> Dict[str, Any]:
        """Return the whole snapshot as a JSON-ready dict."""
        now = time.monotonic()
        return {
            'time_ns': time.time_ns(),
            'kernel': kernel,
            'tiers': tiers_view(stats, self._rates, now),
            'mirror': mirror_view(mirror),
            'modules': modules.list_modules() if modules is not None else [],
            'topics': [{'topic': t, 'type': ty} for t, ty in sorted(mapped.items())],
            'llm': llm,
            'camera': camera,
            'live': live,
        }
