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
``hiredis.pack_command`` (C), the batch is joined into one ``bytes``, written with one
``sendall`` on a connection of its own, and the replies are parsed by a ``hiredis.Reader``
straight from the socket. Only public interfaces are used: redis-py's exception classes and
what a client's connection pool was configured with (``connection_class`` and
``connection_kwargs``), and hiredis.

The connection (:class:`BatchConnection`, one per client, made at its first batch) reaches
the server the way the client's own connections do: TCP (``TCP_NODELAY``, keepalive) or a
unix socket, TLS with the same files and verification (``ssl_*``), the ACL user and password
(``AUTH``), the database (``SELECT``), the connect and socket timeouts (redis-py's default of
5 s when the client has none). It speaks RESP2; the replies to the commands sent here are the
same in RESP3.

The result is what ``Pipeline.execute(raise_on_error=False)`` returns for the same commands:
one reply per command, an error reply as the exception redis-py makes of it (the class by
the reply's error code, as redis-py's table has it: :func:`reply_error`). A connection that
fails in the middle (socket error, timeout, closed by the server) is closed (the next batch
makes a fresh one) and the error raised as redis-py raises it (:class:`redis.ConnectionError`,
:class:`redis.TimeoutError`): which commands of the batch Redis applied is then unknown, as
with a pipeline.
"""

import socket
import ssl
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type
import weakref

import hiredis
import redis
from redis import exceptions

pack_command: Callable[[Tuple[Any, ...]], bytes] = hiredis.pack_command
"""Return the RESP bytes of one command (a tuple of str, bytes, int or float arguments)."""

_READ_SIZE = 65536
_DEFAULT_TIMEOUT_S = 5.0
"""redis-py's socket and connect timeout when a client was made without one."""

_BY_CODE: Dict[str, Type[exceptions.RedisError]] = {
    'OOM': exceptions.OutOfMemoryError, 'WRONGPASS': exceptions.AuthenticationError,
    'EXECABORT': exceptions.ExecAbortError, 'LOADING': exceptions.BusyLoadingError,
    'NOSCRIPT': exceptions.NoScriptError, 'READONLY': exceptions.ReadOnlyError,
    'NOAUTH': exceptions.AuthenticationError, 'NOPERM': exceptions.NoPermissionError,
    'ASK': exceptions.AskError, 'TRYAGAIN': exceptions.TryAgainError,
    'MOVED': exceptions.MovedError, 'CLUSTERDOWN': exceptions.ClusterDownError,
    'CROSSSLOT': exceptions.ClusterCrossSlotError, 'MASTERDOWN': exceptions.MasterDownError}
"""Error replies by their code, as redis-py's parser maps them."""
_ERR_BY_MESSAGE: Dict[str, Type[exceptions.RedisError]] = {
    'max number of clients reached': exceptions.ConnectionError,
    'invalid password': exceptions.AuthenticationError,
    "wrong number of arguments for 'auth' command":
        exceptions.AuthenticationWrongNumberOfArgsError,
    "wrong number of arguments for 'AUTH' command":
        exceptions.AuthenticationWrongNumberOfArgsError,
    'AUTH <password> called without any password configured for the default user. Are you '
    'sure your configuration is correct?': exceptions.AuthenticationError,
    'Client sent AUTH, but no password is set': exceptions.AuthenticationError}
"""``ERR`` replies that redis-py makes another exception of than ``ResponseError``."""

_CERT_REQS = {'none': ssl.CERT_NONE, 'optional': ssl.CERT_OPTIONAL,
              'required': ssl.CERT_REQUIRED}
_SSL_OPTIONS = frozenset(('ssl_keyfile', 'ssl_certfile', 'ssl_cert_reqs', 'ssl_ca_certs',
                          'ssl_ca_path', 'ssl_ca_data', 'ssl_check_hostname', 'ssl_password',
                          'ssl_min_version', 'ssl_ciphers'))


def reply_error(text: str) -> exceptions.RedisError:
    """Return the exception redis-py makes of an error reply (``CODE message``)."""
    code, _sep, message = text.partition(' ')
    if code == 'ERR':
        return _ERR_BY_MESSAGE.get(message, exceptions.ResponseError)(message, status_code=code)
    kind = _BY_CODE.get(code)
    if kind is None:
        return exceptions.ResponseError(text)
    return kind(message, status_code=code)


