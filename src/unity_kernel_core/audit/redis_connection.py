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
Connect to Redis from the ``redis`` config section: URL, ACL user, password, TLS.

The URL may be ``redis://[user[:password]@]host:port/db``, ``rediss://...`` (TLS) or
``unix:///path/redis.sock``. The password is taken, first found wins, from the environment
variable named by ``redis.password_env`` (default ``UNITY_REDIS_PASSWORD``), the file
``redis.password_file`` (first line), or the URL (read by
:func:`unity_kernel_core.common.credentials.read_secret`). Secrets never reach a log line:
messages show a URL through :func:`unity_kernel_core.common.credentials.redact_url`.

With ``redis.cluster: true`` the client is redis-py's :class:`redis.RedisCluster`, the URL
one start-up node (the others are discovered, and every node is tried when the slot map is
refreshed); ACL user, password and TLS apply to every node. Connections are made here only,
so a writer works the same wherever it runs.
"""

from typing import Any, Dict, List, Mapping, Optional, Union
import urllib.parse

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode
import redis.exceptions
from redis.retry import Retry

from unity_kernel_core.audit.record import AuditError
from unity_kernel_core.common.credentials import check_tls_files, read_secret, redact_url
from unity_kernel_core.common.credentials import refuse_passphrase
from unity_kernel_core.config.kernel_config import RedisSettings


def resolve_password(settings: RedisSettings,
                     environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """Return the password from the environment or the password file (None: use the URL)."""
    return read_secret(settings.password_env, settings.password_file,
                       env_key='redis.password_env', file_key='redis.password_file',
                       environ=environ)


Client = Union['redis.Redis', 'redis.RedisCluster']


class ClusterUnreachable(AuditError):
    """No node of the Redis Cluster answered (the caller may try again later)."""


#: Errors after which Redis (or the part of the cluster holding a key) may answer again.
TRANSIENT_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError,
                    redis.exceptions.RedisClusterException, redis.exceptions.ClusterError)

#: Error replies saying the cluster is moving a slot or electing a master: retry later.
_CLUSTER_REPLIES = ('MOVED', 'ASK', 'TRYAGAIN', 'CLUSTERDOWN', 'READONLY')


def is_cluster_reply(error: BaseException) -> bool:
    """Return True for an error reply meaning the cluster's slot map changed or is changing."""
    return str(error).startswith(_CLUSTER_REPLIES)


def node_for(client: Client, key: str) -> 'redis.Redis':
    """Return the client of the node serving ``key`` (the client itself for one server)."""
    if isinstance(client, redis.RedisCluster):
        return client.get_redis_connection(client.get_node_from_key(key))
    return client


def refresh_slots(client: Client) -> None:
    """Re-read a cluster's slot map from any node that answers (nothing for one server)."""
    if isinstance(client, redis.RedisCluster):
        client.nodes_manager.initialize()


def connected_replicas(node: 'redis.Redis') -> int:
    """Return how many replicas are connected to the master ``node`` (ROLE)."""
    role: Any = node.execute_command('ROLE')
    kind = role[0].decode() if isinstance(role[0], bytes) else str(role[0])
    return len(role[2]) if kind == 'master' else 0


def connect(settings: RedisSettings, url: Optional[str] = None,
            environ: Optional[Mapping[str, str]] = None) -> Client:
    """
    Return a client for ``url`` (default ``settings.url``).

    One server: no I/O happens yet. A cluster (``settings.cluster``): the slot map is read
    from the start-up node here; AuditError when no node answers.
    """
    target = url or settings.url
    if not target:
        raise AuditError('no Redis URL: set redis.url or UNITY_REDIS_URL')
    scheme = urllib.parse.urlsplit(target).scheme
    if scheme not in ('redis', 'rediss', 'unix'):
        raise AuditError(f'unsupported Redis URL scheme {scheme!r} in {redact_url(target)}: '
                         'expected redis://, rediss:// or unix://')
    kwargs: Dict[str, Any] = {
        'socket_connect_timeout': settings.connect_timeout_s,
        'socket_timeout': settings.socket_timeout_s,
        'retry': Retry(NoBackoff(), 0),
        'health_check_interval': 0,
    }
    if settings.username:
        kwargs['username'] = settings.username
    password = resolve_password(settings, environ)
    if password is not None:
        kwargs['password'] = password
    if scheme == 'rediss':
        kwargs['ssl_cert_reqs'] = 'required' if settings.tls_verify else 'none'
        kwargs['ssl_password'] = refuse_passphrase  # never a prompt on the terminal
        files = check_tls_files({f'redis.{key}': getattr(settings, key) for key in (
            'tls_ca_file', 'tls_cert_file', 'tls_key_file')})
        for key, arg in (('tls_ca_file', 'ssl_ca_certs'), ('tls_cert_file', 'ssl_certfile'),
                         ('tls_key_file', 'ssl_keyfile')):
            if f'redis.{key}' in files:
                kwargs[arg] = files[f'redis.{key}']
    elif any(getattr(settings, k) for k in ('tls_ca_file', 'tls_cert_file', 'tls_key_file')):
        raise AuditError(f'TLS files are configured but {redact_url(target)} is not '
                         'rediss://')
    if settings.cluster:
        return _connect_cluster(target, settings.cluster_nodes, kwargs)
    try:
        return redis.Redis.from_url(target, **kwargs)
    except ValueError as exc:
        raise AuditError(f'bad Redis URL {redact_url(target)}: {exc}') from None


def _connect_cluster(target: str, nodes: List[str],
                     kwargs: Dict[str, Any]) -> 'redis.RedisCluster':
    if urllib.parse.urlsplit(target).scheme == 'unix':
        raise AuditError(f'redis.cluster needs a redis:// or rediss:// start-up node, not '
                         f'{redact_url(target)}')
    kwargs.pop('health_check_interval', None)
    if nodes:
        kwargs['startup_nodes'] = [ClusterNode(host, int(port)) for host, _s, port in
                                   (n.rpartition(':') for n in nodes)]
    try:
        return redis.RedisCluster.from_url(target, **kwargs)
    except ValueError as exc:
        raise AuditError(f'bad Redis URL {redact_url(target)}: {exc}') from None
    except TRANSIENT_ERRORS + (redis.ResponseError,) as exc:
        raise ClusterUnreachable(f'Redis Cluster at {redact_url(target)}: {exc}') from None
