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
Kernel configuration: schema, loading from YAML/JSON with precise errors, env overrides.

Errors name the file, the line, the key path and what was expected, for example::

    config/kernel.yaml:14: tiers.CRITICAL.workers: Input should be greater than or equal to 1

Environment overrides: ``UNITY_KERNEL__<SECTION>__<KEY>=value`` sets ``section.key`` (any depth,
keys case-insensitive, value parsed as a YAML scalar); ``UNITY_REDIS_URL`` sets ``redis.url``,
``UNITY_REDIS_CLUSTER`` ``redis.cluster`` and ``UNITY_ROBOT_ID`` ``kernel.robot_id``.

Paths (``PATH_KEYS``) are resolved when a file is loaded: a relative path against the folder of
the config file, ``package://<package>/<path>`` through the ament index (absolute and ``~``
paths stay as written). So a config works wherever it is copied to, and wherever the kernel
is started from.
"""

import dataclasses
import functools
import ipaddress
import os
import pathlib
import re
from typing import Any, Dict, List, Literal, Mapping, Optional, Tuple
import urllib.parse

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator
from pydantic import model_validator
from pydantic import PrivateAttr, ValidationError
import yaml

from unity_kernel_core.bus.event_bus import DEFAULT_POLICIES, OverflowPolicy, TierPolicy
from unity_kernel_core.bus.events import Tier
from unity_kernel_core.bus.patterns import any_match, first_match
from unity_kernel_core.config.documents import (format_loc, LineIndex, lookup_line,
                                                parse_document, read_text, validation_issues)
from unity_kernel_core.config.fields import (AGE_S_MAX, DURATION_MS_MAX, NodeName,
                                             REDIS_COUNT_MAX, TopicName, TopicPattern,
                                             WAIT_MS_MAX)
from unity_kernel_core.errors import ConfigError, ConfigIssue
from unity_kernel_core.paths import expand_user, PACKAGE_URL, resolve_path

ENV_PREFIX = 'UNITY_KERNEL__'
ENV_ALIASES = {'UNITY_REDIS_URL': ('redis', 'url'), 'UNITY_REDIS_CLUSTER': ('redis', 'cluster'),
               'UNITY_ROBOT_ID': ('kernel', 'robot_id')}
ROBOT_ID_PATTERN = r'^[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*_?$'
"""A robot id follows the ROS naming rules: a letter, then letters, digits, single ``_``."""
RING_BYTES_MAX = 16 * 1024 ** 3
"""The largest audit writer ring (``redis.ring_bytes``)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra='forbid', frozen=True, allow_inf_nan=False)


class QosSettings(_Strict):
    """QoS profile a tier's subscriptions start from (adapted to the publishers found)."""

    reliability: Literal['reliable', 'best_effort'] = 'reliable'
    durability: Literal['volatile', 'transient_local'] = 'volatile'
    history: Literal['keep_last', 'keep_all'] = 'keep_last'
    depth: int = Field(100, ge=1, le=100000)
    deadline_ms: Optional[float] = Field(None, gt=0, le=DURATION_MS_MAX)
    lifespan_ms: Optional[float] = Field(None, gt=0, le=DURATION_MS_MAX)
    adapt_to_publishers: bool = True


_POLICY = TierPolicy()  # the bus's defaults of a tier's keys (one source: the bus)


