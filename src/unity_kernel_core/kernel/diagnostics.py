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

"""Build the kernel's ``/diagnostics`` entries from bus counters."""

import dataclasses
from typing import Any, Dict, Optional

from diagnostic_msgs.msg import DiagnosticStatus

from unity_kernel_core.bus.event_bus import TierStats
from unity_kernel_core.bus.events import Tier
from unity_kernel_core.ros.diagnostics import OK, status, WARN


def kernel_status(node_name: str, state: str, stats: Dict[Tier, TierStats],
                  previous: Optional[Dict[Tier, TierStats]], period_s: float,
                  mapped_topics: int, callback_errors: int = 0,
                  previous_callback_errors: int = 0) -> DiagnosticStatus:
    """
    Summarize the kernel: lifecycle state, per-tier depth, rates and drops, callback errors.

    WARN when events were dropped, a handler failed or a callback of the process failed
    (``callback_errors``: :mod:`unity_kernel_core.ros.callbacks`) since the previous report,
    or a queue is over 80 % full, or the kernel is not active.
    """
    values: Dict[str, object] = {'state': state, 'mapped_topics': mapped_topics,
                                 'callback_errors': callback_errors}
    problems = []
    if callback_errors > previous_callback_errors:
        problems.append(f'callback errors {callback_errors - previous_callback_errors}')
    for tier, s in stats.items():
        prev = previous.get(tier) if previous else None
        base = prev if prev is not None else dataclasses.replace(s, published=0, dropped=0,
                                                                 handler_errors=0)
        rate = (s.published - base.published) / period_s if period_s > 0 else 0.0
        key = tier.name.lower()
        values[f'{key}.depth'] = s.depth
        values[f'{key}.capacity'] = s.capacity
        values[f'{key}.rate_hz'] = f'{rate:.1f}'
        values[f'{key}.published'] = s.published
        values[f'{key}.delivered'] = s.delivered
        values[f'{key}.dropped'] = s.dropped
        values[f'{key}.handler_errors'] = s.handler_errors
        values[f'{key}.dead_letters'] = s.dead_letters
        values[f'{key}.latency_p99_ms'] = f'{s.latency_p99_ms:.3f}'
        if s.dropped > base.dropped:
            problems.append(f'{tier.name} dropped {s.dropped - base.dropped}')
        if s.handler_errors > base.handler_errors:
            problems.append(f'{tier.name} handler errors {s.handler_errors - base.handler_errors}')
        if s.capacity and s.depth > 0.8 * s.capacity:
            problems.append(f'{tier.name} queue {s.depth}/{s.capacity}')
    if state != 'active':
        problems.insert(0, state)
    level = WARN if problems else OK
    message = '; '.join(problems) if problems else f'active, {mapped_topics} topics mapped'
    return status(f'{node_name}: kernel', level, message, values, hardware_id=node_name)


INTAKE_PROBLEMS = ('take_errors', 'oversized', 'wait_errors', 'handoff_dropped', 'refused')
"""The native intake's counters whose growth is a problem (WARN)."""


def intake_status(node_name: str, stats: Dict[str, Any],
                  previous: Optional[Dict[str, Any]]) -> DiagnosticStatus:
    """
    Summarize the native intake: messages taken and handed over, and what went wrong.

    WARN when a take failed, a message was larger than the bound, a wait failed, or a
    hand-off queue dropped messages since the previous report.
    """
    values: Dict[str, Any] = {k: v for k, v in stats.items() if not isinstance(v, dict)}
    for tier, handoff in stats.get('handoff', {}).items():
        key = tier.lower()
        values[f'handoff.{key}.depth'] = handoff['depth']
        values[f'handoff.{key}.dropped'] = handoff['dropped']
    dropped = sum(h['dropped'] for h in stats.get('handoff', {}).values())
    values['handoff_dropped'] = int(values.get('handoff_dropped', 0)) + dropped
    before: Dict[str, Any] = dict(previous or {})
    before_dropped = sum(h['dropped'] for h in before.get('handoff', {}).values())
    before['handoff_dropped'] = int(before.get('handoff_dropped', 0)) + before_dropped
    problems = [f'{key} {int(values[key]) - int(before.get(key, 0))}'
                for key in INTAKE_PROBLEMS
                if int(values.get(key, 0)) > int(before.get(key, 0))]
    message = ('; '.join(problems) if problems else
               f'native: {values.get("taken", 0)} taken, {values.get("delivered", 0)} handed '
               'to the interpreter')
    return status(f'{node_name}: intake', WARN if problems else OK, message, values,
                  hardware_id=node_name)
