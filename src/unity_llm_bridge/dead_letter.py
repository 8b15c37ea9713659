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
Where requests go that no model could answer: a dead-letter sink.

:class:`RedisDeadLetters` appends one entry per failed request to the Redis stream
``<prefix>:dlq`` (the kernel's dead-letter stream; ``XADD`` with an approximate ``MAXLEN``).
Entry fields: ``source`` (``llm_bridge``), ``topic``, ``reason``, ``error``, ``id`` and
``payload`` (the request as JSON), ``stamp_ns``. Without Redis the failure is only logged.
"""

import json
import logging
import time
from typing import Any, Dict, Protocol

_log = logging.getLogger('unity_kernel.llm_bridge')


class DeadLetterSink(Protocol):
    """Receives requests that failed for good."""

    def put(self, request: Dict[str, Any], topic: str, reason: str, error: str) -> None:
        """Record one failed request."""

    def close(self) -> None:
        """Release connections."""


class LogDeadLetters:
    """No dead-letter stream configured: log the failure (the error topic has it too)."""

    def put(self, request: Dict[str, Any], topic: str, reason: str, error: str) -> None:
        _log.warning(f'dead letter (no redis configured): {reason}: {error}')

    def close(self) -> None:
        pass


class RedisDeadLetters:
    """Append failed requests to the Redis stream ``<prefix>:dlq``."""

    def __init__(self, client: Any, prefix: str, maxlen: int) -> None:
        self._redis = client
        self.key = f'{prefix}:dlq'
        self._maxlen = maxlen

    def put(self, request: Dict[str, Any], topic: str, reason: str, error: str) -> None:
        fields = {'source': 'llm_bridge', 'topic': topic, 'reason': reason, 'error': error,
                  'id': str(request.get('id', '')),
                  'payload': json.dumps(request, ensure_ascii=False, default=str),
                  'stamp_ns': str(time.time_ns())}
        self._redis.xadd(self.key, fields, maxlen=self._maxlen, approximate=True)

    def close(self) -> None:
        self._redis.close()