class TierSettings(_Strict):
    """Queue, workers, retries and QoS of one priority tier."""

    workers: int = Field(_POLICY.workers, ge=1, le=64)
    queue_size: int = Field(_POLICY.queue_size, ge=1, le=10_000_000)
    overflow: OverflowPolicy = _POLICY.overflow
    max_retries: int = Field(_POLICY.max_retries, ge=0, le=100)
    retry_backoff_ms: float = Field(_POLICY.retry_backoff_s * 1000.0, ge=0, le=60000)
    block_timeout_ms: Optional[float] = Field(None, gt=0, le=WAIT_MS_MAX)
    batch_window_ms: float = Field(_POLICY.batch_window_s * 1000.0, ge=0, le=1000)
    qos: QosSettings = QosSettings()

    @model_validator(mode='after')
    def _queue_fits_workers(self) -> 'TierSettings':
        if self.queue_size < self.workers:
            raise ValueError(f'queue_size ({self.queue_size}) must be >= workers '
                             f'({self.workers})')
        return self

    def policy(self) -> TierPolicy:
        """Return the bus policy of this tier."""
        return TierPolicy(
            workers=self.workers, queue_size=self.queue_size, overflow=self.overflow,
            max_retries=self.max_retries, retry_backoff_s=self.retry_backoff_ms / 1000.0,
            block_timeout_s=None if self.block_timeout_ms is None
            else self.block_timeout_ms / 1000.0, batch_window_s=self.batch_window_ms / 1000.0)

    @classmethod
    def from_policy(cls, policy: TierPolicy, qos: QosSettings) -> 'TierSettings':
        """Return the settings of a bus policy, with the QoS its subscriptions start from."""
        return cls(workers=policy.workers, queue_size=policy.queue_size,
                   overflow=policy.overflow, max_retries=policy.max_retries,
                   retry_backoff_ms=policy.retry_backoff_s * 1000.0,
                   block_timeout_ms=None if policy.block_timeout_s is None
                   else policy.block_timeout_s * 1000.0,
                   batch_window_ms=policy.batch_window_s * 1000.0, qos=qos)


#: The QoS each tier's subscriptions start from (the queue defaults are the bus's own).
DEFAULT_TIER_QOS: Mapping[Tier, QosSettings] = {
    Tier.CRITICAL: QosSettings(depth=1000),
    Tier.HIGH: QosSettings(reliability='best_effort', depth=10),
    Tier.NORMAL: QosSettings(),
    Tier.LOW: QosSettings(),
    Tier.DEFERRED: QosSettings(),
}


def _default_tiers() -> Dict[Tier, TierSettings]:
    return {tier: TierSettings.from_policy(DEFAULT_POLICIES[tier], DEFAULT_TIER_QOS[tier])
            for tier in Tier}


class TopicRule(_Strict):
    """Map topics matching ``pattern`` to a tier."""

    pattern: TopicPattern
    tier: Tier
    mirror: bool = True
    retention_maxlen: Optional[int] = Field(None, ge=1, le=REDIS_COUNT_MAX)
    retention_max_age_s: Optional[float] = Field(None, gt=0, le=AGE_S_MAX)

    @field_validator('tier', mode='before')
    @classmethod
    def _parse_tier(cls, value: Any) -> Tier:
        if isinstance(value, bool) or not isinstance(value, (str, int, Tier)):
            raise ValueError(f'expected a tier name (CRITICAL, HIGH, NORMAL, LOW, DEFERRED), '
                             f'got {value!r}')
        return Tier.parse(value)


class Scheduling(_Strict):
    """
    An OS scheduling setting: a nice value, or a real-time policy with its priority.

    A node module's manifest ``scheduling`` (every thread of its process, from its start;
    applied by ``unity_kernel_core.common.os_scheduling`` before the node's executable
    runs, whichever way it is started) and the kernel's ``kernel.critical_scheduling`` (its
    CRITICAL threads).
    """

    nice: Optional[int] = Field(None, ge=-20, le=19)
    """Nice value under the normal policy (below 0 needs CAP_SYS_NICE or RLIMIT_NICE)."""
    policy: Literal['other', 'fifo', 'rr'] = 'other'
    """``other``: the normal time-sharing policy; ``fifo``/``rr``: SCHED_FIFO/SCHED_RR."""
    priority: Optional[int] = Field(None, ge=1, le=99)
    """Real-time priority of ``fifo``/``rr`` (needs CAP_SYS_NICE or RLIMIT_RTPRIO)."""

    @model_validator(mode='after')
    def _policy_fields(self) -> 'Scheduling':
        if self.policy == 'other':
            if self.priority is not None:
                raise ValueError("priority is for policy 'fifo' or 'rr' (real-time); "
                                 "under policy 'other' set nice")
        elif self.priority is None:
            raise ValueError(f'policy {self.policy!r} needs a priority (1..99)')
        elif self.nice is not None:
            raise ValueError(f'nice has no effect under policy {self.policy!r}: set '
                             'priority only (nice: null in an override)')
        return self

    @property
    def is_default(self) -> bool:
        """Tell whether nothing is set (the process runs as its starter does)."""
        return self.nice is None and self.policy == 'other'


