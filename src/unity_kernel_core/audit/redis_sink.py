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
The Redis sink: a batch of stream entries as one pipeline of ``XADD`` with explicit IDs.

Per entry an ``XADD`` with its ID and its topic's trimming (:func:`record.trim_args`), an
``SADD`` of a stream key not seen yet, then an ``HSET`` of the meta hash, and in a Redis
Cluster a ``WAIT`` for ``redis.wait_replicas`` replicas: packed by
:mod:`unity_kernel_core.audit.resp` into one write, one round trip.

A batch counts as written when Redis took it: entries it already has are refused ("equal or
smaller" ID) and counted as duplicates, entries it refuses for good (``WRONGTYPE``) as
rejected. When Redis is unreachable, answers with a transient error (``LOADING``, ``OOM``,
``READONLY``, a cluster's ``MOVED``/``TRYAGAIN``...) or too few replicas acknowledged the
batch, :meth:`RedisSink.send` returns False (the caller journals the batch) and the sink is
down until :meth:`RedisSink.ok` reconnects, at most every ``redis.reconnect_interval_ms``.
On each connect the sink reads where the trail stands (the meta hash and the last dead
letter) and hands it to ``on_connect``, so IDs are only ever issued after those in Redis.
"""

import itertools
import logging
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import redis

from unity_kernel_core.audit.counters import WriterCounts
from unity_kernel_core.audit.journal import Journal
from unity_kernel_core.audit.record import (AuditError, parse_id, StreamEntry, StreamKeys,
                                            trim_args)
from unity_kernel_core.audit.redis_connection import (Client, ClusterUnreachable,
                                                      connected_replicas, is_cluster_reply,
                                                      node_for, refresh_slots,
                                                      TRANSIENT_ERRORS)
from unity_kernel_core.audit.resp import disconnect, execute_packed, pack_command
from unity_kernel_core.common.credentials import redact_url
from unity_kernel_core.config.kernel_config import RedisSettings, TopicRoutes

_LOG = logging.getLogger('unity_kernel.mirror')

_DUPLICATE = 'equal or smaller'
_REPLICA_CHECK_S = 5.0

Id = Tuple[int, int]
OnConnect = Callable[[Id, Id, int], None]
"""Called on each connect with the trail's last entry ID, last dead-letter ID and last seq."""


class RedisSink:
    """The Redis edge of one writer: connection state, the batch pipeline, its counters."""

    def __init__(self, settings: RedisSettings, keys: StreamKeys, routes: TopicRoutes,
                 client_factory: Callable[[], Client], counts: WriterCounts,
                 journal: Journal, on_connect: OnConnect) -> None:
        self.settings = settings
        self.keys = keys
        self.routes = routes
        """The topic rules the trimming of each stream comes from."""
        self.url = redact_url(settings.url)
        self._journal = journal  # named in the log lines about connecting and spooling
        self._client_factory = client_factory
        self._counts = counts
        self._on_connect = on_connect
        self._client: Optional[Client] = None
        self._replicas: Optional[int] = None
        self._replicas_checked = 0.0
        self._known_keys: set = set()
        self._nodes: Dict[int, 'redis.Redis'] = {}
        """The node clients batches went to (their batch connections are closed with it)."""
        self._retry_s = settings.reconnect_interval_ms / 1000.0
        self.connected = False
        self._next_attempt = 0.0
        self._down_logged = False

    def close(self) -> None:
        """Close the connections (the client's pool, the batch connections)."""
        for node in self._nodes.values():
            disconnect(node)
        self._nodes.clear()
        if self._client is not None:
            self._client.close()

    # -- connection state --------------------------------------------------------------------

    def try_connect(self) -> bool:
        """Connect (or refresh a cluster's slot map) and read where the trail stands."""
        try:
            if self._client is None:
                self._client = self._client_factory()
            elif self.settings.cluster:
                refresh_slots(self._client)  # a replica may have taken over
            self._replicas = None
            meta: Any = node_for(self._client, self.keys.meta).hgetall(self.keys.meta)
        except TRANSIENT_ERRORS + (redis.ResponseError, ClusterUnreachable) as exc:
            self.set_down(exc)
            return False
        last_id = meta.get(b'last_id')
        last_seq = meta.get(b'last_seq')
        dead: Any = node_for(self._client, self.keys.meta).xrevrange(self.keys.dead_letters,
                                                                     count=1)
        self._on_connect(parse_id(last_id) if last_id else (0, 0),
                         parse_id(dead[0][0]) if dead else (0, 0),
                         int(last_seq) if last_seq and last_seq.isdigit() else 0)
        if not self.connected:
            _LOG.info('mirror connected to Redis at %s%s', self.url,
                      f'; draining {self._journal.pending} journaled entries'
                      if self._journal.pending else '')
        self.connected = True
        return True

    def ok(self) -> bool:
        """Return True when Redis is reachable (reconnecting at most every retry interval)."""
        if self.connected:
            return True
        if time.monotonic() < self._next_attempt:
            return False
        return self.try_connect()

    def set_down(self, exc: BaseException) -> None:
        """Note that Redis failed with ``exc``: journal until the next retry connects."""
        self._counts.last_error = f'{type(exc).__name__}: {exc}'
        if self.connected or not self._down_logged:
            self._down_logged = True
            _LOG.warning('Redis at %s unreachable (%s): spooling to the journal %s', self.url,
                         self._counts.last_error, self._journal.directory)
        if self.connected:
            self._counts.counters['outages'] += 1
        self.connected = False
        self._known_keys.clear()
        self._next_attempt = time.monotonic() + self._retry_s

    # -- sending -----------------------------------------------------------------------------

    def send(self, entries: List[StreamEntry]) -> bool:
        """Write entries in one round trip; return False when Redis failed (nothing is lost)."""
        if not entries:
            return True
        return self._send(lambda wait: self._pack(entries, wait), [e.key for e in entries])

    def head_of(self, topic: str, now_ms: int) -> Tuple[bytes, int, bytes]:
        """
        Return what the native packer puts ahead of ``topic``'s entries.

        The packed ``XADD key <trim args>`` elements (no array header), how many, and the
        ``SADD`` of a stream key not seen yet (or b'') for ahead of its first XADD.
        """
        key = self.keys.topic(topic)
        args = ('XADD', key, *trim_args(self.routes(topic), now_ms))
        packed = pack_command(args)
        extra = b'' if key in self._known_keys else pack_command(('SADD', self.keys.streams,
                                                                  key))
        return packed[packed.index(b'\r\n') + 2:], len(args), extra

    def send_packed(self, xadds: bytes, commands: int, keys: List[str], last_id: str,
                    last_seq: int) -> bool:
        """
        Write a batch of ``commands`` XADDs and SADDs the native packer made.

        As :meth:`send` writes its own (with :meth:`head_of`'s heads): the meta hash, WAIT in
        a cluster, the same counting of the replies.
        """
        def pack(wait: int) -> List[bytes]:
            packed = [xadds, pack_command(('HSET', self.keys.meta, 'last_id', last_id,
                                           'last_seq', str(last_seq)))]
            if wait:
                packed.append(pack_command(('WAIT', wait, self.settings.wait_timeout_ms)))
            return packed
        return self._send(pack, keys, commands + 1)

    def _send(self, pack: Callable[[int], List[bytes]], keys: List[str],
              commands: Optional[int] = None) -> bool:
        assert self._client is not None
        try:  # every key of the trail is in one slot: one node, one pipeline
            node = node_for(self._client, self.keys.meta)
            wait = self._replicas_to_wait(node)
        except TRANSIENT_ERRORS as exc:
            self.set_down(exc)
            return False
        packed = pack(wait)
        # a native batch is one item of many commands: say how many replies come
        count = None if commands is None else commands + (1 if wait else 0)
        self._nodes[id(node)] = node
        try:
            results = execute_packed(node, packed, count)
        except TRANSIENT_ERRORS as exc:
            self.set_down(exc)
            return False
        if wait:
            acked = results.pop()
            if isinstance(acked, int) and acked < wait:
                self._replicas = None
                results.append(AuditError(
                    f'batch reached {acked} of {wait} replica(s) within '
                    f'{self.settings.wait_timeout_ms} ms: kept in the journal'))
            elif not isinstance(acked, int):
                results.append(acked)
        return self._count(keys, results)

    def _pack(self, entries: List[StreamEntry], wait: int) -> List[bytes]:
        """Return the batch's commands, packed (see the module docstring)."""
        now_ms = time.time_ns() // 1_000_000
        packed: List[bytes] = []  # one RESP write for the whole batch (audit/resp.py)
        add = packed.append
        last_event: Optional[StreamEntry] = None
        dead_letters = self.keys.dead_letters
        heads: Dict[str, Tuple[str, ...]] = {dead_letters: (
            'XADD', dead_letters, 'MAXLEN', '~', str(self.settings.dead_letter_maxlen))}
        chain = itertools.chain.from_iterable
        for entry in entries:
            key = entry.key
            head = heads.get(key)
            if head is None:
                head = ('XADD', key, *trim_args(self.routes(str(entry.fields['topic'])), now_ms))
                heads[key] = head
                if key not in self._known_keys:
                    add(pack_command(('SADD', self.keys.streams, key)))
            if key != dead_letters:
                last_event = entry
            add(pack_command((*head, entry.entry_id, *chain(entry.fields.items()))))
        if last_event is not None:
            add(pack_command(('HSET', self.keys.meta, 'last_id', last_event.entry_id,
                              'last_seq', str(last_event.fields['seq']))))
        if wait:
            add(pack_command(('WAIT', wait, self.settings.wait_timeout_ms)))
        return packed

    def _count(self, keys: List[str], results: List[Any]) -> bool:
        """Count the replies; return False (the sink is down) on a transient failure."""
        transient: Optional[Exception] = None
        written = duplicates = rejected = 0
        for result in results:
            if isinstance(result, redis.ResponseError):
                text = str(result)
                if _DUPLICATE in text:
                    duplicates += 1
                elif is_cluster_reply(result):  # a failover or a slot migration: retry
                    transient = result
                elif text.startswith('WRONGTYPE'):
                    rejected += 1
                    self._counts.log_limited('wrongtype', f'Redis refused an entry: {text}')
                else:
                    transient = result
            elif isinstance(result, Exception):
                transient = result
            elif isinstance(result, bytes) and b'-' in result:
                written += 1
        if transient is not None:
            self.set_down(transient)
            return False
        self._known_keys.update(keys)
        counters = self._counts.counters
        counters['written'] += written
        counters['duplicates'] += duplicates
        counters['rejected'] += rejected
        return True

    def _replicas_to_wait(self, node: 'redis.Redis') -> int:
        """Return how many replicas to WAIT for: the setting, at most those connected."""
        wanted = self.settings.replicas_to_wait
        if not wanted:
            return 0
        now = time.monotonic()
        if self._replicas is None or now - self._replicas_checked > _REPLICA_CHECK_S:
            replicas = connected_replicas(node)
            if replicas < wanted and self._replicas != replicas:
                _LOG.warning('the master serving %s has %d replica(s) connected, %d wanted: '
                             'waiting for %d', self.keys.base, replicas, wanted, replicas)
            self._replicas, self._replicas_checked = replicas, now
        return min(wanted, self._replicas)
