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
Check a model's answer against its route: size, and for actions JSON, name and arguments.

An action answer is a JSON object ``{"action": "<declared name>", "arguments": {...}}``
(a Markdown code fence around it is tolerated). Only an action the route declares, with
arguments valid against its JSON schema, is accepted; everything else raises
:class:`~unity_llm_bridge.errors.OutputRejected` with the reason.
"""

import dataclasses
import re
from typing import Any, Dict, Optional

import jsonschema

from unity_kernel_core.config.documents import loads_json
from unity_llm_bridge.config import ActionSpec, RouteSettings
from unity_llm_bridge.errors import OutputRejected

_FENCE = re.compile(r'^```[A-Za-z0-9_-]*\s*\n?(?P<body>.*?)\n?```$', re.DOTALL)


@dataclasses.dataclass(frozen=True)
class Action:
    """A validated action: publish ``arguments`` on ``topic``."""

    name: str
    topic: str
    arguments: Dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Answer:
    """A model answer accepted for its route: text, and the action when there is one."""

    text: str
    action: Optional[Action] = None


def strip_fence(text: str) -> str:
    """Return ``text`` without surrounding whitespace and a Markdown code fence."""
    stripped = text.strip()
    match = _FENCE.match(stripped)
    return match.group('body').strip() if match else stripped


def check_size(route: RouteSettings, text: str) -> None:
    """Raise OutputRejected('oversized') when ``text`` is longer than the route allows."""
    if len(text) > route.max_answer_chars:
        raise OutputRejected('oversized', f'answer of {len(text)}+ characters exceeds '
                                          f'max_answer_chars {route.max_answer_chars}')


def parse_action(route: RouteSettings, text: str) -> Action:
    """Parse and validate an action answer; raise OutputRejected saying why it is refused."""
    body = strip_fence(text)
    try:
        data = loads_json(body)
    except ValueError as exc:  # invalid, too deep, a duplicate key
        raise OutputRejected('malformed_json', str(exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get('action'), str):
        raise OutputRejected('not_an_action', 'expected a JSON object with a string "action" '
                                              f'and an object "arguments", got {_short(body)}')
    extra = sorted(set(data) - {'action', 'arguments'})
    if extra:
        raise OutputRejected('not_an_action', f'unexpected key(s) {extra}: only "action" and '
                                              '"arguments" are allowed')
    name = data['action']
    spec: Optional[ActionSpec] = route.actions.get(name)
    if spec is None:
        raise OutputRejected('undeclared_action', f'action {_short(name)} is not declared by '
                                                  f'route {route.name!r} (declared: '
                                                  f'{", ".join(sorted(route.actions))})')
    arguments = data.get('arguments', {})
    if not isinstance(arguments, dict):
        raise OutputRejected('invalid_arguments', f'action {name!r}: "arguments" must be an '
                                                  'object')
    validator = jsonschema.Draft202012Validator(spec.schema_)
    errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = '/'.join(str(p) for p in first.absolute_path) or '(root)'
        raise OutputRejected('invalid_arguments', f'action {name!r}: arguments at {where}: '
                                                  f'{first.message}')
    return Action(name=name, topic=spec.topic, arguments=arguments)


def accept(route: RouteSettings, text: str) -> Answer:
    """Return the accepted answer of ``route`` for ``text``; raise OutputRejected otherwise."""
    check_size(route, text)
    if route.output == 'action' or (route.output == 'auto' and
                                    strip_fence(text).startswith('{')):
        return Answer(text=text, action=parse_action(route, text))
    return Answer(text=text)


def _short(value: Any, limit: int = 80) -> str:
    shown = repr(value)
    return shown if len(shown) <= limit else shown[:limit] + '...'