class KernelSettings(_Strict):
    """Settings of the kernel node itself."""

    node_name: NodeName = 'unity_kernel'
    discovery_period_s: float = Field(0.5, gt=0, le=60)
    diagnostics_period_s: float = Field(1.0, gt=0, le=3600)
    shutdown_timeout_s: float = Field(10.0, gt=0, le=600)
    state_dir: str = Field('~/.local/state/unity_kernel', min_length=1)
    event_echo_topic: Optional[TopicName] = None
    autostart: bool = False
    robot_id: Optional[str] = Field(None, pattern=ROBOT_ID_PATTERN, max_length=64)
    """This robot in a fleet: its audit keys carry it and it registers a heartbeat."""
    switch_interval_ms: float = Field(1.0, ge=0.05, le=100)
    """
    The interpreter's switch interval in the kernel's process (``sys.setswitchinterval``).

    The longest a thread that wants the interpreter lock waits for the one holding it: a
    CRITICAL intake or worker thread waits at most this long behind a lower tier's Python
    step. CPython's default is 5 ms (docs/performance-history.md, "The audit writer in its
    own process").
    """
    critical_scheduling: Scheduling = Scheduling()
    """
    The OS scheduling of the kernel's CRITICAL threads (the CRITICAL intake thread and the
    CRITICAL bus workers), e.g. ``{policy: fifo, priority: 10}``; not permitted: configure
    fails and says what it needs. Unset: they run as the kernel does.
    """
    intake: Literal['native', 'python'] = 'native'
    """
    How DDS messages come in. ``native``: threads of the native extension, one per tier
    (CRITICAL on its own), take each message straight into the audit writer's ring; only
    topics an in-process subscriber wants (a module, the echo, the live view) enter the
    interpreter. ``python``: rclpy's EventsExecutor, every message through the bus and its
    taps. ``native`` runs ``python`` instead, saying why, where the extension is not built or
    with ``redis.writer: thread`` (whose writer needs every event in the interpreter).
    """


class RedisSettings(_Strict):
    """Redis Streams mirror (audit trail)."""

    enabled: bool = True
    url: Optional[str] = None
    password_file: Optional[str] = None
    stream_prefix: str = Field('unity', pattern=r'^[A-Za-z0-9_.:-]+$')
    batch_size: int = Field(500, ge=1, le=100000)
    flush_interval_ms: float = Field(5.0, gt=0, le=10000)
    maxlen: Optional[int] = Field(1_000_000, ge=1, le=REDIS_COUNT_MAX)
    journal_max_bytes: int = Field(256 * 1024 * 1024, ge=1024, le=1 << 40)
    # audit trail (docs/audit.md)
    username: Optional[str] = None
    password_env: str = 'UNITY_REDIS_PASSWORD'
    tls_ca_file: Optional[str] = None
    tls_cert_file: Optional[str] = None
    tls_key_file: Optional[str] = None
    tls_verify: bool = True
    connect_timeout_s: float = Field(1.0, gt=0, le=60)
    socket_timeout_s: float = Field(5.0, gt=0, le=600)
    reconnect_interval_ms: float = Field(500.0, gt=0, le=60000)
    queue_size: int = Field(100_000, ge=1, le=10_000_000)
    journal_segment_bytes: int = Field(16 * 1024 * 1024, ge=1024, le=1 << 30)
    journal_fsync: bool = False
    dead_letter_maxlen: int = Field(100_000, ge=1, le=REDIS_COUNT_MAX)
    # fleet (docs/fleet.md)
    cluster: bool = False
    """Use a Redis Cluster (``url`` is a start-up node); needs ``kernel.robot_id``."""
    cluster_nodes: List[str] = []
    """More start-up nodes (``host:port``), tried when the ``url`` node does not answer."""
    wait_replicas: Optional[int] = Field(None, ge=0, le=16)
    """A batch counts as written once this many replicas have it (default: 1 in a cluster)."""
    wait_timeout_ms: int = Field(1000, ge=1, le=60000)
    # where the writer runs (docs/performance.md): its own process fed through a shared-memory
    # ring of ring_bytes in /dev/shm (see writer_process.ring_file), its hot path (the ring's
    # producer in the kernel, RESP packing in the writer) native where the extension is built;
    # the same process with the Python hot path (the reference); or a thread of the kernel
    writer: Literal['process', 'process-python', 'thread'] = 'process'
    ring_bytes: int = Field(64 * 1024 * 1024, ge=64 * 1024, le=RING_BYTES_MAX)
    writer_nice: int = Field(5, ge=0, le=19)
    """
    The writer process's nice value: above the kernel's 0, so on a busy machine the kernel's
    intake and handlers come first and the writer catches up from the ring; 0 gives the
    writer an equal share (more mirror throughput on shared cores, docs/performance.md).
    """

    @field_validator('url')
    @classmethod
    def _redis_url(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        try:
            parts = urllib.parse.urlsplit(value)
            port = parts.port
        except ValueError as exc:
            raise ValueError(f'not a Redis URL ({exc})') from None
        if parts.scheme not in ('redis', 'rediss', 'unix'):
            raise ValueError('expected redis://host:port, rediss://host:port or '
                             'unix:///path/redis.sock')
        if parts.scheme == 'unix' and not parts.path:
            raise ValueError('a unix:// URL needs the socket path, as in '
                             'unix:///run/redis.sock')
        if parts.scheme != 'unix' and not parts.hostname:
            raise ValueError(f'no host in the URL (port {port})' if port else
                             'no host in the URL')
        return value

    @model_validator(mode='after')
    def _tls_needs_rediss(self) -> 'RedisSettings':
        tls = [k for k in ('tls_ca_file', 'tls_cert_file', 'tls_key_file')
               if getattr(self, k) is not None]
        if tls and self.url is not None and not self.url.startswith('rediss://'):
            raise ValueError(f'{", ".join(tls)} given but url is not rediss:// (TLS)')
        if self.cluster and self.enabled and self.url is not None and \
                self.url.startswith('unix://'):
            raise ValueError('cluster: true needs a redis:// or rediss:// url (a start-up '
                             'node of the cluster), not a unix socket')
        return self

    @field_validator('cluster_nodes')
    @classmethod
    def _host_ports(cls, value: List[str]) -> List[str]:
        for node in value:
            host, sep, port = node.rpartition(':')
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f'cluster node {node!r}: expected host:port')
        return value

    @property
    def replicas_to_wait(self) -> int:
        """Return how many replicas must acknowledge a batch (WAIT) before it counts."""
        if self.wait_replicas is not None:
            return self.wait_replicas
        return 1 if self.cluster else 0


