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
The writer's batch as one RESP write (audit/resp.py) against a real redis-server, no ROS.

What redis-py's XADD would write, a resent batch refused as duplicates, an entry refused in
the middle of a batch, and a connection cut in the middle of a batch (journaled, then
drained: every entry once, in order).
"""

import socket
import threading
import time
from typing import List

import pytest
import redis

from unity_kernel_core.audit.batch_writer import BatchWriter
from unity_kernel_core.audit.journal import Journal
from unity_kernel_core.audit.mirror import MirrorWriter
from unity_kernel_core.audit.record import event_fields, StreamEntry, StreamKeys
from unity_kernel_core.audit.redis_connection import connect
from unity_kernel_core.audit.resp import execute_packed, pack_command
from unity_kernel_core.config.kernel_config import parse_config

pytestmark = pytest.mark.redis

RULES = ('topics:\n'
         '  - {pattern: /short, tier: NORMAL, retention_maxlen: 100}\n'
         '  - {pattern: /**, tier: NORMAL}\n')


def make_writer(tmp_path, url):
    config = parse_config(f'redis: {{url: "{url}", batch_size: 500, reconnect_interval_ms: 50}}'
                          f'\n{RULES}')
    journal = Journal(tmp_path / 'journal', config.redis.journal_max_bytes)
    return MirrorWriter(BatchWriter(config.redis, config.routes, StreamKeys('unity'), journal,
                        lambda: connect(config.redis)))


def entries(n: int, topics=('/short', '/a', '/b'), first: int = 1) -> List[StreamEntry]:
    """Entries as the writer makes them, a binary CDR with CR LF and NUL bytes in it."""
    out = []
    for seq in range(first, first + n):
        topic = topics[seq % len(topics)]
        cdr = b'\x00\x01\x00\x00\r\n$3\r\n*' + seq.to_bytes(4, 'little') + b'\x00' * (seq % 7)
        stamp_ns = 1_764_480_000_000_000_000 + seq * 1000
        out.append(StreamEntry(f'unity:topic:{topic}', f'{stamp_ns // 1_000_000}-{seq}',
                               event_fields(topic, 'std_msgs/msg/String', 'NORMAL', seq,
                                            stamp_ns, cdr)))
    return out


def test_a_packed_batch_writes_what_redis_py_xadd_writes(tmp_path, redis_server):
    batch = entries(1500)
    writer = make_writer(tmp_path, redis_server.url)
    writer.prime()
    for first in range(0, len(batch), 500):
        assert writer._send(batch[first:first + 500])
    mirrored = redis.Redis.from_url(redis_server.url)
    reference = redis.Redis.from_url(redis_server.url.replace('/0', '/1'))
    for e in batch:  # the same commands through redis-py's own XADD, into db 1
        maxlen = 100 if e.key.endswith('/short') else None
        reference.xadd(e.key, e.fields, id=e.entry_id, maxlen=maxlen, approximate=True)
    keys = sorted({e.key for e in batch})
    for key in keys:
        assert mirrored.xrange(key) == reference.xrange(key), key
    assert mirrored.xlen('unity:topic:/short') < 500  # MAXLEN ~ 100 trimmed it
    assert sorted(k.decode() for k in mirrored.smembers('unity:streams')) == keys
    assert mirrored.hgetall('unity:meta') == {b'last_id': batch[-1].entry_id.encode(),
                                              b'last_seq': b'1500'}
    snap = writer.snapshot()
    assert snap['written'] == 1500 and snap['duplicates'] == 0 and snap['rejected'] == 0


def test_a_resent_batch_is_refused_as_duplicates_and_written_once(tmp_path, redis_server):
    batch = entries(500, topics=('/a', '/b'))
    writer = make_writer(tmp_path, redis_server.url)
    writer.prime()
    assert writer._send(batch)
    assert writer._send(batch)  # a batch resent after a failure: Redis has every entry
    snap = writer.snapshot()
    assert snap['written'] == 500 and snap['duplicates'] == 500
    client = redis.Redis.from_url(redis_server.url)
    assert sum(client.xlen(k) for k in {e.key for e in batch}) == 500


def test_entries_refused_in_the_middle_of_a_batch_do_not_stop_the_others(
        tmp_path, redis_server):
    client = redis.Redis.from_url(redis_server.url)
    client.set('unity:topic:/wrong', 'not a stream')  # WRONGTYPE for its entries
    batch = entries(300, topics=('/a', '/b', '/wrong'))
    at = next(i for i in range(150, 300) if not batch[i].key.endswith('/wrong'))
    already = batch[at]  # Redis has this one already (a resend after a cut, say)
    client.xadd(already.key, already.fields, id=already.entry_id)
    writer = make_writer(tmp_path, redis_server.url)
    writer.prime()
    assert writer._send(batch)  # refusals are per entry: the batch counts as written
    snap = writer.snapshot()
    wrong = [e for e in batch if e.key.endswith('/wrong')]
    # the entries of its stream up to it are "equal or smaller" than the top: duplicates
    same_key_before = [e for e in batch[:at + 1] if e.key == already.key]
    assert snap['rejected'] == len(wrong) == 100
    assert snap['duplicates'] == len(same_key_before)
    assert snap['written'] == 300 - len(wrong) - len(same_key_before)
    assert not writer.journal.pending
    after = [e.entry_id.encode() for e in batch[at + 1:] if e.key == already.key]
    assert [i for i, _f in client.xrange(already.key)] == [already.entry_id.encode()] + after


class CuttingProxy:
    """A loopback TCP proxy to Redis that cuts the next connection after N request bytes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cut_after = None  # bytes of request to pass on before cutting; None: never
        self.cuts = 0
        self.listener = socket.create_server(('127.0.0.1', 0))
        self.url = f'redis://127.0.0.1:{self.listener.getsockname()[1]}/0'
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _addr = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(('127.0.0.1', self.port))
            threading.Thread(target=self._pipe, args=(client, upstream, True),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False),
                             daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, request: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                limit = self.cut_after if request else None
                if limit is not None and len(data) >= limit:
                    dst.sendall(data[:limit])
                    self.cut_after = None
                    self.cuts += 1
                    time.sleep(0.2)  # let Redis apply what it got before the cut
                    break
                if limit is not None:
                    self.cut_after = limit - len(data)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def test_a_connection_cut_in_the_middle_of_a_batch_journals_it_and_loses_nothing(
        tmp_path, redis_server):
    proxy = CuttingProxy(redis_server.port)
    batch = entries(1000, topics=('/a',))
    writer = make_writer(tmp_path, proxy.url)
    writer.prime()
    writer.write(batch[:100])  # connected, 100 in Redis
    assert writer.snapshot()['written'] == 100
    proxy.cut_after = 40_000  # about half of the next batch of 500 reaches Redis
    writer.write(batch[100:600])
    assert proxy.cuts == 1
    snap = writer.snapshot()
    assert snap['journaled'] == 500 and snap['outages'] == 1 and not writer.connected
    client = redis.Redis.from_url(redis_server.url)
    applied = client.xlen('unity:topic:/a') - 100
    assert 0 < applied < 500  # the cut was in the middle of the batch
    deadline = time.monotonic() + 20
    while (writer.journal.pending or not writer.connected) and time.monotonic() < deadline:
        time.sleep(0.06)  # past reconnect_interval_ms
        writer.write([])  # reconnects and drains the journal
    writer.write(batch[600:])
    snap = writer.snapshot()
    assert not writer.journal.pending and snap['drained'] == 500
    assert snap['duplicates'] == applied  # what Redis had before the cut is refused once
    assert snap['written'] == 1000 - applied  # each entry written once
    ids = [i.decode() for i, _f in client.xrange('unity:topic:/a')]
    assert ids == [e.entry_id for e in batch]
    writer.journal.close()
    proxy.listener.close()


def test_error_replies_are_the_exceptions_redis_py_makes_and_the_connection_stays_usable(
        redis_server):
    client = redis.Redis.from_url(redis_server.url)
    client.set('s', 'x')
    replies = execute_packed(client, [pack_command(('XADD', 's', '1-1', 'f', 'v')),
                                      pack_command(('INCR', 'n')),
                                      pack_command(('XADD', 'k', '0-0', 'f', 'v'))])
    expected = client.pipeline(transaction=False)
    expected.xadd('s', {'f': 'v'}, id='1-1').incr('n').xadd('k', {'f': 'v'}, id='0-0')
    reference = expected.execute(raise_on_error=False)
    assert [type(r) for r in replies] == [type(r) for r in reference]
    assert str(replies[0]) == str(reference[0])
    assert isinstance(replies[0], redis.ResponseError)
    assert 'WRONGTYPE' in str(replies[0])
    assert replies[1] == 1 and reference[1] == 2
    assert str(replies[2]) == str(reference[2])
    assert client.ping()  # the pooled connection was returned in step
