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
The Foxglove WebSocket server edge: sockets, handshake, per-client priority senders.

An asyncio event loop on a thread of its own runs ``websockets``; each client has an
``Outbox`` (one queue per tier) and one sender task that always writes the most urgent
pending message. Producers on other threads (``send``, ``add_channel``, ``status``...) only
append to outboxes and wake an idle sender with one ``call_soon_threadsafe``; they never
wait for a socket, so a slow client costs neither the kernel nor other clients.

The transport's write buffer is kept small (``write_limit``) and so is the socket's send
buffer (``send_buffer_bytes``): what a CRITICAL message can wait for, once it is the most
urgent pending message, is the rest of the one frame being written plus at most the send
buffer. ROS-free: what a service call, a parameter or a client's message means is the
``Handlers`` object's business (``foxglove_server.FoxgloveServer`` for the kernel).
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
from unity_kernel_core.live import protocol
from unity_kernel_core.live.delivery import access
from unity_kernel_core.live.outbox import Item, Outbox, Push
from unity_kernel_core.live.protocol import (ChannelInfo, ClientChannel, Graph, ProtocolError,
                                             ServiceInfo, StatusLevel)

_LOG = logging.getLogger('unity_kernel.live.foxglove')
CLOSE_POLICY = 1008
#: websockets' own logger: never below INFO, as its debug lines hold request paths (tokens).
_WS_LOG = logging.getLogger('unity_kernel.live.foxglove.ws')
_WS_LOG.setLevel(logging.INFO)
#: The transport's write buffer: high-water mark (bytes) above which ``send`` waits.
WRITE_LIMIT = 4096


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """Where and how to serve."""

    host: str
    port: int
    name: str = 'unity_kernel'
    depth: int = 64                     # per-client queue depth of each non-CRITICAL tier
    critical_limit: int = 1024          # CRITICAL/control messages pending before disconnect
    send_buffer_bytes: int = 262144     # SO_SNDBUF per client socket (0: the OS default)
    token: Optional[str] = None
    loopback: bool = True
    tls: Optional[Tuple[str, str]] = None   # certificate and key files (PEM)
    client_publish: bool = False


@dataclasses.dataclass(frozen=True)
class Service:
    """A service the server offers: JSON in, JSON out, answered by ``handler``."""

    name: str
    type_name: str
    request_schema: str
    response_schema: str
    handler: Callable[[bytes], bytes]
    mutating: bool = True


class Handlers:
    """What the server asks its owner; the defaults offer nothing (override what you serve)."""

    parameters = False
    connection_graph = False

    def get_parameters(self, names: List[str]) -> List[Tuple[str, Any]]:
        """Return ``(name, value)`` of the parameters named (all when ``names`` is empty)."""
        return []

    def set_parameters(self, values: List[Tuple[str, Any]]) -> Tuple[List[Tuple[str, Any]],
                                                                     List[str]]:
        """Set parameters; return their values now and a warning per refused one."""
        return [], [f'parameter {name!r} not set: no parameters here' for name, _ in values]

    def client_advertise(self, client_id: int, channel: ClientChannel) -> Optional[str]:
        """Accept a client channel (return None) or say why not."""
        return 'client publishing is not offered'

    def client_unadvertise(self, client_id: int, channel_id: int) -> None:
        """Forget a client channel."""

    def client_message(self, client_id: int, channel_id: int, data: bytes) -> bool:
        """Take a client's message; return False when its channel was not accepted."""
        return False


@dataclasses.dataclass(eq=False)
class _Client:
    client_id: int
    address: str
    ws: ServerConnection
    outbox: Outbox
    authorized: bool
    wake: asyncio.Event
    subscriptions: Dict[int, int] = dataclasses.field(default_factory=dict)  # sub -> channel
    channels: Dict[int, ClientChannel] = dataclasses.field(default_factory=dict)
    graph_sent: Optional[Graph] = None
    graph_subscribed: bool = False
    sender: Optional['asyncio.Task[None]'] = None


