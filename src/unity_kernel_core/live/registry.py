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
The Foxglove server's channel registry: channels, connected peers, subscriptions, fan-out.

No sockets and no event loop: a ``Peer`` is one connected client as the registry sees it
(its outbox, its subscriptions, its own channels, what it was sent of the connection graph)
and ``notify`` is how the transport is told that the peer's sender must be woken or that
the peer failed. Producers on any thread call ``send``, ``add_channel``, ``status`` ...;
these only append to outboxes (under a short lock) and never wait for a socket.
"""

import dataclasses
import itertools
import threading
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from unity_kernel_core.bus.events import Tier
from unity_kernel_core.live import protocol
from unity_kernel_core.live.outbox import Item, Outbox, Push
from unity_kernel_core.live.protocol import ChannelInfo, ClientChannel, Graph, StatusLevel


@dataclasses.dataclass(eq=False)
class Peer:
    """One connected client: its outbox and what it subscribed to or advertised."""

    client_id: int
    address: str
    outbox: Outbox
    authorized: bool
    #: Called with ``Push.WAKE`` (wake the sender) or ``Push.OVERFLOW`` (fail the client).
    notify: Callable[[Push], None]
    subscriptions: Dict[int, int] = dataclasses.field(default_factory=dict)  # sub -> channel
    channels: Dict[int, ClientChannel] = dataclasses.field(default_factory=dict)
    graph_sent: Optional[Graph] = None
    graph_subscribed: bool = False

    def push(self, item: Item, tier: Tier, key: Optional[int] = None) -> None:
        """Queue ``item`` in ``tier`` (in place of ``key``'s pending one); tell the transport."""
        result = self.outbox.push(item, tier, key)
        if result is Push.WAKE or result is Push.OVERFLOW:
            self.notify(result)

    def status(self, level: StatusLevel, message: str) -> None:
        """Queue a ``status`` message for this peer."""
        self.push(protocol.status(level, message), Tier.CRITICAL)


class ChannelRegistry:
    """Server channels, the peers connected now and who is subscribed to what."""

    def __init__(self) -> None:
        self._channels: Dict[int, ChannelInfo] = {}
        # channel id -> ((peer, subscription id), ...), replaced whole (read without a lock)
        self._subscribers: Dict[int, Tuple[Tuple[Peer, int], ...]] = {}
        self._peers: Dict[int, Peer] = {}
        self._latest_only: Set[int] = set()  # channels whose latest message is all that counts
        self._graph: Optional[Graph] = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # -- channels ----------------------------------------------------------------------------

    def add_channel(self, topic: str, encoding: str, schema_name: str, schema: str,
                    schema_encoding: Optional[str] = None, latest_only: bool = False) -> int:
        """
        Advertise a channel to every peer; return its id.

        ``latest_only`` (camera frames): a peer that has not taken the channel's last message
        yet gets the newer one in its place (``Outbox``), never a queue of stale ones.
        """
        with self._lock:
            channel = ChannelInfo(next(self._ids), topic, encoding, schema_name, schema,
                                  schema_encoding)
            self._channels[channel.channel_id] = channel
            if latest_only:
                self._latest_only.add(channel.channel_id)
            text = protocol.advertise([channel])
            for peer in self._peers.values():
                peer.push(text, Tier.CRITICAL)
        return channel.channel_id

    def remove_channel(self, channel_id: int) -> None:
        """Withdraw a channel (its subscriptions end)."""
        with self._lock:
            if self._channels.pop(channel_id, None) is None:
                return
            self._latest_only.discard(channel_id)
            for peer, sub_id in self._subscribers.pop(channel_id, ()):
                peer.subscriptions.pop(sub_id, None)
            text = protocol.unadvertise([channel_id])
            for peer in self._peers.values():
                peer.push(text, Tier.CRITICAL)

    def has_subscribers(self, channel_id: int) -> bool:
        """Return True when a peer subscribed to the channel."""
        return bool(self._subscribers.get(channel_id))

    def send(self, channel_id: int, payload: bytes, log_time_ns: int, tier: Tier) -> int:
        """Queue one message for every subscriber of the channel; return how many."""
        subscribers = self._subscribers.get(channel_id)
        if not subscribers:
            return 0
        key = channel_id if channel_id in self._latest_only else None
        for peer, sub_id in subscribers:
            peer.push(protocol.message_data(sub_id, log_time_ns, payload), tier, key)
        return len(subscribers)

    # -- peers -------------------------------------------------------------------------------

    def join(self, peer: Peer, greeting: Item) -> None:
        """Register ``peer``: queue ``greeting`` (``serverInfo``), then the channels now."""
        with self._lock:
            peer.push(greeting, Tier.CRITICAL)
            if self._channels:
                peer.push(protocol.advertise(list(self._channels.values())), Tier.CRITICAL)
            self._peers[peer.client_id] = peer

    def leave(self, peer: Peer) -> None:
        """Forget ``peer`` and its subscriptions."""
        with self._lock:
            self._peers.pop(peer.client_id, None)
            for channel_id in peer.subscriptions.values():
                if channel_id in self._subscribers:
                    self._subscribers[channel_id] = tuple(
                        s for s in self._subscribers[channel_id] if s[0] is not peer)

    def peers(self, client_id: Optional[int] = None) -> List[Peer]:
        """Return the peer ``client_id`` (as a list of at most one), or all of them."""
        with self._lock:
            if client_id is None:
                return list(self._peers.values())
            peer = self._peers.get(client_id)
            return [peer] if peer is not None else []

    def status(self, level: StatusLevel, message: str, client_id: Optional[int] = None) -> None:
        """Send a status message to one peer, or to all."""
        for peer in self.peers(client_id):
            peer.status(level, message)

    def stats(self) -> List[Dict[str, Any]]:
        """Return each peer's address, subscriptions and outbox counts (drops per tier)."""
        return [{'id': p.client_id, 'address': p.address, 'subscriptions': len(p.subscriptions),
                 **p.outbox.stats()} for p in self.peers()]

    # -- subscriptions -----------------------------------------------------------------------

    def subscribe(self, peer: Peer, pairs: List[Tuple[int, int]]) -> List[str]:
        """Subscribe ``peer`` to ``(subscription id, channel id)`` pairs; return refusals."""
        refused = []
        for sub_id, channel_id in pairs:
            with self._lock:
                if channel_id not in self._channels:
                    why = f'subscribe: no channel {channel_id}'
                elif sub_id in peer.subscriptions:
                    why = f'subscribe: subscription id {sub_id} is in use'
                elif channel_id in peer.subscriptions.values():
                    why = f'subscribe: already subscribed to channel {channel_id}'
                else:
                    why = None
                    peer.subscriptions[sub_id] = channel_id
                    self._subscribers[channel_id] = \
                        self._subscribers.get(channel_id, ()) + ((peer, sub_id),)
            if why is not None:
                refused.append(why)
        return refused

    def unsubscribe(self, peer: Peer, sub_ids: List[int]) -> None:
        """End ``peer``'s subscriptions ``sub_ids`` (unknown ids are ignored)."""
        with self._lock:
            for sub_id in sub_ids:
                channel_id = peer.subscriptions.pop(sub_id, None)
                if channel_id in self._subscribers:
                    self._subscribers[channel_id] = tuple(
                        s for s in self._subscribers.get(channel_id, ())
                        if not (s[0] is peer and s[1] == sub_id))

    # -- the connection graph ----------------------------------------------------------------

    @property
    def graph_wanted(self) -> bool:
        """Return True when a peer subscribed to the connection graph."""
        return any(p.graph_subscribed for p in self.peers())

    def publish_graph(self, graph: Graph) -> None:
        """Send what changed in the connection graph to the peers that subscribed to it."""
        self._graph = graph
        for peer in self.peers():
            if peer.graph_subscribed and peer.graph_sent != graph:
                peer.push(protocol.connection_graph_update(graph, peer.graph_sent),
                          Tier.CRITICAL)
                peer.graph_sent = graph

    def subscribe_graph(self, peer: Peer) -> None:
        """Send ``peer`` the whole graph now and what changes in it later."""
        peer.graph_subscribed = True
        peer.graph_sent = None
        if self._graph is not None:
            self.publish_graph(self._graph)
