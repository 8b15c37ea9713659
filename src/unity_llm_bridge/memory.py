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

What is read back from Redis is bounded and checked, since anyone who can write to the server
can write there: a script run by Redis hands over the newest entries only while they are at
most :data:`MAX_ENTRY_BYTES` each and :data:`MAX_READ_BYTES` in all (a larger entry is not
sent, only its size); each entry must be a JSON list of ``{"role": "user"|"assistant",
"content": text}`` (:func:`parse_exchange`): a message claiming to be the system prompt, or
anything else, is skipped with one WARNING per route.
"""

import collections
import json
import logging
import os
import re
import threading
from typing import Any, Deque, Dict, List, Mapping, Optional, Protocol, Sequence, Set, Tuple

from pydantic import TypeAdapter, ValidationError

from unity_kernel_core.audit import connect, StreamKeys
from unity_kernel_core.config.documents import loads_json, MAX_DOCUMENT_BYTES
from unity_kernel_core.config.kernel_config import RedisSettings, ROBOT_ID_PATTERN
from unity_kernel_core.errors import AuditError
from unity_llm_bridge.config import BridgeSettings
from unity_llm_bridge.routing import Message, messages_tokens

_LOG = logging.getLogger('unity_kernel.llm_bridge')
MAX_ENTRY_BYTES = MAX_DOCUMENT_BYTES
"""Largest exchange read back from Redis (1 MiB)."""
MAX_READ_BYTES = 16 * MAX_ENTRY_BYTES
"""Most bytes of memory read back for one request (the newest exchanges first)."""
ROLES = ('user', 'assistant')
"""The roles an exchange in memory may hold (the system prompt comes from the config)."""
_NEWEST = """
local items = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[1]), -1)
local out, total = {}, 0
for i = #items, 1, -1 do
  local size = string.len(items[i])
  if size > tonumber(ARGV[2]) then
    out[#out + 1] = '#' .. size
  elseif total + size > tonumber(ARGV[3]) then
    break
  else
    total = total + size
    out[#out + 1] = items[i]
  end
end
return out
"""
"""Run by Redis: the newest ``ARGV[1]`` entries, newest first, bounded (``#<size>`` for one
too large to send), so the bridge never receives more than it reads."""


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
        self._warned: Set[str] = set()

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
        raw = self._redis.eval(_NEWEST, 1, self.key(route), max_events, MAX_ENTRY_BYTES,
                               MAX_READ_BYTES)
        out = []
        for item in reversed(raw if isinstance(raw, list) else []):
            try:
                out.append(parse_exchange(item))
            except ValueError as exc:  # someone else wrote into our list: skip, say so
                if route not in self._warned:
                    self._warned.add(route)
                    _LOG.warning('memory of route %s (%s): skipping an entry that is not an '
                                 'exchange (%s); further ones are skipped silently', route,
                                 self.key(route), exc)
        return out

    def close(self) -> None:
        self._redis.close()


def parse_exchange(raw: 'str | bytes') -> List[Message]:
    """
    Return the messages of one exchange read back from Redis; ValueError saying why not.

    ``raw``: a JSON list of ``{"role": "user"|"assistant", "content": text}`` objects (at
    most :data:`MAX_ENTRY_BYTES`), or the ``#<size>`` left by the script for a larger one.
    """
    if isinstance(raw, bytes) and raw.startswith(b'#') or \
            isinstance(raw, str) and raw.startswith('#'):
        size = raw[1:].decode('ascii', 'replace') if isinstance(raw, bytes) else raw[1:]
        raise ValueError(f'an entry of {size} bytes: larger than {MAX_ENTRY_BYTES}')
    exchange = loads_json(raw, max_bytes=MAX_ENTRY_BYTES)
    if not isinstance(exchange, list) or not exchange:
        raise ValueError('not a JSON list of messages')
    for message in exchange:
        if not isinstance(message, dict) or set(message) != {'role', 'content'}:
            raise ValueError('a message is not {"role", "content"}')
        if message['role'] not in ROLES or not isinstance(message['content'], str):
            raise ValueError(f'a message of role {str(message["role"])[:20]!r}: expected '
                             f'{" or ".join(ROLES)} with text')
    return [{'role': m['role'], 'content': m['content']} for m in exchange]


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
    if cluster is None:  # read as the kernel reads it (a word pydantic takes for a bool)
        raw = env.get('UNITY_REDIS_CLUSTER', '').strip()
        try:
            cluster = TypeAdapter(bool).validate_python(raw) if raw else False
        except ValidationError:
            raise AuditError(f'UNITY_REDIS_CLUSTER={raw!r}: expected true or false') from None
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
