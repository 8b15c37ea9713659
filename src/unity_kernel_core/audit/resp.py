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
A batch of Redis commands as one write, its replies read with hiredis (the mirror's hot path).

redis-py's pipeline costs about 4 µs of Python per ``XADD`` (argument checks, packing, one
``read_response`` per reply: docs/performance.md). Here each command is packed by
``hiredis.pack_command`` (C), the batch is joined into one ``bytes`` and written with one
``send_packed_command`` on a connection taken from the client's own pool (so connecting,
AUTH, TLS, unix sockets and the cluster's per-node clients stay redis-py's), and the replies
are parsed by a ``hiredis.Reader`` straight from the socket.

The result is what ``Pipeline.execute(raise_on_error=False)`` returns for the same commands:
one reply per command, an error reply as the exception redis-py makes of it (its own
``parse_error``). A connection that fails in the middle (socket error, timeout, closed by
the server) is disconnected (the next batch gets a fresh one) and the error raised as
redis-py raises it (:class:`redis.ConnectionError`, :class:`redis.TimeoutError`): which
commands of the batch Redis applied is then unknown, as with a pipeline.
"""

import socket
from typing import Any, Callable, List, Sequence, Tuple

import hiredis
import redis
from redis._parsers import BaseParser
from redis.exceptions import InvalidResponse

pack_command: Callable[[Tuple[Any, ...]], bytes] = hiredis.pack_command
"""Return the RESP bytes of one command (a tuple of str, bytes, int or float arguments)."""

_READ_SIZE = 65536


def execute_packed(client: 'redis.Redis', packed: Sequence[bytes]) -> List[Any]:
    """
    Send the packed commands in one write and return their replies, in order.

    Error replies are returned as exceptions (as ``Pipeline.execute(raise_on_error=False)``
    does); a failing connection raises :class:`redis.ConnectionError` or
    :class:`redis.TimeoutError` after it was disconnected.
    """
    if not packed:
        return []
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        return _send_and_read(conn, b''.join(packed), len(packed))
    finally:
        pool.release(conn)


def _send_and_read(conn: Any, request: bytes, count: int) -> List[Any]:
    conn.send_packed_command([request])  # raises (and disconnects) as redis-py does
    try:
        sock = conn._sock  # set by connect(); redis-py's own parser reads from it too
        if sock is None:
            raise redis.ConnectionError('connection closed before the replies were read')
        reader = hiredis.Reader(protocolError=InvalidResponse,
                                replyError=BaseParser.parse_error)
        gets = reader.gets
        replies: List[Any] = []
        append = replies.append
        while True:
            reply = gets()
            while reply is not False:
                append(reply)
                reply = gets()
            if len(replies) >= count:
                break
            data = sock.recv(_READ_SIZE)
            if not data:
                raise redis.ConnectionError('Connection closed by server.')
            reader.feed(data)
        if len(replies) > count:  # more than we asked for: the stream is out of step
            raise InvalidResponse(f'{len(replies)} replies to {count} commands')
        return replies
    except BaseException as exc:  # whatever happened, the connection is out of step now
        conn.disconnect()
        if isinstance(exc, socket.timeout):
            raise redis.TimeoutError('Timeout reading from socket') from None
        if isinstance(exc, OSError):
            raise redis.ConnectionError(f'Error while reading from socket: {exc}') from None
        raise
