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
Who may do what on the live view: the token, the ``Host`` and the ``Origin`` of a request.

Pure (no sockets): the dashboard asks ``Gate.http`` before routing any request and the
Foxglove server asks ``Gate.websocket`` at the handshake; both answer with a ``Refusal``
(HTTP status and reason) or let the request in. The rules (docs/live_view.md, *Security*):

- **Token**: one per start (``generate_token``) unless one is configured; compared in
  constant time. Reading needs it off loopback only; mutating always needs it.
- **Host** (DNS rebinding): the request must name this server: a loopback name, the host it
  is bound to, one of ``live.allowed_hosts``, or, when bound to every address, an IP address
  (a rebinding page always uses a name). The port is not compared (tunnels change it).
  Requests without ``Host`` come from no browser and pass.
- **Origin** on the dashboard: when present it must be the dashboard's own (what its page
  sends); no other site's page may call it.
- **Origin** on the WebSocket: none (a program: Node, Python), a page served from a loopback
  name or from the server's host, or one of ``live.allowed_origins`` (by default the Foxglove
  web app, ``https://app.foxglove.dev``) may connect; ``null`` (the Foxglove desktop app, a
  ``file://`` page, but also a sandboxed frame of any site) only with the token; any other
  site is refused.
"""

import dataclasses
import hmac
import ipaddress
import secrets
from typing import Iterable, Optional, Tuple
import urllib.parse

from unity_kernel_core.config.kernel_config import is_loopback

#: Bytes of randomness in a generated token (URL-safe base64 text of 43 characters).
TOKEN_BYTES = 32
_WILDCARDS = ('0.0.0.0', '::')


def generate_token() -> str:
    """Return a new random token for this start (URL-safe: no escaping needed anywhere)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_ok(expected: str, given: Optional[str]) -> bool:
    """Compare a presented token with the expected one in constant time."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode('utf-8', 'surrogateescape'),
                               given.encode('utf-8', 'surrogateescape'))


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Why a request is refused and the HTTP status that says so."""

    status: int
    reason: str


@dataclasses.dataclass(frozen=True)
class Visitor:
    """What a request presents: its ``Host`` and ``Origin`` headers and a token (or None)."""

    host: Optional[str] = None
    origin: Optional[str] = None
    token: Optional[str] = None


MISSING_TOKEN = 'missing or wrong token'


def split_host(value: str) -> Optional[str]:
    """Return the host name or address of a ``Host`` value (no port, lower case), or None."""
    value = value.strip().lower()
    if value.startswith('['):  # [v6]:port
        end = value.find(']')
        return value[1:end] if end > 0 else None
    if value.count(':') > 1:  # a bare IPv6 address (no port)
        return value
    host = value.partition(':')[0]
    return host.rstrip('.') or None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def loopback_name(host: str) -> bool:
    """Return True for ``localhost``, ``*.localhost`` and loopback addresses."""
    return host == 'localhost' or host.endswith('.localhost') or is_loopback(host)


class Gate:
    """The access rules of one live view server (see the module docstring)."""

    def __init__(self, token: str, *, bound_host: str, allowed_hosts: Iterable[str] = (),
                 allowed_origins: Iterable[str] = ()) -> None:
        if not token:
            raise ValueError('the live view needs a token (generate one per start)')
        self.token = token
        self.loopback = is_loopback(bound_host)
        self._wildcard = bound_host in _WILDCARDS
        self._hosts = {bound_host.lower()} | {h.lower() for h in allowed_hosts}
        self._origins = {o.rstrip('/').lower() for o in allowed_origins}

    # -- parts -------------------------------------------------------------------------------

    def host_allowed(self, value: Optional[str]) -> bool:
        """Return True when a ``Host`` header names this server (or is absent)."""
        if value is None:
            return True
        host = split_host(value)
        if host is None:
            return False
        return (loopback_name(host) or host in self._hosts
                or (self._wildcard and _is_ip(host)))

    def _host_refusal(self, visitor: Visitor) -> Optional[Refusal]:
        if self.host_allowed(visitor.host):
            return None
        return Refusal(403, f'Host {_quote(visitor.host)} is not a name of this server (add '
                       'it to live.allowed_hosts)')

    def _origin_host(self, origin: str) -> Optional[str]:
        parts = urllib.parse.urlsplit(origin)
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            return None
        return parts.hostname

    # -- decisions ---------------------------------------------------------------------------

    def http(self, visitor: Visitor, mutating: bool) -> Optional[Refusal]:
        """Decide a dashboard request: None lets it in, else the refusal to send."""
        refusal = self._host_refusal(visitor)
        if refusal is not None:
            return refusal
        if visitor.origin is not None:
            own = urllib.parse.urlsplit(visitor.origin.strip())
            if own.scheme not in ('http', 'https') or visitor.host is None or \
                    own.netloc.lower() != visitor.host.strip().lower():
                return Refusal(403, f'Origin {_quote(visitor.origin)} is not this dashboard')
        if (mutating or not self.loopback) and not token_ok(self.token, visitor.token):
            return Refusal(401, MISSING_TOKEN)
        return None

    def websocket(self, visitor: Visitor) -> Tuple[Optional[Refusal], bool]:
        """Decide a WebSocket handshake: (refusal or None, whether it may mutate)."""
        refusal = self._host_refusal(visitor)
        if refusal is not None:
            return refusal, False
        authorized = token_ok(self.token, visitor.token)
        origin = visitor.origin.strip() if visitor.origin is not None else None
        if origin is not None and not self._origin_allowed(origin):
            if origin.lower() != 'null':
                return Refusal(403, f'Origin {_quote(origin)} may not connect (add it to '
                                    'live.allowed_origins)'), False
            if not authorized:  # a file:// page, or a sandboxed frame of any site
                return Refusal(401, 'Origin null: connect with the token'), False
        if not self.loopback and not authorized:
            return Refusal(401, MISSING_TOKEN), False
        return None, authorized

    def _origin_allowed(self, origin: str) -> bool:
        if origin.rstrip('/').lower() in self._origins:
            return True
        host = self._origin_host(origin)
        return host is not None and (loopback_name(host) or host in self._hosts)


def _quote(value: Optional[str]) -> str:
    """Return a header value fit for a message: printable ASCII, at most 80 characters."""
    text = ''.join(c if ' ' <= c <= '~' else '?' for c in (value or ''))
    return repr(text[:80] + ('...' if len(text) > 80 else ''))
