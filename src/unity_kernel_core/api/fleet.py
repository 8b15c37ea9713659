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

"""The fleet view from the command line: the robots registered in one store (``fleet``)."""

import pathlib
from typing import Any, Dict, List, Optional, Tuple

from unity_kernel_core.api.audit import open_client
from unity_kernel_core.api.text import printable
from unity_kernel_core.audit.fleet import FleetRegistry, RobotStatus
from unity_kernel_core.config.kernel_config import KernelConfig
from unity_kernel_core.errors import AuditError


def open_registry(config_path: Optional[pathlib.Path] = None,
                  url: Optional[str] = None) -> Tuple[FleetRegistry, KernelConfig]:
    """Return the fleet registry of a kernel config's store (and the config)."""
    client, config = open_client(config_path, url)
    return FleetRegistry(client, config.redis.stream_prefix), config


def fleet_statuses(registry: FleetRegistry, stale_after_s: float) -> List[RobotStatus]:
    """Return every registered robot's status, sorted by robot id."""
    return registry.statuses(stale_after_s)


def robot_status(registry: FleetRegistry, robot: str, stale_after_s: float) -> RobotStatus:
    """Return one robot's status; AuditError when it never registered."""
    for found in registry.statuses(stale_after_s):
        if found.robot_id == robot:
            return found
    raise AuditError(f'no robot {robot!r} in the fleet registry {registry.key}')


def _age(seconds: float) -> str:
    if seconds < 60:
        return f'{seconds:.1f}s ago'
    if seconds < 3600:
        return f'{seconds / 60:.1f}m ago'
    return f'{seconds / 3600:.1f}h ago'


def format_fleet(statuses: List[RobotStatus]) -> str:
    """Format robots as an aligned table (control characters shown as escapes)."""
    table: List[Tuple[str, ...]] = [
        ('ROBOT', 'STATE', 'LAST SEEN', 'MODULES', 'MIRROR LAG', 'HOST', 'VERSION')]
    for s in statuses:
        lag = s.mirror_lag
        table.append(tuple(printable(c) for c in (
            s.robot_id, s.state, _age(s.age_s), f'{s.modules_up}/{len(s.modules)}',
            '-' if lag is None else str(lag), str(s.record.get('host', '?')),
            str(s.record.get('version', '?')))))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return '\n'.join('  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table)


def _mirror_line(status: RobotStatus, mirror: Dict[str, Any]) -> str:
    if not mirror:
        return 'not running'
    return (f'connected {mirror.get("connected")}, lag {status.mirror_lag} (queued '
            f'{mirror.get("queue_depth")}, journaled {mirror.get("journal_pending")}), '
            f'written {mirror.get("written")}')


def format_robot(status: RobotStatus) -> str:
    """Format one robot's heartbeat in full (control characters shown as escapes)."""
    r = status.record
    mirror: Dict[str, Any] = r['mirror'] if isinstance(r.get('mirror'), dict) else {}
    lines = [f'robot:       {status.robot_id}',
             f'state:       {status.state}' + (' (no heartbeat for '
                                               f'{status.age_s:.1f}s)' if status.stale else ''),
             f'last seen:   {_age(status.age_s)}',
             f'host:        {r.get("host", "?")} (pid {r.get("pid", "?")})',
             f'version:     {r.get("version", "?")}',
             f'config hash: {r.get("config_hash", "?")}',
             'mirror:      ' + _mirror_line(status, mirror),
             f'modules:     {status.modules_up}/{len(status.modules)} active']
    lines += [f'  {m.get("name")}: {m.get("state")}' for m in status.modules]
    if 'error' in r:
        lines.append(f'error:       {r["error"]}')
    return '\n'.join(printable(line) for line in lines)
