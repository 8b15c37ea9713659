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
The provider interface and what the HTTP backends share: client, timeouts, keys, errors.

A provider is created from a :class:`~unity_llm_bridge.config.ModelSettings`, opened with
``connect()`` (builds the HTTP client, reads the API key) and released with ``close()``.
``chat()`` is blocking and thread-safe: the bridge calls it from its worker threads. Every
call honours the model's timeouts: ``connect_timeout_s`` to connect, ``read_timeout_s`` of
silence, and ``request_timeout_s`` for the whole answer (checked at every received chunk).
The API key is sent as a bearer token and never logged or shown in errors.

What a server answers is read bounded (:meth:`HttpProvider._stream_lines`): a line of at most
:data:`MAX_LINE_BYTES` (a streamed event, or a whole JSON answer), an error body cut to
:data:`MAX_ERROR_BODY`; compression is not asked for. Its JSON is read with
:func:`~unity_kernel_core.config.documents.loads_json`'s limits and walked with
:func:`field` and :func:`count`, so an answer of any shape is a :class:`ProviderError`
(``protocol``), never another exception.
"""

import codecs
import dataclasses
import math
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Protocol

import httpx

from unity_kernel_core.common.credentials import read_secret
from unity_kernel_core.config.documents import loads_json, MAX_DOCUMENT_BYTES
from unity_llm_bridge.config import ModelSettings
from unity_llm_bridge.errors import OutputRejected, ProviderError

Messages = List[Dict[str, str]]
DeltaCallback = Callable[[str], None]
MAX_ERROR_BODY = 300
MAX_LINE_BYTES = MAX_DOCUMENT_BYTES
"""Longest line of an answer, and longest whole answer that is not streamed (1 MiB)."""


def field(data: Any, *keys: Any) -> Any:
    """Return ``data[k1][k2]...`` of JSON, or None when a level is missing or of another kind."""
    for key in keys:
        if isinstance(key, int):
            data = data[key] if isinstance(data, list) and -len(data) <= key < len(data) \
                else None
        else:
            data = data.get(key) if isinstance(data, dict) else None
    return data


def count(value: Any, default: int) -> int:
    """Return a token count a server reported, or ``default`` when it is not a count."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    if not math.isfinite(value) or not 0 <= value < 2 ** 53:
        return default
    return int(value)


