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
Conversation memory of a route: the last exchanges, bounded by count and by tokens.

:class:`InMemoryStore` keeps them in the process; :class:`RedisStore` in a Redis list per
route (``<prefix>:llm:memory:<route>``, with a robot id ``<prefix>:{<robot>}:llm:memory:<route>``
like the kernel's keys; trimmed to the bound at every write), so a restarted bridge continues
the conversation.
"""

import collections
import json
import logging
import os
import re
import threading
from typing import Any, Deque, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

from pydantic import ValidationError

from unity_kernel_core.audit import connect, StreamKeys
from unity_kernel_core.config.documents import loads_json
from unity_kernel_core.config.kernel_config import RedisSettings, ROBOT_ID_PATTERN
from unity_kernel_core.errors import AuditError
from unity_llm_bridge.config import BridgeSettings
from unity_llm_bridge.routing import Message, messages_tokens

_LOG = logging.getLogger('unity_kernel.llm_bridge')


class MemoryStore(Protocol):
    """Where the exchanges of each route are kept."""

    def append(self, route: str, exchange: Sequence[Message], max_events: int) -> None:
        """Add one exchange (the user message and the answer), keeping the last max_events."""

    def recent(self, route: str, max_events: int) -> List[List[Message]]:
        """Return up to the last ``max_events`` exchanges, oldest first."""

    def close(self) -> None:
        """Release connections."""


class InMemoryStore:
    """Exchanges in bounded deques (lost when the process ends)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: Dict[str, Deque[List[Message]]] = {}

    def append(self, route: str, exchange: Sequence[Message], max_events: int) -> None:
        with self._lock:
            queue = self._routes.get(route)
            if queue is None or queue.maxlen != max_events:
                queue = collections.deque(queue or (), maxlen=max_events)
                self._routes[route] = queue
            queue.append([dict(m) for m in exchange])

    def recent(self, route: str, max_events: int) -> List[List[Message]]:
        with self._lock:
            items = list(self._routes.get(route, ()))
        return items[-max_events:] if max_events else []

    def close(self) -> None:
        pass


class RedisStore:
    """Exchanges in Redis lists, one per route, trimmed to the bound at every write."""

    def __init__(self, client: Any, prefix: str, robot_id: Optional[str] = None) -> None:
        self._redis = client
        self._keys = StreamKeys(prefix, robot_id)

    def key(self, route: str) -> str:
        """Return the Redis key of a route's memory."""
        return self._keys.key('llm', 'memory', route)

    def append(self, route: str, exchange: Sequence[Message], max_events: int) -> None:
        key = self.key(route)
        pipe = self._redis.pipeline(transaction=True)
        pipe.rpush(key, json.dumps(list(exchange), ensure_ascii=False))
        pipe.ltrim(key, -max_events, -1)
        pipe.execute()

    def recent(self, route: str, max_events: int) -> List[List[Message]]:
        if not max_events:
            return []
        out = []
        for raw in self._redis.lrange(self.key(route), -max_events, -1):
            try:
                exchange = loads_json(raw)
            except ValueError as exc:  # someone else wrote into our list: skip, say so
                _LOG.warning('memory of route %s: skipping an unreadable entry (%s)', route,
                             exc)
                continue
            if isinstance(exchange, list):
                out.append([{'role': str(m.get('role', '')), 'content': str(m.get('content', ''))}
                            for m in exchange if isinstance(m, dict)])
        return out

    def close(self) -> None:
        self._redis.close()


def connect_store(bridge: BridgeSettings,
                  environ: Optional[Mapping[str, str]] = None) -> Tuple[Any, StreamKeys]:
    """
    Return a Redis client for ``bridge.redis_url`` and the keys the bridge writes under.

    ``redis_cluster`` and ``robot_id`` default to ``UNITY_REDIS_CLUSTER`` and
    ``UNITY_ROBOT_ID`` (as the kernel's); ACL user, password and TLS work as the kernel's
    (``UNITY_REDIS_PASSWORD``). AuditError for a bad robot id or an unreachable cluster.
    """
    env = os.environ if environ is None else environ
    robot = bridge.robot_id or env.get('UNITY_ROBOT_ID') or None
    if robot is not None and not re.match(ROBOT_ID_PATTERN, robot):
        raise AuditError(f'UNITY_ROBOT_ID {robot!r}: expected a ROS name (a letter, then '
                         'letters, digits and single underscores)')
    cluster = bridge.redis_cluster
    if cluster is None:
        cluster = env.get('UNITY_REDIS_CLUSTER', '').strip().lower() in ('1', 'true', 'yes')
    try:
        settings = RedisSettings(url=bridge.redis_url, cluster=cluster, connect_timeout_s=2.0,
                                 socket_timeout_s=2.0)
    except ValidationError as exc:
        raise AuditError(f'bridge.redis_url: {exc.errors()[0]["msg"]}') from None
    return connect(settings, environ=env), StreamKeys(bridge.redis_prefix, robot)


def history(store: MemoryStore, route: str, max_events: int, max_tokens: int) -> List[Message]:
    """Return the messages of the newest exchanges that fit in ``max_tokens``, oldest first."""
    chosen: List[List[Message]] = []
    used = 0
    for exchange in reversed(store.recent(route, max_events)):
        cost = messages_tokens(exchange)
        if used + cost > max_tokens:
            break
        chosen.append(exchange)
        used += cost
    return [m for exchange in reversed(chosen) for m in exchange]