class FleetSettings(_Strict):
    """The fleet registry: heartbeats of robots sharing one store (docs/fleet.md)."""

    heartbeat_period_s: float = Field(2.0, gt=0, le=3600)
    stale_after_s: float = Field(10.0, gt=0, le=86400)


_HOSTNAME = re.compile(r'^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
                       r'(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$')


def is_loopback(host: str) -> bool:
    """Return True when ``host`` names a loopback address (127.0.0.0/8, ::1, localhost)."""
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_ORIGIN = re.compile(r'^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$')


def _valid_host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if not _HOSTNAME.match(value):
        raise ValueError(f'{value!r} is neither an IP address nor a host name')
    return value


class ThrottleRule(_Strict):
    """Forward at most ``max_hz`` messages per second of each topic matching ``pattern``."""

    pattern: TopicPattern
    max_hz: float = Field(gt=0, le=10000)


class LiveSettings(_Strict):
    """The live view: Foxglove WebSocket server and web dashboard (docs/live_view.md)."""

    enabled: bool = True
    foxglove: bool = True
    foxglove_host: str = '127.0.0.1'
    foxglove_port: int = Field(8765, ge=0, le=65535)
    dashboard: bool = True
    dashboard_host: str = '127.0.0.1'
    dashboard_port: int = Field(8766, ge=0, le=65535)
    token_env: str = Field('UNITY_LIVE_TOKEN', pattern=r'^[A-Za-z_][A-Za-z0-9_]*$')
    token_file: Optional[str] = None
    allowed_hosts: List[str] = Field([], max_length=64)
    allowed_origins: List[str] = Field(['https://app.foxglove.dev'], max_length=64)
    tls_cert_file: Optional[str] = None
    tls_key_file: Optional[str] = None
    client_backlog: int = Field(64, ge=4, le=100000)
    client_critical_limit: int = Field(1024, ge=16, le=1000000)
    client_send_buffer: int = Field(262144, ge=0, le=64 * 2**20)
    state_period_s: float = Field(0.5, ge=0.05, le=60)
    recent_events: int = Field(200, ge=1, le=100000)
    camera_topic: str = '/sensors/camera/image_raw'
    throttle: List[ThrottleRule] = []
    client_publish: bool = False
    publish_allow: List[TopicPattern] = []
    publish_allow_safety: bool = False

    @field_validator('foxglove_host', 'dashboard_host')
    @classmethod
    def _host(cls, value: str) -> str:
        return _valid_host(value)

    @field_validator('allowed_hosts')
    @classmethod
    def _hosts(cls, value: List[str]) -> List[str]:
        return [_valid_host(host) for host in value]

    @field_validator('allowed_origins')
    @classmethod
    def _origins(cls, value: List[str]) -> List[str]:
        for origin in value:
            if not _ORIGIN.match(origin):
                raise ValueError(f'{origin!r} is not an origin (http[s]://host[:port])')
        return value

    @field_validator('camera_topic')
    @classmethod
    def _absolute_topic(cls, value: str) -> str:
        if not value.startswith('/'):
            raise ValueError(f"topic {value!r} must start with '/'")
        return value

    @model_validator(mode='after')
    def _consistent(self) -> 'LiveSettings':
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError('tls_cert_file and tls_key_file go together')
        if (self.foxglove and self.dashboard and self.foxglove_port
                and self.foxglove_port == self.dashboard_port):
            raise ValueError(f'foxglove_port and dashboard_port are both {self.dashboard_port}')
        return self


