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
Requests, routing and prompt rendering: pure logic, no ROS and no network.

A :class:`LlmRequest` is one thing to ask: an event (topic, type, fields) or a text, with a
correlation id. The :class:`Router` picks the route (first route whose ``match`` patterns
match the event topic, or the route named by the request); :func:`render_messages` turns the
request, the route's template and its conversation memory into chat messages.
"""

import dataclasses
import json
import math
import string
from typing import Any, Dict, List, Mapping, Optional, Sequence
import uuid

from unity_kernel_core.bus.patterns import any_match
from unity_kernel_core.config.documents import loads_json, MAX_DEPTH
from unity_llm_bridge.config import LlmBridgeConfig, RouteSettings
from unity_llm_bridge.errors import NoRoute

MAX_REQUEST_BYTES = 64 * 1024
"""Default limit of one request's JSON text (``bridge.max_request_bytes``)."""

Message = Dict[str, str]
"""One chat message: ``{'role': 'system'|'user'|'assistant', 'content': text}``."""


@dataclasses.dataclass
class LlmRequest:
    """One request to the bridge."""

    request_id: str
    """The correlation id (``id`` in JSON)."""
    topic: str = ''
    type_name: str = ''
    """The event's ROS type (``type`` in JSON)."""
    fields: Any = None
    text: str = ''
    route: Optional[str] = None
    stream: Optional[bool] = None
    """None: the route's default."""

    @classmethod
    def from_json(cls, data: 'str | bytes | Mapping[str, Any]',
                  max_bytes: int = MAX_REQUEST_BYTES) -> 'LlmRequest':
        """
        Build a request from its JSON form; raise ValueError saying what is wrong.

        Text from the graph is parsed within limits: at most ``max_bytes`` and ``MAX_DEPTH``
        levels of nesting (a hostile ``[[[[...`` is refused, not a RecursionError).

        ``{"id": "...", "topic": "/x", "type": "pkg/msg/T", "fields": {...}, "text": "...",
        "route": "name", "stream": true}``; every key is optional but one of ``topic`` and
        ``route``; a missing id is generated.
        """
        if isinstance(data, (str, bytes)):
            try:
                data = loads_json(data, max_bytes=max_bytes, max_depth=MAX_DEPTH)
            except ValueError as exc:
                text = str(exc)
                if text.startswith('invalid JSON: '):
                    raise ValueError(f'request is not JSON: {text[14:]}') from None
                raise ValueError(f'request refused: {text}') from None
        if not isinstance(data, Mapping):
            raise ValueError(f'request must be a JSON object, got {type(data).__name__}')
        known = set(_JSON_KEYS)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f'unknown request key(s) {unknown}: expected {sorted(known)}')
        for key in ('id', 'topic', 'type', 'text', 'route'):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ValueError(f'request {key!r} must be a string')
        if data.get('stream') is not None and not isinstance(data['stream'], bool):
            raise ValueError("request 'stream' must be true or false")
        if not data.get('topic') and not data.get('route'):
            raise ValueError("request needs 'topic' (to route by) or 'route'")
        values = {_JSON_KEYS[k]: v for k, v in data.items() if v is not None}
        values['request_id'] = data.get('id') or new_id()
        return cls(**values)

    def to_json(self) -> Dict[str, Any]:
        """Return the JSON form."""
        names = {v: k for k, v in _JSON_KEYS.items()}
        return {names[k]: v for k, v in dataclasses.asdict(self).items() if v is not None}


_JSON_KEYS = {'id': 'request_id', 'topic': 'topic', 'type': 'type_name', 'fields': 'fields',
              'text': 'text', 'route': 'route', 'stream': 'stream'}


def new_id() -> str:
    """Return a fresh correlation id."""
    return uuid.uuid4().hex


class Router:
    """Pick the route of a request: the named one, else the first whose pattern matches."""

    def __init__(self, config: LlmBridgeConfig) -> None:
        self._routes = list(config.routes)
        self._by_name = {r.name: r for r in self._routes}

    def route_for(self, request: LlmRequest) -> RouteSettings:
        """Return the route of ``request``; raise NoRoute when none applies."""
        if request.route:
            route = self._by_name.get(request.route)
            if route is None:
                raise NoRoute(f'no route named {request.route!r} (routes: '
                              f'{", ".join(self._by_name) or "none"})')
            return route
        for route in self._routes:
            if any_match(route.match, request.topic):
                return route
        raise NoRoute(f'no route matches topic {request.topic!r}')

    def patterns(self) -> List[str]:
        """Return every route pattern (the topics the node subscribes to)."""
        return [p for r in self._routes for p in r.match]


def estimate_tokens(text: str) -> int:
    """Estimate a token count (4 characters a token, as the OpenAI guidance)."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def messages_tokens(messages: Sequence[Message]) -> int:
    """Estimate the tokens of chat messages (content plus a few per message)."""
    return sum(estimate_tokens(m.get('content', '')) + 4 for m in messages)


def render_messages(route: RouteSettings, request: LlmRequest,
                    history: Sequence[Message] = ()) -> List[Message]:
    """Render the route's template for ``request``: system, then history, then the event."""
    values = {'topic': request.topic, 'type': request.type_name,
              'fields': json.dumps(request.fields, sort_keys=True, default=str,
                                   ensure_ascii=False),
              'text': request.text, 'route': route.name, 'id': request.request_id}
    out: List[Message] = []
    system = string.Template(route.prompt.system).safe_substitute(values)
    if system:
        out.append({'role': 'system', 'content': system})
    out.extend(dict(m) for m in history)
    out.append({'role': 'user',
                'content': string.Template(route.prompt.user).safe_substitute(values)})
    return out