@dataclasses.dataclass
class Completion:
    """One model answer with its usage (tokens estimated when the server does not say)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    usage_reported: bool
    latency_s: float
    chunks: int = 0


class Provider(Protocol):
    """What the bridge needs from a model backend."""

    name: str
    settings: ModelSettings

    def connect(self) -> None:
        """Open the HTTP client (no request is sent)."""

    def close(self) -> None:
        """Close the client; calls in flight fail with ProviderError('closed')."""

    def chat(self, messages: Messages, *, json_mode: bool = False,
             on_delta: Optional[DeltaCallback] = None,
             max_chars: Optional[int] = None) -> Completion:
        """Send chat messages; stream deltas to ``on_delta`` when given; return the answer."""

    def list_models(self) -> List[str]:
        """Return the model names the server offers."""


def read_api_key(name: str, settings: ModelSettings) -> Optional[str]:
    """Return the API key of a model from its environment variable or file (never logged)."""
    return read_secret(settings.api_key_env, settings.api_key_file,
                       env_key=f'models.{name}.api_key_env',
                       file_key=f'models.{name}.api_key_file',
                       required=bool(settings.api_key_env or settings.api_key_file))


class HttpProvider:
    """Shared machinery of the HTTP backends; subclasses build requests and parse answers."""

    def __init__(self, name: str, settings: ModelSettings) -> None:
        self.name = name
        self.settings = settings
        self._client: Optional[httpx.Client] = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.name!r}, {self.settings.base_url!r})'

    # -- lifecycle -------------------------------------------------------------------------

    def connect(self) -> None:
        s = self.settings
        headers = {'Accept': 'application/json', 'Accept-Encoding': 'identity'}
        key = read_api_key(self.name, s)
        if key:
            headers['Authorization'] = f'Bearer {key}'
        timeout = httpx.Timeout(connect=s.connect_timeout_s,
                                read=min(s.read_timeout_s, s.request_timeout_s),
                                write=s.request_timeout_s, pool=s.request_timeout_s)
        limits = httpx.Limits(max_connections=s.max_concurrency,
                              max_keepalive_connections=s.max_concurrency)
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = httpx.Client(base_url=s.base_url.rstrip('/'), headers=headers,
                                        timeout=timeout, limits=limits, trust_env=False)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- requests --------------------------------------------------------------------------

    def _require_client(self) -> httpx.Client:
        client = self._client
        if client is None:
            raise ProviderError(self.name, 'closed', 'provider is not connected')
        return client

    def _get_json(self, path: str) -> Any:
        text = self.read_all(self._stream_lines(path, None, method='GET'))
        try:
            return loads_json(text)
        except ValueError as exc:
            raise ProviderError(self.name, 'protocol', f'GET {path}: answer is not usable '
                                f'JSON ({exc})') from None

    def read_all(self, lines: Iterator[str]) -> str:
        """Return a whole answer that is not streamed; ProviderError beyond MAX_LINE_BYTES."""
        parts: List[str] = []
        size = 0
        for line in lines:
            size += len(line) + 1
            if size > MAX_LINE_BYTES:
                raise ProviderError(self.name, 'protocol', f'answer larger than '
                                    f'{MAX_LINE_BYTES} bytes')
            parts.append(line)
        return '\n'.join(parts)

    def _stream_lines(self, path: str, body: Optional[Dict[str, Any]],
                      method: str = 'POST') -> Iterator[str]:
        """
        Send the request and yield the answer's lines, bounded in size and time.

        Each line is at most :data:`MAX_LINE_BYTES` (a server sending a longer one, or bytes
        without an end of line, fails as ``protocol`` once it has sent that much); the
        request deadline is checked at every chunk received and every line yielded.
        """
        deadline = time.monotonic() + self.settings.request_timeout_s
        client = self._require_client()
        try:
            with client.stream(method, path, json=body) as response:
                if response.status_code >= 400:
                    head = self._head(response, MAX_ERROR_BODY)
                    raise ProviderError(self.name, 'http', f'{method} {path}: HTTP '
                                        f'{response.status_code}: '
                                        f'{head.decode("utf-8", "replace").strip()}',
                                        response.status_code)
                decoder = _decoder(response)
                pending = bytearray()
                for chunk in response.iter_bytes():
                    self._check(deadline)
                    pending += chunk
                    while (end := pending.find(b'\n')) >= 0:
                        line = decoder(bytes(pending[:end]).rstrip(b'\r'))
                        del pending[:end + 1]
                        yield line
                        self._check(deadline)
                    if len(pending) > MAX_LINE_BYTES:
                        raise ProviderError(self.name, 'protocol', f'{method} {path}: answer '
                                            f'line longer than {MAX_LINE_BYTES} bytes')
                if pending:
                    yield decoder(bytes(pending).rstrip(b'\r'))
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        except RuntimeError as exc:  # httpx: 'the client has been closed'
            raise ProviderError(self.name, 'closed', str(exc)) from None

    def _check(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise ProviderError(self.name, 'timeout', 'no complete answer within '
                                f'request_timeout_s={self.settings.request_timeout_s}')
        if self._client is None:
            raise ProviderError(self.name, 'closed', 'provider closed during call')

    @staticmethod
    def _head(response: httpx.Response, limit: int) -> bytes:
        """Return at most ``limit`` bytes of the body (the rest is not read)."""
        head = bytearray()
        for chunk in response.iter_bytes():
            head += chunk
            if len(head) >= limit:
                break
        return bytes(head[:limit])

    def _transport_error(self, exc: httpx.HTTPError) -> ProviderError:
        s = self.settings
        if isinstance(exc, httpx.ConnectTimeout):
            return ProviderError(self.name, 'timeout', f'connect timeout after '
                                 f'{s.connect_timeout_s}s to {s.base_url}')
        if isinstance(exc, httpx.TimeoutException):
            return ProviderError(self.name, 'timeout', f'no data for read_timeout_s='
                                 f'{min(s.read_timeout_s, s.request_timeout_s)} from '
                                 f'{s.base_url}')
        if isinstance(exc, httpx.ConnectError):
            return ProviderError(self.name, 'connect', f'cannot connect to {s.base_url}: {exc}')
        return ProviderError(self.name, 'protocol', f'{type(exc).__name__}: {exc}')

    def _parse(self, line: str, what: str) -> Dict[str, Any]:
        try:
            data = loads_json(line)
        except ValueError as exc:
            raise ProviderError(self.name, 'protocol', f'{what} is not usable JSON ({exc}): '
                                f'{line[:MAX_ERROR_BODY]!r}') from None
        if not isinstance(data, dict):
            raise ProviderError(self.name, 'protocol', f'{what} is not a JSON object')
        if 'error' in data and data['error']:
            raise ProviderError(self.name, 'http', f'server error: '
                                f'{str(data["error"])[:MAX_ERROR_BODY]}')
        return data


def _decoder(response: httpx.Response) -> Callable[[bytes], str]:
    """Return how to turn a line of ``response`` into text (its charset, else UTF-8)."""
    name = response.charset_encoding or 'utf-8'
    try:
        codecs.lookup(name)
    except LookupError:  # a charset Python does not know: read it as UTF-8
        name = 'utf-8'
    return lambda raw: raw.decode(name, 'replace')


class AnswerBuffer:
    """Collect streamed deltas: forward each one and stop when the answer grows too long."""

    def __init__(self, on_delta: Optional[DeltaCallback], max_chars: Optional[int]) -> None:
        self.parts: List[str] = []
        self.size = 0
        self.chunks = 0
        self._on_delta = on_delta
        self._max_chars = max_chars

    def add(self, delta: str) -> None:
        """Add one delta (forwarded when streaming); raise OutputRejected when over size."""
        if not delta:
            return
        self.parts.append(delta)
        self.size += len(delta)
        self.chunks += 1
        if self._max_chars is not None and self.size > self._max_chars:
            raise OutputRejected('oversized', f'answer exceeds max_answer_chars '
                                              f'{self._max_chars} (stopped reading)')
        if self._on_delta is not None:
            self._on_delta(delta)

    @property
    def text(self) -> str:
        """Return the answer so far."""
        return ''.join(self.parts)