MODULE_NAME = r'^[a-z][a-z0-9_]*$'
ROS_PARAMETER_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')
_PARAM_TYPES = (bool, int, float, str)


def check_parameters(value: Dict[str, Any]) -> Dict[str, Any]:
    """Check ROS parameter names and values (scalars or lists of one scalar type)."""
    for key, item in value.items():
        if not ROS_PARAMETER_NAME.match(str(key)):
            raise ValueError(f'parameter name {key!r} is not a valid ROS parameter name')
        items = item if isinstance(item, list) else [item]
        if not all(isinstance(v, _PARAM_TYPES) for v in items) or \
                (isinstance(item, list) and len({type(v) for v in item}) > 1):
            raise ValueError(f'parameter {key!r}: expected a bool, int, float, string or '
                             f'a list of one of those, got {item!r}')
    return value


class ModuleOverride(_Strict):
    """
    A deployment's settings for one enabled module, applied over its manifest.

    Each key of ``parameters``, ``restart``, ``health`` and ``scheduling`` must be one the
    manifest has (checked against the manifest when the modules are resolved).
    """

    parameters: Dict[str, Any] = {}
    restart: Dict[str, Any] = {}
    health: Dict[str, Any] = {}
    scheduling: Dict[str, Any] = {}

    @field_validator('parameters')
    @classmethod
    def _parameters(cls, value: Dict[str, Any]) -> Dict[str, Any]:
        return check_parameters(value)


class ModulesSettings(_Strict):
    """Module discovery and supervision."""

    search_paths: List[str] = []
    """Folders holding ``<module>/manifest.yaml`` (``package://unity_kernel/modules``: the
    shipped ones)."""
    enabled: List[str] = []
    """Brought up in dependency order; one that is not found fails configure ..."""
    optional: List[str] = []
    """... unless it is listed here too (then it is left out with a warning)."""
    overrides: Dict[str, ModuleOverride] = {}
    """Per enabled module: parameters, restart, health and scheduling settings over its
    manifest."""

    @field_validator('enabled', 'optional')
    @classmethod
    def _names(cls, value: List[str]) -> List[str]:
        for name in value:
            if not isinstance(name, str) or not re.match(MODULE_NAME, name):
                raise ValueError(f'{name!r} is not a module name ([a-z][a-z0-9_]*)')
        return value


@dataclasses.dataclass(frozen=True)
class TopicRoute:
    """
    Everything the kernel decides about one topic, resolved once and carried by value.

    ``rule`` is the first topic rule matching the topic (excludes not applied), ``intake``
    whether the kernel subscribes to it (a rule matches and no exclude does), ``tier`` and
    ``qos`` the tier's and its subscriptions' starting QoS, and ``mirror``/``maxlen``/
    ``max_age_s`` how the audit mirror keeps it (every event on the bus is audited, excluded
    or not).
    """

    topic: str
    rule: Optional['TopicRule']
    intake: bool
    tier: Tier
    qos: QosSettings
    mirror: bool
    maxlen: Optional[int]
    max_age_s: Optional[float]


