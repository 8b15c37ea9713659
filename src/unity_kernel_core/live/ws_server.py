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
The Foxglove WebSocket server's transport: sockets, handshake, one sender per client.

An asyncio event loop on a thread of its own runs ``websockets``. Each connection becomes a
``registry.Peer`` with an ``Outbox`` (one queue per tier) and one sender task that always
writes the most urgent pending message; what its requests do is the ``dispatch.Dispatcher``'s
business, which channels exist and who is subscribed the ``registry.ChannelRegistry``'s.
Producers on other threads (``send``, ``add_channel``, ``status``...) only append to
outboxes and wake an idle sender with one ``call_soon_threadsafe``; they never wait for a
socket, so a slow client costs neither the kernel nor other clients.

The transport's write buffer is kept small (``write_limit``), and so is what the socket holds
(``send_buffer_bytes``; at most ``NOTSENT_LOWAT`` not yet sent): what a CRITICAL message can
wait for, once it is the most urgent pending message, is the rest of the one frame being
written plus what is already on its way, and a slow client's next frame is the latest one
(its outbox), not one queued in the kernel's socket buffer. Every handshake passes the
``gate`` (token, ``Host``, ``Origin``). ROS-free: what a service call, a parameter or a
client's message means is the ``Handlers`` object's business
(``foxglove_server.FoxgloveServer`` for the kernel).
"""

import asyncio
import concurrent.futures
import dataclasses
import http
import itertools
import logging
import socket
import ssl
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve, ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from unity_kernel_core.bus.events import Tier
from unity_kernel_core.common.credentials import RedactingFilter, refuse_passphrase
from unity_kernel_core.live import protocol
from unity_kernel_core.live.dispatch import Dispatcher, Handlers, Service
from unity_kernel_core.live.gate import Gate, generate_token, Refusal, Visitor
from unity_kernel_core.live.outbox import Outbox, Push
from unity_kernel_core.live.protocol import Graph, ProtocolError, StatusLevel
from unity_kernel_core.live.registry import ChannelRegistry, Peer

__all__ = ['Handlers', 'ServerOptions', 'Service', 'WsServer']

_LOG = logging.getLogger('unity_kernel.live.foxglove')
CLOSE_POLICY = 1008
#: websockets' own logger: never below INFO, as its debug lines hold request paths (tokens);
#: and, should someone lower it anyway, every record's secrets are redacted at the source.
_WS_LOG = logging.getLogger('unity_kernel.live.foxglove.ws')
_WS_LOG.setLevel(logging.INFO)
_WS_LOG.addFilter(RedactingFilter())
#: A client's message (bytes), and the frames buffered ahead of the one being handled.
MAX_MESSAGE = 16 * 2**20
MAX_QUEUE = 4
#: The transport's write buffer: high-water mark (bytes) above which ``send`` waits.
WRITE_LIMIT = 4096
#: Bytes a client's socket may hold not yet sent (``TCP_NOTSENT_LOWAT``): above it the socket
#: takes no more, so what waits for a slow client waits in its outbox, where the most urgent
#: message and the latest frame are chosen, not in the kernel's socket buffer.
NOTSENT_LOWAT = 16384


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """Where and how to serve."""

    host: str
    port: int
    name: str = 'unity_kernel'
    depth: int = 64                     # per-client queue depth of each non-CRITICAL tier
    critical_limit: int = 1024          # CRITICAL/control messages pending before disconnect
    send_buffer_bytes: int = 262144     # SO_SNDBUF per client socket (0: the OS default)
    gate: Optional[Gate] = None          # who may connect and mutate (None: a new token)
    tls: Optional[Tuple[str, str]] = None   # certificate and key files (PEM)
    client_publish: bool = False
    max_clients: int = 32               # connections at once; beyond: HTTP 503 at the handshake


@dataclasses.dataclass(eq=False)
class _Connection:
    """A peer as the transport sees it: its socket, sender task and wake-up event."""

    peer: Peer
    ws: ServerConnection
    wake: asyncio.Event
    sender: Optional['asyncio.Task[None]'] = None


class WsServer:
    """A Foxglove protocol server on its own thread (``start`` binds, ``stop`` ends it)."""

    def __init__(self, options: ServerOptions, handlers: Optional[Handlers] = None,
                 services: Sequence[Service] = ()) -> None:
        self.options = options
        self.gate = options.gate or Gate(generate_token(), bound_host=options.host)
        self.handlers = handlers or Handlers()
        self.registry = ChannelRegistry()
        self.dispatcher = Dispatcher(self.registry, self.handlers, services,
                                     options.client_publish, self._call)
        self._connections: Dict[int, _Connection] = {}
        self._client_ids = itertools.count(1)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stopping: Optional[asyncio.Event] = None
        self._thread: Optional[threading.Thread] = None
        self._calls = concurrent.futures.ThreadPoolExecutor(1, 'foxglove-calls')
        self._session = str(time.time_ns())
        self.port = 0
        self.disconnected = 0

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve on a thread of its own; raise OSError (or ssl.SSLError) on failure."""
        ready: 'concurrent.futures.Future[int]' = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name='foxglove-ws',
                                        daemon=True)
        self._thread.start()
        self.port = ready.result(30)

    def _run(self, ready: 'concurrent.futures.Future[int]') -> None:
        try:
            asyncio.run(self._main(ready))
        except BaseException as exc:  # a bind error before ready: hand it to start()
            if not ready.done():
                ready.set_exception(exc)
            else:
                _LOG.exception('foxglove server stopped on an error')

    def _ssl_context(self) -> Optional[ssl.SSLContext]:
        if self.options.tls is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.options.tls, password=refuse_passphrase)
        return context

    async def _main(self, ready: 'concurrent.futures.Future[int]') -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        async with serve(self._serve, self.options.host, self.options.port,
                         subprotocols=list(protocol.SUBPROTOCOLS),  # type: ignore[arg-type]
                         process_request=self._check_request, ssl=self._ssl_context(),
                         compression=None, max_size=MAX_MESSAGE, max_queue=MAX_QUEUE,
                         write_limit=(WRITE_LIMIT, 0),
                         logger=_WS_LOG,
                         server_header=None) as server:
            ready.set_result(list(server.sockets)[0].getsockname()[1])
            await self._stopping.wait()
            for connection in list(self._connections.values()):
                connection.peer.outbox.close()
                connection.ws.transport.abort()

    def stop(self) -> None:
        """Stop serving and close every connection."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # the loop closed meanwhile
                pass
        if self._thread is not None:
            self._thread.join(5.0)
        self._calls.shutdown(wait=False, cancel_futures=True)

    @property
    def capabilities(self) -> List[str]:
        """Return the capabilities announced in ``serverInfo``."""
        return self.dispatcher.capabilities

    @property
    def refused_mutations(self) -> int:
        """Return how many mutating requests were refused for a missing or wrong token."""
        return self.dispatcher.refused_mutations

    # -- channels and fan-out (any thread): the registry's -----------------------------------

    def add_channel(self, topic: str, encoding: str, schema_name: str, schema: str,
                    schema_encoding: Optional[str] = None, latest_only: bool = False) -> int:
        """Advertise a channel to every client; return its id (``latest_only``: frames)."""
        return self.registry.add_channel(topic, encoding, schema_name, schema, schema_encoding,
                                         latest_only)

    def remove_channel(self, channel_id: int) -> None:
        """Withdraw a channel (its subscriptions end)."""
        self.registry.remove_channel(channel_id)

    def has_subscribers(self, channel_id: int) -> bool:
        """Return True when a client subscribed to the channel."""
        return self.registry.has_subscribers(channel_id)

    def send(self, channel_id: int, payload: bytes, log_time_ns: int, tier: Tier) -> int:
        """Queue one message for every subscriber of the channel; return how many."""
        return self.registry.send(channel_id, payload, log_time_ns, tier)

    def status(self, level: StatusLevel, message: str, client_id: Optional[int] = None) -> None:
        """Send a status message to one client, or to all."""
        self.registry.status(level, message, client_id)

    @property
    def graph_wanted(self) -> bool:
        """Return True when a client subscribed to the connection graph."""
        return self.registry.graph_wanted

    def publish_graph(self, graph: Graph) -> None:
        """Send what changed in the connection graph to the clients that subscribed to it."""
        self.registry.publish_graph(graph)

    def clients(self) -> List[Dict[str, Any]]:
        """Return each client's address, subscriptions and outbox counts (drops per tier)."""
        return self.registry.stats()

    # -- connections (event loop) ------------------------------------------------------------

    def _decide(self, request: Request) -> Tuple[Optional[Refusal], bool]:
        """Return the gate's answer to a handshake: (refusal or None, may it mutate)."""
        values = {}
        for name in ('Host', 'Origin', 'Authorization'):
            found = request.headers.get_all(name)
            if len(found) > 1:
                return Refusal(400, f'{name} header repeated'), False
            values[name] = found[0] if found else None
        tokens = parse_qs(urlsplit(request.path).query).get('token')
        auth = values['Authorization'] or ''
        token = tokens[0] if tokens else (
            auth[7:].strip() if auth[:7].lower() == 'bearer ' else None)
        return self.gate.websocket(Visitor(values['Host'], values['Origin'], token))

    def _check_request(self, connection: ServerConnection, request: Request) -> \
            Optional[Response]:
        refusal, _authorized = self._decide(request)
        if refusal is None and len(self._connections) >= self.options.max_clients:
            refusal = Refusal(503, f'{self.options.max_clients} clients are connected: no more')
        if refusal is None:
            return None
        _LOG.warning('foxglove connection from %s refused: %s',
                     _address(connection), refusal.reason)
        return connection.respond(http.HTTPStatus(refusal.status), refusal.reason + '\n')

    def _notify(self, client_id: int, wake: asyncio.Event) -> Callable[[Push], None]:
        """Return how peer ``client_id`` wakes its sender or is failed (from any thread)."""
        def notify(result: Push) -> None:
            loop = self._loop
            if loop is None:
                return
            try:
                if result is Push.WAKE:
                    loop.call_soon_threadsafe(wake.set)
                else:
                    loop.call_soon_threadsafe(self._overflowed, client_id)
            except RuntimeError:  # the loop is closing: the client goes with it
                pass
        return notify

    async def _serve(self, ws: ServerConnection) -> None:
        raw = ws.transport.get_extra_info('socket')
        if raw is not None and self.options.send_buffer_bytes:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.options.send_buffer_bytes)
        if raw is not None and hasattr(socket, 'TCP_NOTSENT_LOWAT'):  # Linux, macOS
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, NOTSENT_LOWAT)
        authorized = ws.request is not None and self._decide(ws.request)[1]
        client_id, wake = next(self._client_ids), asyncio.Event()
        peer = Peer(client_id, _address(ws),
                    Outbox(self.options.depth, self.options.critical_limit), authorized,
                    self._notify(client_id, wake))
        connection = _Connection(peer, ws, wake)
        self._connections[client_id] = connection
        self.registry.join(peer, protocol.server_info(
            self.options.name, self.capabilities, ['json', 'cdr'], self._session))
        _LOG.info('foxglove client %d connected from %s', peer.client_id, peer.address)
        services = self.dispatcher.advertise_services()
        if services is not None:
            peer.push(services, Tier.CRITICAL)
        connection.sender = asyncio.create_task(self._sender(connection))
        try:
            async for message in ws:
                try:
                    await self.dispatcher.handle(peer, message)
                except ProtocolError as exc:
                    peer.status(StatusLevel.ERROR, str(exc))
                except Exception:  # a defect of ours or of a handler, not of the client's input
                    _LOG.exception('foxglove client %d: a request failed', peer.client_id)
                    peer.status(StatusLevel.ERROR, 'internal error (see the kernel log)')
        except ConnectionClosed:
            pass
        finally:
            await self._forget(connection)

    async def _forget(self, connection: _Connection) -> None:
        peer = connection.peer
        self.registry.leave(peer)
        self._connections.pop(peer.client_id, None)
        peer.outbox.close()
        if connection.sender is not None:
            connection.sender.cancel()
        await self.dispatcher.forget(peer)
        _LOG.info('foxglove client %d disconnected (%s)', peer.client_id, peer.outbox.stats())

    async def _sender(self, connection: _Connection) -> None:
        outbox = connection.peer.outbox
        try:
            while True:
                item = outbox.pop()
                if item is None:
                    await connection.wake.wait()
                    connection.wake.clear()
                    continue
                await connection.ws.send(item)
        except ConnectionClosed:
            pass

    def _overflowed(self, client_id: int) -> None:
        connection = self._connections.get(client_id)
        if connection is not None:
            asyncio.ensure_future(self._disconnect(
                connection, connection.peer.outbox.failed or 'outbox full'))

    async def _disconnect(self, connection: _Connection, reason: str) -> None:
        self.disconnected += 1
        _LOG.warning('foxglove client %d (%s) disconnected: %s', connection.peer.client_id,
                     connection.peer.address, reason)
        if connection.sender is not None:
            connection.sender.cancel()
        ws = connection.ws
        for step in (ws.send(protocol.status(StatusLevel.ERROR, f'disconnected: {reason}')),
                     ws.close(CLOSE_POLICY, 'CRITICAL backlog over the limit')):
            try:  # best effort: a client that reads nothing gets neither
                await asyncio.wait_for(step, 2.0)
            except (asyncio.TimeoutError, ConnectionClosed):
                pass
        ws.transport.abort()

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a handler on the calls thread (in order), off the event loop."""
        assert self._loop is not None
        return await self._loop.run_in_executor(self._calls, fn, *args)


def _address(connection: ServerConnection) -> str:
    try:
        host, port = connection.remote_address[:2]
    except (TypeError, ValueError):
        return '?'
    return f'{host}:{port}'
