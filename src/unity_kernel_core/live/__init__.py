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
The live view: the robot in Foxglove and in the kernel's own web dashboard.

Owns: the Foxglove WebSocket server that advertises every mapped topic and forwards the CDR
the bus holds (``foxglove_server``: what is served; ``ws_server``: sockets and per-client
senders on ``websockets``; ``registry``: channels, clients, subscriptions and fan-out;
``dispatch``: what each client request does; ``protocol``: the pure codec; ``outbox``: the
pure per-client priority queues), the dashboard HTTP server (JSON, server-sent events, the
page under ``static/``), the state snapshot both show, and the pure delivery logic (per-topic
throttle, client publish allow-list, token check) tested without a network.

A kernel component beside the audit mirror and the supervisor. May import ``bus``, ``config``,
``module_commands`` and ``ros``; it reaches its peers (mirror, supervisor) only through the
small protocols in ``state`` (by component name), never by importing audit or supervision,
nor the kernel node.
"""