class WsServer:
    """A Foxglove protocol server on its own thread (``start`` binds, ``stop`` ends it)."""

    def __init__(self, options: ServerOptions, handlers: Optional[Handlers] = None,
                 services: Sequence[Service] = ()) -> None:
        self.options = options
        self.handlers = handlers or Handlers()
        self._services = dict(enumerate(services, start=1))
        self._channels: Dict[int, ChannelInfo] = {}
        # channel id -> ((client, subscription id), ...), replaced whole (read without a lock)
        self._subscribers: Dict[int, Tuple[Tuple[_Client, int], ...]] = {}
        self._clients: Dict[int, _Client] = {}
        self._graph: Optional[Graph] = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._client_ids = itertools.count(1)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stopping: Optional[asyncio.Event] = None
        self._thread: Optional[threading.Thread] = None
        self._calls = concurrent.futures.ThreadPoolExecutor(1, 'foxglove-calls')
        self._session = str(time.time_ns())
        self.port = 0
        self.refused_mutations = 0
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
        context.load_cert_chain(*self.options.tls)
        return context

    async def _main(self, ready: 'concurrent.futures.Future[int]') -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        async with serve(self._serve, self.options.host, self.options.port,
                         subprotocols=list(protocol.SUBPROTOCOLS),  # type: ignore[arg-type]
                         process_request=self._check_request, ssl=self._ssl_context(),
                         compression=None, max_size=16 * 2**20, write_limit=(WRITE_LIMIT, 0),
                         logger=_WS_LOG,
                         server_header=None) as server:
            ready.set_result(list(server.sockets)[0].getsockname()[1])
            await self._stopping.wait()
            for client in list(self._clients.values()):
                client.outbox.close()
                client.ws.transport.abort()

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
        caps = []
        if self._services:
            caps.append('services')
        if self.handlers.parameters:
            caps.append('parameters')
        if self.handlers.connection_graph:
            caps.append('connectionGraph')
        if self.options.client_publish:
            caps.append('clientPublish')
        return caps

    # -- channels (any thread) ---------------------------------------------------------------

    def add_channel(self, topic: str, encoding: str, schema_name: str, schema: str,
                    schema_encoding: Optional[str] = None) -> int:
        """Advertise a channel to every client; return its id."""
        with self._lock:
            channel = ChannelInfo(next(self._ids), topic, encoding, schema_name, schema,
                                  schema_encoding)
            self._channels[channel.channel_id] = channel
            clients = list(self._clients.values())
        text = protocol.advertise([channel])
        for client in clients:
            self._push(client, text, Tier.CRITICAL)
        return channel.channel_id

    def remove_channel(self, channel_id: int) -> None:
        """Withdraw a channel (its subscriptions end)."""
        with self._lock:
            if self._channels.pop(channel_id, None) is None:
                return
            for client, sub_id in self._subscribers.pop(channel_id, ()):
                client.subscriptions.pop(sub_id, None)
            clients = list(self._clients.values())
        text = protocol.unadvertise([channel_id])
        for client in clients:
            self._push(client, text, Tier.CRITICAL)

    def has_subscribers(self, channel_id: int) -> bool:
        """Return True when a client subscribed to the channel."""
        return bool(self._subscribers.get(channel_id))

    def send(self, channel_id: int, payload: bytes, log_time_ns: int, tier: Tier) -> int:
        """Queue one message for every subscriber of the channel; return how many."""
        subscribers = self._subscribers.get(channel_id)
        if not subscribers:
            return 0
        for client, sub_id in subscribers:
            self._push(client, protocol.message_data(sub_id, log_time_ns, payload), tier)
        return len(subscribers)

    def status(self, level: StatusLevel, message: str, client_id: Optional[int] = None) -> None:
        """Send a status message to one client, or to all."""
        text = protocol.status(level, message)
        for client in self._targets(client_id):
            self._push(client, text, Tier.CRITICAL)

    @property
    def graph_wanted(self) -> bool:
        """Return True when a client subscribed to the connection graph."""
        return any(c.graph_subscribed for c in list(self._clients.values()))

    def publish_graph(self, graph: Graph) -> None:
        """Send what changed in the connection graph to the clients that subscribed to it."""
        self._graph = graph
        for client in self._targets(None):
            if client.graph_subscribed and client.graph_sent != graph:
                self._push(client, protocol.connection_graph_update(graph, client.graph_sent),
                           Tier.CRITICAL)
                client.graph_sent = graph

    def clients(self) -> List[Dict[str, Any]]:
        """Return each client's address, subscriptions and outbox counts (drops per tier)."""
        return [{'id': c.client_id, 'address': c.address, 'subscriptions': len(c.subscriptions),
                 **c.outbox.stats()} for c in self._targets(None)]

    def _targets(self, client_id: Optional[int]) -> List[_Client]:
        with self._lock:
            if client_id is None:
                return list(self._clients.values())
            client = self._clients.get(client_id)
            return [client] if client is not None else []

    def _push(self, client: _Client, item: Item, tier: Tier) -> None:
        result = client.outbox.push(item, tier)
        if result is Push.QUEUED or result is Push.CLOSED:
            return
        loop = self._loop
        if loop is None:
            return
        try:
            if result is Push.WAKE:
                loop.call_soon_threadsafe(client.wake.set)
            else:
                loop.call_soon_threadsafe(self._overflowed, client)
        except RuntimeError:  # the loop is closing: the client goes with it
            pass

    # -- connections (event loop) ------------------------------------------------------------

    def _given_token(self, request: Request) -> Optional[str]:
        tokens = parse_qs(urlsplit(request.path).query).get('token')
        if tokens:
            return tokens[0]
        auth = request.headers.get('Authorization', '')
        return auth[7:].strip() if auth.lower().startswith('bearer ') else None

    def _check_request(self, connection: ServerConnection, request: Request) -> \
            Optional[Response]:
        why = access(self.options.token, self._given_token(request), False,
                     self.options.loopback)
        if why is None:
            return None
        _LOG.warning('foxglove connection from %s refused: %s',
                     _address(connection), why)
        return connection.respond(http.HTTPStatus.UNAUTHORIZED, why + '\n')

    async def _serve(self, ws: ServerConnection) -> None:
        raw = ws.transport.get_extra_info('socket')
        if raw is not None and self.options.send_buffer_bytes:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.options.send_buffer_bytes)
        given = self._given_token(ws.request) if ws.request is not None else None
        client = _Client(
            next(self._client_ids), _address(ws), ws,
            Outbox(self.options.depth, self.options.critical_limit),
            access(self.options.token, given, True, self.options.loopback) is None,
            asyncio.Event())
        with self._lock:
            self._clients[client.client_id] = client
            channels = list(self._channels.values())
        _LOG.info('foxglove client %d connected from %s', client.client_id, client.address)
        self._push(client, protocol.server_info(
            self.options.name, self.capabilities, ['json', 'cdr'], self._session), Tier.CRITICAL)
        if channels:
            self._push(client, protocol.advertise(channels), Tier.CRITICAL)
        if self._services:
            self._push(client, protocol.advertise_services(
                [self._service_info(i, s) for i, s in self._services.items()]), Tier.CRITICAL)
        client.sender = asyncio.create_task(self._sender(client))
        try:
            async for message in ws:
                try:
                    await self._handle(client, message)
                except ProtocolError as exc:
                    self.status(StatusLevel.ERROR, str(exc), client.client_id)
        except ConnectionClosed:
            pass
        finally:
            await self._forget(client)

    async def _forget(self, client: _Client) -> None:
        with self._lock:
            self._clients.pop(client.client_id, None)
            for channel_id in client.subscriptions.values():
                if channel_id in self._subscribers:
                    self._subscribers[channel_id] = tuple(
                        s for s in self._subscribers[channel_id] if s[0] is not client)
        client.outbox.close()
        if client.sender is not None:
            client.sender.cancel()
        for channel_id in list(client.channels):
            await self._call(self.handlers.client_unadvertise, client.client_id, channel_id)
        _LOG.info('foxglove client %d disconnected (%s)', client.client_id, client.outbox.stats())

    async def _sender(self, client: _Client) -> None:
        try:
            while True:
                item = client.outbox.pop()
                if item is None:
                    await client.wake.wait()
                    client.wake.clear()
                    continue
                await client.ws.send(item)
        except ConnectionClosed:
            pass

    def _overflowed(self, client: _Client) -> None:
        asyncio.ensure_future(self._disconnect(client, client.outbox.failed or 'outbox full'))

    async def _disconnect(self, client: _Client, reason: str) -> None:
        self.disconnected += 1
        _LOG.warning('foxglove client %d (%s) disconnected: %s', client.client_id, client.address,
                     reason)
        if client.sender is not None:
            client.sender.cancel()
        ws = client.ws
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

    # -- client requests (event loop) --------------------------------------------------------

    async def _handle(self, client: _Client, message: Any) -> None:
        if isinstance(message, (bytes, bytearray, memoryview)):
            await self._binary(client, bytes(message))
            return
        msg = protocol.parse_text(message)
        op = msg['op']
        if op == 'subscribe':
            self._subscribe(client, protocol.subscriptions(msg))
        elif op == 'unsubscribe':
            self._unsubscribe(client, protocol.subscription_ids(msg))
        elif op == 'advertise':
            await self._client_advertise(client, protocol.client_channels(msg))
        elif op == 'unadvertise':
            for channel_id in protocol.channel_ids(msg):
                if client.channels.pop(channel_id, None) is not None:
                    await self._call(self.handlers.client_unadvertise, client.client_id,
                                     channel_id)
        elif op == 'getParameters' and self.handlers.parameters:
            values = await self._call(self.handlers.get_parameters,
                                      protocol.parameter_names(msg))
            self._push(client, protocol.parameter_values(values, protocol.request_id(msg)),
                       Tier.CRITICAL)
        elif op == 'setParameters' and self.handlers.parameters:
            settings = protocol.parameter_settings(msg)
            if not self._may_mutate(client, 'setting parameters'):
                values = await self._call(self.handlers.get_parameters,
                                          [n for n, _ in settings])
            else:
                values, warnings = await self._call(self.handlers.set_parameters, settings)
                for warning in warnings:
                    self.status(StatusLevel.WARNING, warning, client.client_id)
            self._push(client, protocol.parameter_values(values, protocol.request_id(msg)),
                       Tier.CRITICAL)
        elif op == 'subscribeConnectionGraph' and self.handlers.connection_graph:
            client.graph_subscribed = True
            client.graph_sent = None
            if self._graph is not None:
                self.publish_graph(self._graph)
        elif op == 'unsubscribeConnectionGraph':
            client.graph_subscribed = False
        elif op in ('subscribeParameterUpdates', 'unsubscribeParameterUpdates'):
            self.status(StatusLevel.WARNING, f'{op}: parameter updates are not offered',
                        client.client_id)
        else:
            raise ProtocolError(f'unsupported op {op!r}')

    def _may_mutate(self, client: _Client, what: str) -> bool:
        if client.authorized:
            return True
        self.refused_mutations += 1
        self.status(StatusLevel.ERROR, f'{what} refused: missing or wrong token (connect with '
                    '?token=... or an Authorization: Bearer header)', client.client_id)
        return False

    def _subscribe(self, client: _Client, pairs: List[Tuple[int, int]]) -> None:
        for sub_id, channel_id in pairs:
            with self._lock:
                if channel_id not in self._channels:
                    why = f'subscribe: no channel {channel_id}'
                elif sub_id in client.subscriptions:
                    why = f'subscribe: subscription id {sub_id} is in use'
                elif channel_id in client.subscriptions.values():
                    why = f'subscribe: already subscribed to channel {channel_id}'
                else:
                    why = None
                    client.subscriptions[sub_id] = channel_id
                    self._subscribers[channel_id] = \
                        self._subscribers.get(channel_id, ()) + ((client, sub_id),)
            if why is not None:
                self.status(StatusLevel.WARNING, why, client.client_id)

    def _unsubscribe(self, client: _Client, sub_ids: List[int]) -> None:
        with self._lock:
            for sub_id in sub_ids:
                channel_id = client.subscriptions.pop(sub_id, None)
                if channel_id in self._subscribers:
                    self._subscribers[channel_id] = tuple(
                        s for s in self._subscribers.get(channel_id, ())
                        if not (s[0] is client and s[1] == sub_id))

    async def _client_advertise(self, client: _Client, channels: List[ClientChannel]) -> None:
        for channel in channels:
            if not self.options.client_publish:
                why: Optional[str] = 'client publishing is off (live.client_publish: false)'
            elif not self._may_mutate(client, f'publishing on {channel.topic}'):
                continue
            else:
                why = await self._call(self.handlers.client_advertise, client.client_id, channel)
            if why is None:
                client.channels[channel.channel_id] = channel
            else:
                self.status(StatusLevel.ERROR, f'publishing on {channel.topic} refused: {why}',
                            client.client_id)

    async def _binary(self, client: _Client, frame: bytes) -> None:
        request = protocol.parse_binary(frame)
        if isinstance(request, protocol.ClientMessage):
            if request.channel_id in client.channels:
                await self._call(self.handlers.client_message, client.client_id,
                                 request.channel_id, request.data)
            return
        service = self._services.get(request.service_id)
        if service is None:
            self._push(client, protocol.service_call_failure(
                request.service_id, request.call_id, f'no service {request.service_id}'),
                Tier.CRITICAL)
            return
        if service.mutating and not client.authorized:
            self.refused_mutations += 1
            self._push(client, protocol.service_call_failure(
                request.service_id, request.call_id,
                f'{service.name}: missing or wrong token'), Tier.CRITICAL)
            return
        answer = await self._call(service.handler, request.payload)
        self._push(client, protocol.service_call_response(
            request.service_id, request.call_id, 'json', answer), Tier.CRITICAL)

    @staticmethod
    def _service_info(service_id: int, service: Service) -> ServiceInfo:
        return ServiceInfo(service_id, service.name, service.type_name,
                           service.type_name + '_Request', service.request_schema,
                           service.type_name + '_Response', service.response_schema)


def _address(connection: ServerConnection) -> str:
    try:
        host, port = connection.remote_address[:2]
    except (TypeError, ValueError):
        return '?'
    return f'{host}:{port}'
