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
The fleet registry: every kernel with a robot id keeps a heartbeat in the shared store.

``P:fleet`` is a hash: field = robot id, value = a JSON object with ``robot_id``, ``host``,
``pid``, ``version``, ``config_hash`` (of the validated config), ``prefix``, ``state`` (the
kernel's lifecycle state; ``stopped`` after a clean shutdown), ``started_ms``,
``last_seen_ms`` (the robot's wall clock), ``period_s``, ``modules`` (``[{name, state}]``)
and ``mirror`` (``connected``, ``queue_depth``, ``journal_pending``, ``written``: the events
not yet in the store are the mirror lag). A robot whose heartbeat is older than
``fleet.stale_after_s`` is shown ``stale``. The :class:`Heartbeat` component writes it every
``fleet.heartbeat_period_s`` from a thread of its own (a slow store never holds the kernel).
"""

import dataclasses
import hashlib
import json
import logging
import os
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import redis

from unity_kernel_core import __version__
from unity_kernel_core.audit.record import StreamKeys, text_of
from unity_kernel_core.audit.redis_connection import (Client, ClusterUnreachable, connect,
                                                      TRANSIENT_ERRORS)
from unity_kernel_core.common.credentials import redact_url
from unity_kernel_core.component import KernelContext
from unity_kernel_core.config.documents import JsonError, loads_json
from unity_kernel_core.config.kernel_config import KernelConfig

_LOG = logging.getLogger('unity_kernel.fleet')

STOPPED = 'stopped'
STALE = 'stale'
UP_STATES = ('active',)
HEARTBEAT_MAX_BYTES = 256 * 1024
"""Largest heartbeat read back (a kernel's own is a few KB)."""
HEARTBEAT_MAX_DEPTH = 16
"""Deepest nesting of a heartbeat read back (a kernel's own nests 3 levels)."""


def config_hash(config: KernelConfig) -> str:
    """Return a short hash of a validated config (equal configs, equal hashes)."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class RobotStatus:
    """One robot as the fleet view shows it: its last heartbeat, and how old it is."""

    robot_id: str
    record: Dict[str, Any]
    age_s: float
    stale: bool

    @property
    def state(self) -> str:
        """Return the robot's state: the kernel's, or ``stale`` when the heartbeat stopped."""
        state = str(self.record.get('state', '?'))
        return STALE if self.stale and state != STOPPED else state

    @property
    def modules_up(self) -> int:
        """Return how many of its modules are active."""
        return sum(1 for m in self.modules if m.get('state') in UP_STATES)

    @property
    def modules(self) -> List[Dict[str, Any]]:
        """Return the modules this robot reported, each with name and state."""
        found = self.record.get('modules')
        return [m for m in found if isinstance(m, dict)] if isinstance(found, list) else []

    @property
    def mirror_lag(self) -> Optional[int]:
        """Return the events it had not yet written to the store (queued + journaled)."""
        mirror = self.record.get('mirror')
        if not isinstance(mirror, dict):
            return None
        return _count(mirror.get('queue_depth', 0)) + _count(mirror.get('journal_pending', 0))

    def as_dict(self) -> Dict[str, Any]:
        """Return the JSON form ``fleet list --json`` prints."""
        return {'robot_id': self.robot_id, 'state': self.state, 'stale': self.stale,
                'age_s': round(self.age_s, 3), 'modules_up': self.modules_up,
                'modules_total': len(self.modules), 'mirror_lag': self.mirror_lag,
                'heartbeat': self.record}


class FleetRegistry:
    """Read and write the heartbeats under one prefix (``P:fleet``)."""

    def __init__(self, client: Client, prefix: str) -> None:
        self.client = client
        self.key = StreamKeys(prefix).fleet

    def put(self, record: Dict[str, Any]) -> None:
        """Store one robot's heartbeat."""
        self.client.hset(self.key, str(record['robot_id']), json.dumps(record))

    def records(self) -> Dict[str, Dict[str, Any]]:
        """
        Return every robot's last heartbeat (an unreadable one as ``{'error': ...}``).

        Whoever reaches the store can write here: a heartbeat larger than
        ``HEARTBEAT_MAX_BYTES`` is not read, one nested deeper than ``HEARTBEAT_MAX_DEPTH``
        or that is no JSON object is not parsed; each shows as its robot with the reason.
        """
        out: Dict[str, Dict[str, Any]] = {}
        fields: List[Any] = list(self.client.hkeys(self.key))
        if not fields:
            return out
        sizes = self.client.pipeline(transaction=False)
        for field in fields:
            sizes.hstrlen(self.key, field)
        small = [f for f, n in zip(fields, sizes.execute()) if int(n) <= HEARTBEAT_MAX_BYTES]
        values: List[Any] = list(self.client.hmget(self.key, small)) if small else []
        found = dict(zip(small, values))
        for field in fields:
            robot = text_of(field)
            if field not in found:
                out[robot] = bad_heartbeat(robot, 'larger than the limit of '
                                                  f'{HEARTBEAT_MAX_BYTES} bytes')
            else:  # None when removed since HKEYS: read as an empty record
                out[robot] = parse_heartbeat(robot, found[field] or b'{}')
        return out

    def statuses(self, stale_after_s: float,
                 now_ms: Optional[int] = None) -> List[RobotStatus]:
        """Return every robot's status, sorted by robot id."""
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        return [status_of(robot, record, now, stale_after_s)
                for robot, record in sorted(self.records().items())]


def bad_heartbeat(robot: str, why: str) -> Dict[str, Any]:
    """Return the record shown for a robot whose heartbeat cannot be read."""
    return {'robot_id': robot, 'state': '?', 'error': f'bad heartbeat: {why}'}


def parse_heartbeat(robot: str, value: 'str | bytes') -> Dict[str, Any]:
    """Return a heartbeat's JSON object, or :func:`bad_heartbeat` saying what is wrong."""
    try:
        record = loads_json(value, max_bytes=HEARTBEAT_MAX_BYTES, max_depth=HEARTBEAT_MAX_DEPTH)
    except JsonError as exc:
        return bad_heartbeat(robot, str(exc))
    if not isinstance(record, dict):
        return bad_heartbeat(robot, 'not a JSON object')
    return record


def _count(value: Any) -> int:
    """Return a heartbeat's count (queue depth, ...) as an int; 0 when it is none."""
    try:
        return max(0, int(value))
    except (TypeError, ValueError, OverflowError):
        return 0


def status_of(robot_id: str, record: Dict[str, Any], now_ms: int,
              stale_after_s: float) -> RobotStatus:
    """Return the status of one heartbeat record at ``now_ms``."""
    last = _count(record.get('last_seen_ms', 0))
    age = max(0.0, (now_ms - last) / 1000.0)
    return RobotStatus(robot_id, record, age, age > stale_after_s)


def heartbeat_record(config: KernelConfig, state: str, started_ms: int,
                     modules: List[Dict[str, Any]],
                     mirror: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Return the heartbeat of this kernel right now."""
    return {
        'robot_id': config.kernel.robot_id, 'host': socket.gethostname(), 'pid': os.getpid(),
        'version': __version__, 'config_hash': config_hash(config),
        'prefix': config.redis.stream_prefix, 'state': state, 'started_ms': started_ms,
        'last_seen_ms': time.time_ns() // 1_000_000,
        'period_s': config.fleet.heartbeat_period_s,
        'modules': [{'name': str(m.get('name')), 'state': str(m.get('state'))}
                    for m in modules],
        'mirror': None if mirror is None else {
            k: mirror.get(k) for k in ('connected', 'queue_depth', 'journal_pending',
                                       'written')}}


class Heartbeat:
    """The kernel component registering this robot in ``P:fleet`` every period."""

    name = 'fleet'

    def __init__(self, context: KernelContext, client_factory: Callable[[], Client]) -> None:
        self.context = context
        self._client_factory = client_factory
        self._registry: Optional[FleetRegistry] = None
        self._config = context.config
        self._started_ms = time.time_ns() // 1_000_000
        self._stop = threading.Event()
        self.sent = 0
        self.failures = 0
        self.last_error = ''
        self._view: List[Dict[str, Any]] = []
        self._thread = threading.Thread(target=self._run, name='fleet-heartbeat', daemon=True)
        self._thread.start()

    def _component(self, name: str) -> Any:
        return next((c for c in self.context.components if c.name == name), None)

    def record(self, state: Optional[str] = None) -> Dict[str, Any]:
        """Return the heartbeat to send now."""
        supervisor = self._component('supervisor')
        modules = supervisor.list_modules() if supervisor is not None else []
        mirror = self._component('mirror')
        snapshot = mirror.writer.snapshot() if mirror is not None else None
        label = str(state or getattr(self.context.node, 'state_label', '?'))
        return heartbeat_record(self._config, label, self._started_ms, modules, snapshot)

    def beat(self, state: Optional[str] = None) -> bool:
        """Send one heartbeat; return False (and remember why) when the store did not take it."""
        try:
            if self._registry is None:
                self._registry = FleetRegistry(self._client_factory(),
                                               self._config.redis.stream_prefix)
            self._registry.put(self.record(state))
        except TRANSIENT_ERRORS + (redis.ResponseError, ClusterUnreachable) as exc:
            self.failures += 1
            if not self.last_error:
                _LOG.warning('fleet heartbeat not stored (%s): retrying every %.1fs', exc,
                             self._config.fleet.heartbeat_period_s)
            self.last_error = f'{type(exc).__name__}: {exc}'
            return False
        if self.last_error:
            _LOG.info('fleet heartbeat stored again')
        self.last_error = ''
        self.sent += 1
        return True

    def fleet_view(self) -> List[Dict[str, Any]]:
        """Return every registered robot as ``fleet list --json`` shows it (last heartbeat)."""
        return list(self._view)

    def _read_view(self) -> None:
        try:
            if self._registry is not None:
                self._view = [s.as_dict() for s in self._registry.statuses(
                    self._config.fleet.stale_after_s)]
        except TRANSIENT_ERRORS + (redis.ResponseError,) as exc:
            _LOG.debug('fleet view not read: %s', exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.beat():
                    self._read_view()  # for the dashboard's fleet page
            except Exception as exc:  # the heartbeat must outlive one bad pass; say so
                self.failures += 1
                self.last_error = f'{type(exc).__name__}: {exc}'
                _LOG.exception('fleet heartbeat: unexpected error (continuing)')
            self._stop.wait(self._config.fleet.heartbeat_period_s)

    def activate(self) -> None:
        """Nothing to do: the heartbeat runs from configure to cleanup."""

    def deactivate(self) -> None:
        """Nothing to do: the heartbeat reports the state."""

    def cleanup(self) -> None:
        """Stop the thread; register the robot as ``stopped`` (not stale: it said goodbye)."""
        self._stop.set()
        self._thread.join(self._config.kernel.shutdown_timeout_s)
        self.beat(STOPPED)
        if self._registry is not None:
            self._registry.client.close()

    def reconfigure(self, config: KernelConfig) -> None:
        """Report the new config's hash; the robot id and store need a configure."""
        if config.kernel.robot_id != self._config.kernel.robot_id:
            _LOG.warning('kernel.robot_id changed: it takes effect at the next configure')
            config = config.model_copy(update={'kernel': config.kernel.model_copy(
                update={'robot_id': self._config.kernel.robot_id})})
        self._config = config

    def diagnostics(self) -> List[Any]:
        """Return the heartbeat's status (WARN while the store does not take it)."""
        from unity_kernel_core.ros.diagnostics import OK, status, WARN
        node_name = self.context.node.get_name()
        robot = self._config.kernel.robot_id
        values: Dict[str, object] = {
            'robot_id': robot, 'sent': self.sent, 'failures': self.failures,
            'url': redact_url(self._config.redis.url), 'last_error': self.last_error}
        if self.last_error:
            return [status(f'{node_name}: fleet', WARN, f'heartbeat of {robot} not stored '
                           f'({self.last_error})', values, hardware_id=node_name)]
        return [status(f'{node_name}: fleet', OK, f'registered as {robot}', values,
                       hardware_id=node_name)]


def create(context: KernelContext) -> Optional[Heartbeat]:
    """Build the heartbeat when the kernel has a robot id and a store to write to."""
    config = context.config
    if not config.kernel.robot_id or not config.redis.enabled or not config.redis.url:
        return None
    return Heartbeat(context, lambda: connect(config.redis))