class TopicRoutes:
    """Resolve topics to :class:`TopicRoute` (one config's rules; cached per topic)."""

    _CACHE_MAX = 65536

    def __init__(self, config: 'KernelConfig') -> None:
        self._config = config
        self._rules = [(r.pattern, r) for r in config.topics]
        self._cache: Dict[str, TopicRoute] = {}

    def __call__(self, topic: str) -> TopicRoute:
        """Return the route of ``topic``."""
        found = self._cache.get(topic)
        if found is None:
            found = self._resolve(topic)
            if len(self._cache) < self._CACHE_MAX:
                self._cache[topic] = found
        return found

    def tier(self, topic: str) -> Tier:
        """Return the tier of ``topic`` (the bus's classifier)."""
        return self(topic).tier

    def _resolve(self, topic: str) -> TopicRoute:
        config = self._config
        rule = first_match(self._rules, topic)
        tier = rule.tier if rule is not None else Tier.NORMAL
        return TopicRoute(
            topic=topic, rule=rule, tier=tier, qos=config.tiers[tier].qos,
            intake=rule is not None and not any_match(config.exclude, topic),
            mirror=rule.mirror if rule is not None else True,
            maxlen=(rule.retention_maxlen if rule is not None else None)
            or config.redis.maxlen,
            max_age_s=rule.retention_max_age_s if rule is not None else None)


DEFAULT_EXCLUDE = ('/rosout', '/parameter_events', '/diagnostics', '/diagnostics_agg',
                   '/unity_kernel/**', '/**/transition_event')