class BatchConnection:
    """One connection for batches to the server a client reaches (closed on any failure)."""

    def __init__(self, pool: 'redis.ConnectionPool') -> None:
        self._kind = pool.connection_class
        self._options: Dict[str, Any] = dict(pool.connection_kwargs)
        self._sock: Optional[socket.socket] = None
        self._lock = threading.Lock()

    def execute(self, request: bytes, count: int) -> List[Any]:
        """Write ``request`` (``count`` packed commands), return their ``count`` replies."""
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = self._connect()
                self._sock.sendall(request)
                return self._read(self._sock, count)
            except BaseException as exc:  # whatever happened, the stream is out of step now
                self.close()
                if isinstance(exc, socket.timeout):
                    raise redis.TimeoutError('Timeout reading from socket') from None
                if isinstance(exc, OSError):
                    raise redis.ConnectionError(f'Error while reading from socket: {exc}') \
                        from None
                raise

    def close(self) -> None:
        """Close the socket (the next batch connects again)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    @staticmethod
    def _read(sock: socket.socket, count: int) -> List[Any]:
        reader = hiredis.Reader(protocolError=exceptions.InvalidResponse,
                                replyError=reply_error)
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
            raise exceptions.InvalidResponse(f'{len(replies)} replies to {count} commands')
        return replies

    # -- connecting, as the client's own connections do --------------------------------------

    def _connect(self) -> socket.socket:
        options = self._options
        connect_timeout = options.get('socket_connect_timeout', _DEFAULT_TIMEOUT_S)
        try:
            if 'path' in options:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.settimeout(connect_timeout)
                    sock.connect(options['path'])
                except OSError:
                    sock.close()
                    raise
            else:
                sock = self._connect_tcp(connect_timeout)
        except socket.timeout:
            raise redis.TimeoutError('Timeout connecting to server') from None
        except OSError as exc:
            raise redis.ConnectionError(f'Error connecting to {self._where()}: {exc}') \
                from None
        try:
            sock.settimeout(options.get('socket_timeout', _DEFAULT_TIMEOUT_S))
            self._handshake(sock)
        except BaseException:
            sock.close()
            raise
        return sock

    def _where(self) -> str:
        options = self._options
        return str(options.get('path') or f"{options.get('host')}:{options.get('port')}")

    def _connect_tcp(self, timeout: Optional[float]) -> socket.socket:
        options = self._options
        host, port = options.get('host', 'localhost'), int(options.get('port', 6379))
        sock = socket.create_connection((host, port), timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if options.get('socket_keepalive', True):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                extra = options.get('socket_keepalive_options')
                for key, value in (extra.items() if isinstance(extra, dict) else ()):
                    sock.setsockopt(socket.IPPROTO_TCP, key, value)
            if issubclass(self._kind, redis.SSLConnection):
                return self._tls_context().wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        return sock

    def _tls_context(self) -> ssl.SSLContext:
        """Return the TLS context redis-py's ``SSLConnection`` makes of the same options."""
        options = self._options
        unknown = sorted(k for k in options if k.startswith('ssl_') and k not in _SSL_OPTIONS
                         and options[k])
        if unknown:
            raise redis.ConnectionError(f'TLS options not supported for batches: {unknown}')
        reqs = options.get('ssl_cert_reqs', 'required')
        cert_reqs = ssl.CERT_NONE if reqs is None else (
            _CERT_REQS[reqs] if isinstance(reqs, str) else ssl.VerifyMode(reqs))
        context = ssl.create_default_context()
        context.check_hostname = bool(options.get('ssl_check_hostname', True)) and \
            cert_reqs != ssl.CERT_NONE
        context.verify_mode = cert_reqs
        certfile = options.get('ssl_certfile')
        if certfile:
            context.load_cert_chain(certfile=certfile, keyfile=options.get('ssl_keyfile'),
                                    password=options.get('ssl_password'))
        ca = (options.get('ssl_ca_certs'), options.get('ssl_ca_path'),
              options.get('ssl_ca_data'))
        if any(x is not None for x in ca):
            context.load_verify_locations(cafile=ca[0], capath=ca[1], cadata=ca[2])
        if options.get('ssl_min_version') is not None:
            context.minimum_version = options['ssl_min_version']
        if options.get('ssl_ciphers'):
            context.set_ciphers(options['ssl_ciphers'])
        return context

    def _handshake(self, sock: socket.socket) -> None:
        """Authenticate and select the database, as the client's connections do."""
        options = self._options
        username, password = options.get('username'), options.get('password')
        provider = options.get('credential_provider')
        if provider is not None:
            credentials = provider.get_credentials()
            username, password = (None, credentials[0]) if len(credentials) == 1 \
                else credentials
        commands: List[Tuple[Any, ...]] = []
        if password is not None:
            commands.append(('AUTH', username, password) if username else ('AUTH', password))
        if int(options.get('db') or 0):
            commands.append(('SELECT', int(options['db'])))
        if not commands:
            return
        sock.sendall(b''.join(pack_command(c) for c in commands))
        for reply in self._read(sock, len(commands)):
            if isinstance(reply, Exception):
                raise reply


_connections: 'weakref.WeakKeyDictionary[redis.Redis, BatchConnection]' = \
    weakref.WeakKeyDictionary()
_connections_lock = threading.Lock()


def _connection(client: 'redis.Redis') -> BatchConnection:
    with _connections_lock:
        conn = _connections.get(client)
        if conn is None:
            conn = _connections[client] = BatchConnection(client.connection_pool)
            weakref.finalize(client, conn.close)
        return conn


def execute_packed(client: 'redis.Redis', packed: Sequence[bytes],
                   count: Optional[int] = None) -> List[Any]:
    """
    Send the packed commands in one write and return their replies, in order.

    ``count``: how many commands ``packed`` holds (default: one per item; a native packer's
    item holds many). Error replies are returned as exceptions (as
    ``Pipeline.execute(raise_on_error=False)`` does); a failing connection raises
    :class:`redis.ConnectionError` or :class:`redis.TimeoutError` after it was closed.
    """
    if not packed:
        return []
    return _connection(client).execute(b''.join(packed),
                                       len(packed) if count is None else count)


def disconnect(client: 'redis.Redis') -> None:
    """Close the batch connection of ``client`` (if it has one)."""
    with _connections_lock:
        conn = _connections.pop(client, None)
    if conn is not None:
        conn.close()
