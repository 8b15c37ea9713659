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
What a Foxglove client's requests do: op dispatch, services, parameters, client channels.

No sockets: ``Dispatcher.handle`` takes one message of a ``Peer`` (text or binary), decodes
it with ``protocol`` and acts on the ``ChannelRegistry`` or the ``Handlers`` (the server's
owner: what a service call, a parameter or a client's message means); answers go to the
peer's outbox. Handlers run through ``call`` (the transport runs them on a thread of their
own, in order, off the event loop). Mutating requests (service calls other than read-only
ones, parameter writes, client publishing) need an authorized peer.
"""

import dataclasses
from typing import Any, Awaitable, Callable, List, Optional, Sequence, Tuple

from unity_kernel_core.bus.events import Tier
from unity_kernel_core.live import protocol
from unity_kernel_core.live.protocol import ClientChannel, ProtocolError, ServiceInfo, StatusLevel
from unity_kernel_core.live.registry import ChannelRegistry, Peer

#: Channels one client may advertise for publishing (each is a ROS publisher).
MAX_CLIENT_CHANNELS = 64
#: Runs a handler off the event loop: ``await call(fn, *args)``.
Call = Callable[..., Awaitable[Any]]


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


class Dispatcher:
    """Decodes and answers one peer's requests (see the module docstring)."""

    def __init__(self, registry: ChannelRegistry, handlers: Handlers,
                 services: Sequence[Service], client_publish: bool, call: Call) -> None:
        self.registry = registry
        self.handlers = handlers
        self.services = dict(enumerate(services, start=1))
        self.client_publish = client_publish
        self._call = call
        self.refused_mutations = 0

    @property
    def capabilities(self) -> List[str]:
        """Return the capabilities announced in ``serverInfo``."""
        caps = []
        if self.services:
            caps.append('services')
        if self.handlers.parameters:
            caps.append('parameters')
        if self.handlers.connection_graph:
            caps.append('connectionGraph')
        if self.client_publish:
            caps.append('clientPublish')
        return caps

    def advertise_services(self) -> Optional[str]:
        """Return the ``advertiseServices`` message a new peer gets (None: no services)."""
        if not self.services:
            return None
        return protocol.advertise_services(
            [_service_info(i, s) for i, s in self.services.items()])

    async def handle(self, peer: Peer, message: Any) -> None:
        """Act on one message of ``peer``; raise ``ProtocolError`` when it is malformed."""
        if isinstance(message, (bytes, bytearray, memoryview)):
            await self._binary(peer, bytes(message))
            return
        request = protocol.decode_text(message)
        if isinstance(request, protocol.Subscribe):
            for why in self.registry.subscribe(peer, list(request.pairs)):
                peer.status(StatusLevel.WARNING, why)
        elif isinstance(request, protocol.Unsubscribe):
            self.registry.unsubscribe(peer, list(request.subscription_ids))
        elif isinstance(request, protocol.Advertise):
            await self._client_advertise(peer, list(request.channels))
        elif isinstance(request, protocol.Unadvertise):
            for channel_id in request.channel_ids:
                if peer.channels.pop(channel_id, None) is not None:
                    await self._call(self.handlers.client_unadvertise, peer.client_id,
                                     channel_id)
        elif isinstance(request, (protocol.GetParameters, protocol.SetParameters)):
            if not self.handlers.parameters:
                raise ProtocolError('parameters are not offered')
            await self._parameters(peer, request)
        elif request.op in protocol.UNOFFERED_OPS:
            peer.status(StatusLevel.WARNING, f'{request.op}: parameter updates are not offered')
        elif request.op == 'unsubscribeConnectionGraph':
            peer.graph_subscribed = False
        elif self.handlers.connection_graph:  # subscribeConnectionGraph
            self.registry.subscribe_graph(peer)
        else:
            raise ProtocolError('the connection graph is not offered')

    async def forget(self, peer: Peer) -> None:
        """Drop the channels ``peer`` advertised (it disconnected)."""
        for channel_id in list(peer.channels):
            await self._call(self.handlers.client_unadvertise, peer.client_id, channel_id)

    def _may_mutate(self, peer: Peer, what: str) -> bool:
        if peer.authorized:
            return True
        self.refused_mutations += 1
        peer.status(StatusLevel.ERROR, f'{what} refused: missing or wrong token (connect with '
                    '?token=... or an Authorization: Bearer header)')
        return False

    async def _parameters(self, peer: Peer,
                          request: 'protocol.GetParameters | protocol.SetParameters') -> None:
        if isinstance(request, protocol.GetParameters):
            values = await self._call(self.handlers.get_parameters, list(request.names))
        elif not self._may_mutate(peer, 'setting parameters'):
            values = await self._call(self.handlers.get_parameters,
                                      [n for n, _ in request.settings])
        else:
            values, warnings = await self._call(self.handlers.set_parameters,
                                                list(request.settings))
            for warning in warnings:
                peer.status(StatusLevel.WARNING, warning)
        peer.push(protocol.parameter_values(values, request.request_id), Tier.CRITICAL)

    async def _client_advertise(self, peer: Peer, channels: List[ClientChannel]) -> None:
        for channel in channels:
            if not self.client_publish:
                why: Optional[str] = 'client publishing is off (live.client_publish: false)'
            elif not self._may_mutate(peer, f'publishing on {protocol.clip(channel.topic)}'):
                continue
            elif channel.channel_id in peer.channels:
                why = f'channel id {channel.channel_id} is in use'
            elif len(peer.channels) >= MAX_CLIENT_CHANNELS:
                why = f'at most {MAX_CLIENT_CHANNELS} channels per client'
            else:
                why = await self._call(self.handlers.client_advertise, peer.client_id, channel)
            if why is None:
                peer.channels[channel.channel_id] = channel
            else:
                peer.status(StatusLevel.ERROR,
                            f'publishing on {protocol.clip(channel.topic)} refused: {why}')

    async def _binary(self, peer: Peer, frame: bytes) -> None:
        request = protocol.parse_binary(frame)
        if isinstance(request, protocol.ClientMessage):
            if request.channel_id in peer.channels:
                await self._call(self.handlers.client_message, peer.client_id,
                                 request.channel_id, request.data)
            return
        service = self.services.get(request.service_id)
        if service is None:
            peer.push(protocol.service_call_failure(
                request.service_id, request.call_id, f'no service {request.service_id}'),
                Tier.CRITICAL)
            return
        if service.mutating and not peer.authorized:
            self.refused_mutations += 1
            peer.push(protocol.service_call_failure(
                request.service_id, request.call_id,
                f'{service.name}: missing or wrong token'), Tier.CRITICAL)
            return
        if request.encoding != 'json':
            peer.push(protocol.service_call_failure(
                request.service_id, request.call_id,
                f'{service.name}: encoding {protocol.clip(request.encoding)!r} (json only)'),
                Tier.CRITICAL)
            return
        answer = await self._call(service.handler, request.payload)
        peer.push(protocol.service_call_response(
            request.service_id, request.call_id, 'json', answer), Tier.CRITICAL)


def _service_info(service_id: int, service: Service) -> ServiceInfo:
    return ServiceInfo(service_id, service.name, service.type_name,
                       service.type_name + '_Request', service.request_schema,
                       service.type_name + '_Response', service.response_schema)
