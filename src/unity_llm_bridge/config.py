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
The bridge configuration: models, routes, topics. Schema and loading with file:line errors.

One YAML or JSON file (``config/llm_bridge.yaml`` documents every key). Problems are reported
like the kernel's config: ``llm.yaml:12: routes[0].models[1]: unknown model 'backup'``.
"""

import os
import re
import string
from typing import Any, Dict, List, Literal, Optional, Tuple

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError

from unity_kernel_core.bus.patterns import any_match
from unity_kernel_core.config.documents import format_loc, lookup_line, parse_document, read_text
from unity_kernel_core.config.documents import MAX_DOCUMENT_BYTES, validation_issues
from unity_kernel_core.config.fields import REDIS_COUNT_MAX, TopicName, TopicPattern
from unity_kernel_core.config.kernel_config import ROBOT_ID_PATTERN
from unity_kernel_core.errors import ConfigError, ConfigIssue
from unity_kernel_core.paths import expand_user, resolve_path
from unity_llm_bridge.errors import BridgeConfigError

_NAME = r'^[A-Za-z][A-Za-z0-9_.-]*$'
TEMPLATE_FIELDS = ('topic', 'type', 'fields', 'text', 'route', 'id')


class _Strict(BaseModel):
    model_config = ConfigDict(extra='forbid', frozen=True, allow_inf_nan=False)


class BreakerSettings(_Strict):
    """Circuit breaker of one model: open after consecutive failures, retry after a cool-down."""

    failure_threshold: int = Field(3, ge=1, le=1000)
    cooldown_s: float = Field(30.0, gt=0, le=86400)


class ModelSettings(_Strict):
    """One named model: where it is served, how it is called, and what it may spend."""

    api: Literal['openai', 'ollama']
    """``openai``: any OpenAI-compatible chat-completions server; ``ollama``: the Ollama API."""
    base_url: str = Field(pattern=r'^https?://[^\s]+$')
    """``openai``: up to and including ``/v1`` (``http://127.0.0.1:8080/v1``);
    ``ollama``: the server root (``http://127.0.0.1:11434``)."""
    model: str = Field(min_length=1)
    api_key_env: Optional[str] = Field(None, pattern=r'^[A-Za-z_][A-Za-z0-9_]*$')
    api_key_file: Optional[str] = None
    connect_timeout_s: float = Field(2.0, gt=0, le=600)
    read_timeout_s: float = Field(30.0, gt=0, le=3600)
    """Longest silence between two bytes of an answer (a hung server fails after this)."""
    request_timeout_s: float = Field(60.0, gt=0, le=3600)
    """Deadline for the whole call, streaming included (a slow trickle fails after this)."""
    max_tokens: int = Field(256, ge=1, le=1_000_000)
    temperature: float = Field(0.0, ge=0, le=2)
    max_concurrency: int = Field(2, ge=1, le=1024)
    tokens_per_minute: Optional[int] = Field(None, ge=1)
    cost_per_minute: Optional[float] = Field(None, gt=0)
    cost_per_1k_prompt_tokens: float = Field(0.0, ge=0)
    cost_per_1k_completion_tokens: float = Field(0.0, ge=0)
    breaker: BreakerSettings = BreakerSettings()

    @model_validator(mode='after')
    def _one_key_source(self) -> 'ModelSettings':
        if self.api_key_env and self.api_key_file:
            raise ValueError('give api_key_env or api_key_file, not both')
        if self.request_timeout_s < self.connect_timeout_s:
            raise ValueError(f'request_timeout_s ({self.request_timeout_s}) must be >= '
                             f'connect_timeout_s ({self.connect_timeout_s})')
        return self


class PromptTemplate(_Strict):
    """
    How an event becomes chat messages.

    ``system`` and ``user`` are ``string.Template`` texts: ``$topic``, ``$type``, ``$fields``
    (the message fields as JSON), ``$text`` (the request's text), ``$route`` and ``$id``.
    """

    system: str = 'You are the language interface of a robot. Answer briefly.'
    user: str = 'Event on $topic ($type): $fields'

    @field_validator('system', 'user')
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        found = list(string.Template.pattern.finditer(value))
        names = {m.group('named') or m.group('braced') for m in found} - {None}
        bad = [m for m in found if m.group('invalid') is not None]
        if bad:
            raise ValueError(f"invalid '$' at position {bad[0].start()} (write '$$' for a "
                             'literal dollar)')
        unknown = sorted(n for n in names if n not in TEMPLATE_FIELDS)
        if unknown:
            raise ValueError(f'unknown placeholder(s) {", ".join("$" + n for n in unknown)}: '
                             f'expected {", ".join("$" + n for n in TEMPLATE_FIELDS)}')
        return value


class ActionSpec(_Strict):
    """An action a model may request: published on ``topic`` when ``arguments`` validate."""

    topic: TopicName
    description: str = ''
    schema_: Dict[str, Any] = Field(default_factory=lambda: {'type': 'object'}, alias='schema')

    model_config = ConfigDict(extra='forbid', frozen=True, populate_by_name=True,
                              allow_inf_nan=False)

    @field_validator('schema_')
    @classmethod
    def _valid_schema(cls, value: Dict[str, Any]) -> Dict[str, Any]:
        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as exc:
            raise ValueError(f'not a valid JSON schema: {exc.message}') from None
        problem = _reference_problem(value, value)
        if problem is not None:
            raise ValueError(problem)
        return value


def _reference_problem(node: Any, root: Dict[str, Any]) -> Optional[str]:
    """
    Return why a ``$ref`` in an action schema cannot be followed, or None.

    A reference must point inside the schema (``#`` or ``#/a/b``): nothing is fetched while
    a model's answer is checked, and a reference that resolves to nothing would only fail
    then, for every answer.
    """
    if isinstance(node, list):
        return next((p for p in (_reference_problem(n, root) for n in node) if p), None)
    if not isinstance(node, dict):
        return None
    ref = node.get('$ref')
    if ref is not None:
        if not isinstance(ref, str) or not (ref == '#' or ref.startswith('#/')):
            return f'$ref {ref!r}: only references inside the schema ("#/...") are followed'
        target: Any = root
        for part in ref[2:].split('/') if ref != '#' else ():
            key = part.replace('~1', '/').replace('~0', '~')
            if isinstance(target, dict) and key in target:
                target = target[key]
            elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
                target = target[int(key)]
            else:
                return f'$ref {ref!r} points to nothing in the schema'
    return next((p for p in (_reference_problem(v, root) for k, v in node.items()
                             if k not in ('const', 'enum', 'default', 'examples')) if p), None)


class MemorySettings(_Strict):
    """Conversation memory of a route: the last exchanges, bounded by count and tokens."""

    max_events: int = Field(0, ge=0, le=10000)
    """Exchanges (event + answer) kept; 0 disables memory."""
    max_tokens: int = Field(2000, ge=1, le=10_000_000)
    """Oldest exchanges are left out of a prompt beyond this estimate (4 characters a token)."""
    persist: bool = True
    """Keep the memory in Redis (when ``bridge.redis_url`` is set), so a restart continues."""


class RouteSettings(_Strict):
    """Events whose topic matches ``match`` go to ``models`` in order (primary, then backups)."""

    name: str = Field(pattern=_NAME)
    match: List[TopicPattern] = Field(min_length=1)
    models: List[str] = Field(min_length=1)
    prompt: PromptTemplate = PromptTemplate()
    output: Literal['text', 'action', 'auto'] = 'text'
    """``text``: the answer is text; ``action``: it must be a declared action (JSON);
    ``auto``: an answer starting with ``{`` must be a declared action, else it is text."""
    actions: Dict[str, ActionSpec] = {}
    max_answer_chars: int = Field(4000, ge=1, le=10_000_000)
    stream: bool = False
    memory: MemorySettings = MemorySettings()

    @field_validator('models')
    @classmethod
    def _distinct(cls, value: List[str]) -> List[str]:
        if len(set(value)) != len(value):
            raise ValueError('a model is listed twice')
        return value

    @field_validator('actions')
    @classmethod
    def _action_names(cls, value: Dict[str, ActionSpec]) -> Dict[str, ActionSpec]:
        for name in value:
            if not re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', name):
                raise ValueError(f'action name {name!r} must be an identifier')
        return value

    @model_validator(mode='after')
    def _actions_for_output(self) -> 'RouteSettings':
        if self.output != 'text' and not self.actions:
            raise ValueError(f'output {self.output!r} needs at least one declared action')
        return self


DEFAULT_FORBIDDEN = ('/unity_kernel/**', '/safety/**', '/rosout', '/parameter_events',
                     '/diagnostics', '/diagnostics_agg')


class BridgeSettings(_Strict):
    """Topics, workers and shared services of the bridge node."""

    request_topic: TopicName = '/llm/request'
    response_topic: TopicName = '/llm/response'
    error_topic: TopicName = '/llm/error'
    service: TopicName = '/llm/query'
    workers: int = Field(4, ge=1, le=256)
    max_pending: int = Field(64, ge=1, le=100000)
    """Requests waiting for a worker; beyond this a request is refused (error + dead letter)."""
    diagnostics_period_s: float = Field(1.0, gt=0, le=3600)
    discovery_period_s: float = Field(1.0, gt=0, le=60)
    """How often the graph is scanned for topics matching a route."""
    service_timeout_s: float = Field(120.0, gt=0, le=3600)
    redis_url: Optional[str] = Field(None, pattern=r'^(redis|rediss|unix)://')
    redis_prefix: str = Field('unity', pattern=r'^[A-Za-z0-9_.:-]+$')
    dead_letter_stream: Optional[str] = Field(None, pattern=r'^[A-Za-z0-9_.:-]+$')
    """Redis stream of failed requests; default ``<redis_prefix>:llm:deadletters``."""
    dead_letter_maxlen: int = Field(100_000, ge=1, le=REDIS_COUNT_MAX)
    max_request_bytes: int = Field(64 * 1024, ge=256, le=MAX_DOCUMENT_BYTES)
    """A request (or query) larger than this is refused unparsed (``invalid_request``)."""
    request_queue_depth: int = Field(1000, ge=1, le=100000)
    """History depth of the request subscription (reliable, keep last): requests arriving
    faster than the node takes them wait here; see docs/llm_bridge.md, "Bursts"."""
    redis_cluster: Optional[bool] = None
    """``redis_url`` is a start-up node of a Redis Cluster (default: ``UNITY_REDIS_CLUSTER``)."""
    robot_id: Optional[str] = Field(None, pattern=ROBOT_ID_PATTERN, max_length=64)
    """Keys under ``<redis_prefix>:{robot_id}`` as the kernel's (default: ``UNITY_ROBOT_ID``)."""
    forbidden_action_topics: List[TopicPattern] = list(DEFAULT_FORBIDDEN)
    """No action may be published on these (the model never writes to the kernel itself)."""


class LlmBridgeConfig(_Strict):
    """The whole bridge configuration."""

    bridge: BridgeSettings = BridgeSettings()
    models: Dict[str, ModelSettings] = {}
    routes: List[RouteSettings] = []

    @field_validator('models')
    @classmethod
    def _model_names(cls, value: Dict[str, ModelSettings]) -> Dict[str, ModelSettings]:
        for name in value:
            if not re.match(_NAME, name):
                raise ValueError(f'model name {name!r}: letters, digits, _ . - only')
        return value

    def route_named(self, name: str) -> Optional[RouteSettings]:
        """Return the route called ``name``."""
        return next((r for r in self.routes if r.name == name), None)


def _reference_problems(config: LlmBridgeConfig) -> List[Tuple[Tuple[Any, ...], str]]:
    """Return (location, message) for names that refer to nothing and forbidden topics."""
    problems: List[Tuple[Tuple[Any, ...], str]] = []
    bridge = config.bridge
    own = (bridge.request_topic, bridge.response_topic, bridge.error_topic)
    seen: Dict[str, int] = {}
    for i, route in enumerate(config.routes):
        if route.name in seen:
            problems.append((('routes', i, 'name'), f'route name {route.name!r} is already '
                             f'used by routes[{seen[route.name]}]'))
        seen.setdefault(route.name, i)
        for j, model in enumerate(route.models):
            if model not in config.models:
                known = ', '.join(sorted(config.models)) or 'none defined'
                problems.append((('routes', i, 'models', j),
                                 f'unknown model {model!r} (models: {known})'))
        for action, spec in route.actions.items():
            if spec.topic in own or any_match(bridge.forbidden_action_topics, spec.topic):
                problems.append((('routes', i, 'actions', action, 'topic'),
                                 f'action {action!r} may not publish on {spec.topic}: it is a '
                                 'bridge topic or in bridge.forbidden_action_topics'))
    return problems


def parse_bridge_config(text: str, source: str = '<string>') -> LlmBridgeConfig:
    """Validate bridge config text (YAML or JSON); raise BridgeConfigError with every issue."""
    try:
        data, lines = parse_document(text, source)
    except ConfigError as exc:
        raise BridgeConfigError(exc.issues) from None
    try:
        config = LlmBridgeConfig.model_validate(data)
    except ValidationError as exc:
        raise BridgeConfigError(validation_issues(exc, source, lines)) from None
    problems = _reference_problems(config)
    if problems:
        raise BridgeConfigError([ConfigIssue(source, lookup_line(lines, loc), format_loc(loc),
                                             message) for loc, message in problems])
    return config


def load_bridge_config(path: 'str | os.PathLike[str]') -> LlmBridgeConfig:
    """
    Load a bridge config file.

    A relative ``api_key_file`` is relative to the file's folder (``package://`` URLs too),
    as the kernel config's paths are: the file works wherever it is copied.
    """
    try:
        p = expand_user(path)
        text = read_text(p)
    except FileNotFoundError as exc:
        raise BridgeConfigError([ConfigIssue(str(path), None, '', str(exc))]) from None
    except ConfigError as exc:
        raise BridgeConfigError(exc.issues) from None
    config = parse_bridge_config(text, str(p))
    models = dict(config.models)
    for name, model in config.models.items():
        raw = model.api_key_file
        if raw and not os.path.isabs(os.path.expanduser(os.path.expandvars(raw))):
            try:
                resolved = str(resolve_path(raw, p.resolve().parent))
            except FileNotFoundError as exc:
                raise BridgeConfigError([ConfigIssue(str(p), None,
                                                     f'models.{name}.api_key_file',
                                                     str(exc))]) from None
            models[name] = model.model_copy(update={'api_key_file': resolved})
    return config.model_copy(update={'models': models})