class KernelConfig(_Strict):
    """The whole kernel configuration."""

    kernel: KernelSettings = KernelSettings()
    tiers: Dict[Tier, TierSettings] = Field(default_factory=_default_tiers)
    topics: List[TopicRule] = [
        TopicRule(pattern='/safety/**', tier=Tier.CRITICAL),
        TopicRule(pattern='/sensors/**', tier=Tier.HIGH, retention_maxlen=300),
        TopicRule(pattern='/**', tier=Tier.NORMAL),
    ]
    exclude: List[TopicPattern] = list(DEFAULT_EXCLUDE)
    redis: RedisSettings = RedisSettings()
    modules: ModulesSettings = ModulesSettings()
    fleet: FleetSettings = FleetSettings()
    live: LiveSettings = LiveSettings()
    _source: str = PrivateAttr('<defaults>')
    _lines: LineIndex = PrivateAttr(default_factory=dict)

    @field_validator('tiers', mode='before')
    @classmethod
    def _merge_tiers(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError('expected a mapping of tier name to tier settings')
        merged: Dict[Any, Any] = dict(_default_tiers())
        for key, settings in value.items():
            try:
                tier = Tier.parse(key)
            except ValueError as exc:
                raise ValueError(str(exc)) from None
            default = merged[tier]
            if isinstance(settings, Mapping) and isinstance(default, TierSettings):
                # a tier given in the file overrides only the keys it names
                base = default.model_dump(mode='json')
                qos = settings.get('qos')
                combined = {**base, **settings}
                if isinstance(qos, Mapping):
                    combined['qos'] = {**base['qos'], **qos}
                merged[tier] = combined
            else:
                merged[tier] = settings
        return merged

    @model_validator(mode='after')
    def _cluster_needs_robot_id(self) -> 'KernelConfig':
        if self.redis.enabled and self.redis.cluster and not self.kernel.robot_id:
            raise ValueError('redis.cluster: true needs kernel.robot_id (or UNITY_ROBOT_ID): '
                             "a robot's keys share the hash tag {robot_id}")
        if self.redis.enabled and self.redis.cluster and not self.redis.url:
            raise ValueError('redis.cluster: true needs redis.url (or UNITY_REDIS_URL): a '
                             'start-up node of the cluster')
        return self

    @field_serializer('tiers')
    def _tiers_by_name(self, tiers: Dict[Tier, TierSettings]) -> Dict[str, TierSettings]:
        """Dump the tiers keyed by name, as a config file names them (dumps load back)."""
        return {tier.name: settings for tier, settings in tiers.items()}

    # -- helpers ---------------------------------------------------------------------------

    @functools.cached_property
    def routes(self) -> TopicRoutes:
        """Return this config's topic resolver (one per config, cached per topic)."""
        return TopicRoutes(self)

    def model_copy(self, *, update: Optional[Mapping[str, Any]] = None,
                   deep: bool = False) -> 'KernelConfig':
        """Return a copy (with ``update``); the copy resolves its topics afresh."""
        copy = super().model_copy(update=update, deep=deep)
        copy.__dict__.pop('routes', None)
        return copy

    def route(self, topic: str) -> TopicRoute:
        """Return everything decided about ``topic``: rule, intake, tier, QoS, mirroring."""
        return self.routes(topic)

    def tier_for(self, topic: str) -> Tier:
        """Return the tier of ``topic`` (NORMAL when no rule matches)."""
        return self.routes(topic).tier

    def policies(self) -> Dict[Tier, TierPolicy]:
        """Return the bus policies of all tiers."""
        return {tier: s.policy() for tier, s in self.tiers.items()}

    @property
    def source(self) -> str:
        """Return where this config was read from (a file, or ``<defaults>``)."""
        return self._source

    def issue(self, loc: Tuple[Any, ...], message: str) -> ConfigIssue:
        """Return a problem at key path ``loc``, with the file and line it was written on."""
        return ConfigIssue(self._source, lookup_line(self._lines, loc), format_loc(loc),
                           message)


# -- loading --------------------------------------------------------------------------------

def _norm_key(parts: Tuple[Any, ...]) -> Tuple[str, ...]:
    """Normalize a key path so tier keys match in any case."""
    return tuple(p.name if isinstance(p, Tier) else str(p).upper() for p in parts)


def _fix_loc(loc: Tuple[Any, ...]) -> Tuple[Any, ...]:
    if len(loc) > 1 and loc[0] == 'tiers' and isinstance(loc[1], int):
        return ('tiers', Tier(loc[1])) + loc[2:]
    return loc


def _env_overrides(environ: Mapping[str, str]) -> List[Tuple[Tuple[str, ...], Any, str]]:
    out: List[Tuple[Tuple[str, ...], Any, str]] = []
    for name, raw in sorted(environ.items()):
        if name in ENV_ALIASES:
            out.append((ENV_ALIASES[name], raw, name))
        elif name.startswith(ENV_PREFIX):
            keys = tuple(k.lower() for k in name[len(ENV_PREFIX):].split('__') if k)
            if keys:
                try:
                    value = yaml.safe_load(raw) if raw != '' else None
                except yaml.YAMLError:
                    value = raw
                out.append((keys, value, name))
    return out


def _apply_override(data: Dict[str, Any], keys: Tuple[str, ...], value: Any,
                    source: str) -> None:
    node: Any = data
    for key in keys[:-1]:
        if key in ('tiers',) or isinstance(node, dict) and key.upper() in {t.name for t in Tier}:
            key = key if key == 'tiers' else key.upper()
        nxt = node.get(key) if isinstance(node, dict) else None
        if nxt is None:
            nxt = {}
            node[key] = nxt
        if not isinstance(nxt, dict):
            raise ConfigError([ConfigIssue(source, None, '.'.join(keys),
                                           f'cannot override inside non-mapping {key!r}')])
        node = nxt
    last = keys[-1]
    if isinstance(node, dict) and last.upper() in {t.name for t in Tier} and 'tiers' in keys:
        last = last.upper()
    node[last] = value


#: Every path of the config: (section, key); resolved against the config file's folder.
PATH_KEYS: Tuple[Tuple[str, str], ...] = (
    ('kernel', 'state_dir'), ('modules', 'search_paths'), ('redis', 'password_file'),
    ('redis', 'tls_ca_file'), ('redis', 'tls_cert_file'), ('redis', 'tls_key_file'),
    ('live', 'token_file'), ('live', 'tls_cert_file'), ('live', 'tls_key_file'))


def _resolve_paths(data: Dict[str, Any], base: pathlib.Path, source: str,
                   lines: LineIndex) -> List[ConfigIssue]:
    """Resolve the paths in ``data`` (in place) against ``base``; return the unresolvable."""
    issues = []
    for section, key in PATH_KEYS:
        values = data.get(section)
        if not isinstance(values, dict) or values.get(key) is None:
            continue  # absent, or not a mapping: the schema reports what is wrong
        raw = values[key]
        items = list(enumerate(raw)) if isinstance(raw, list) else [(None, raw)]
        for index, item in items:
            if not isinstance(item, str) or not item.strip():
                continue  # not a path, or empty: the schema reports what is wrong
            loc = (section, key) if index is None else (section, key, index)
            if '\0' in item:
                issues.append(ConfigIssue(source, lookup_line(lines, loc), format_loc(loc),
                                          'a path cannot hold a NUL character'))
                continue
            try:
                if expand_user(os.path.expandvars(item)).is_absolute():
                    continue  # absolute (or ~/...): kept as written, expanded where used
                resolved = str(resolve_path(item, base))
            except FileNotFoundError as exc:
                issues.append(ConfigIssue(source, lookup_line(lines, loc), format_loc(loc),
                                          str(exc)))
                continue
            if index is None:
                values[key] = resolved
            else:
                raw[index] = resolved
    return issues


def _cross_checks(config: KernelConfig) -> List[ConfigIssue]:
    """Return what the schema cannot see key by key: names that must refer to each other."""
    modules = config.modules
    enabled = set(modules.enabled)
    issues = []
    for i, name in enumerate(modules.optional):
        if name not in enabled:
            issues.append(config.issue(('modules', 'optional', i), f'{name!r} is not in '
                                       'modules.enabled (optional names enabled modules '
                                       'that may be missing)'))
    for name in modules.overrides:
        if name not in enabled:
            known = ', '.join(modules.enabled) or 'none'
            issues.append(config.issue(('modules', 'overrides', name), f'{name!r} is not an '
                                       f'enabled module (modules.enabled: {known})'))
    return issues


def parse_config(text: str, source: str = '<string>',
                 environ: Optional[Mapping[str, str]] = None,
                 base: Optional[pathlib.Path] = None) -> KernelConfig:
    """
    Parse and validate configuration text (YAML or JSON); raise ConfigError with every issue.

    ``environ`` (default: none) supplies ``UNITY_KERNEL__...`` / ``UNITY_REDIS_URL`` overrides.
    ``base``: the folder relative paths are resolved against (None: paths are left as
    written).
    """
    data, lines = parse_document(text, source)
    overrides = _env_overrides(environ or {})
    for keys, value, name in overrides:
        _apply_override(data, keys, value, f'environment variable {name}')

    def env_source(loc: Tuple[Any, ...]) -> Optional[str]:
        env = next((n for k, _v, n in overrides
                    if len(loc) >= len(k) and _norm_key(tuple(k)) == _norm_key(loc[:len(k)])),
                   None)
        return f'environment variable {env}' if env else None

    path_issues = _resolve_paths(data, base, source, lines) if base is not None else []
    try:
        config = KernelConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path_issues + validation_issues(
            exc, source, lines, fix_loc=_fix_loc, norm_key=_norm_key,
            where=env_source)) from None
    config._source = source
    config._lines = lines
    issues = path_issues + _cross_checks(config)
    if issues:
        raise ConfigError(issues)
    return config


def load_config(path: 'str | os.PathLike[str] | None',
                environ: Optional[Mapping[str, str]] = None) -> KernelConfig:
    """
    Load a config file (None: the built-in defaults); ``environ`` defaults to os.environ.

    Relative paths in the file are resolved against the file's folder. ``path`` may be a
    ``package://<package>/<path>`` URL, as ROS users write it (``config:=package://...``).
    """
    env = os.environ if environ is None else environ
    if path is None:
        return parse_config('', '<defaults>', env)
    if isinstance(path, str) and path.startswith(PACKAGE_URL):
        try:
            p = resolve_path(path, None)
        except FileNotFoundError as exc:
            raise ConfigError([ConfigIssue(path, None, '', str(exc))]) from None
    else:
        try:
            p = expand_user(path)
        except FileNotFoundError as exc:
            raise ConfigError([ConfigIssue(str(path), None, '', str(exc))]) from None
    return parse_config(read_text(p), str(p), env, base=p.resolve().parent)
