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

:class:`RedisDeadLetters` appends one entry per failed request to a Redis stream (by default
``<prefix>:llm:deadletters``; ``XADD`` with an approximate ``MAXLEN``) made by the kernel's
own :func:`unity_kernel_core.audit.dead_letter_fields`, so ``unity-kernel dlq`` lists,
retries and drops both. The event is the request: on the bridge's request topic, its JSON as
a ``std_msgs/msg/String`` (publishing it again resubmits the request); the handler is
``llm_bridge``, the attempts the models tried; ``reason``, ``request_id`` and ``route`` are
added. The kernel's mirror writes ``<prefix>:deadletters`` with explicit entry IDs, so
the bridge keeps its own stream. Without Redis the failure is only logged (the error topic
has it too).
"""

import json
import logging
import time
from typing import Any, Dict, Protocol

from unity_kernel_core.audit import dead_letter_fields
from unity_kernel_core.ros import message_types

_log = logging.getLogger('unity_kernel.llm_bridge')


class DeadLetterSink(Protocol):
    """Receives requests that failed for good."""

    def put(self, request: Dict[str, Any], reason: str, error: str, route: str = '',
            attempts: int = 0) -> None:
        """Record one failed request (its JSON form) with why it failed."""

    def close(self) -> None:
        """Release connections."""


class LogDeadLetters:
    """No dead-letter stream configured: log the failure."""

    def put(self, request: Dict[str, Any], reason: str, error: str, route: str = '',
            attempts: int = 0) -> None:
        _log.warning(f'dead letter (no redis configured): {reason}: {error}')

    def close(self) -> None:
        pass


class RedisDeadLetters:
    """Append failed requests to a Redis stream, in the kernel's dead-letter format."""

    def __init__(self, client: Any, key: str, maxlen: int, request_topic: str) -> None:
        self._redis = client
        self.key = key
        self._maxlen = maxlen
        self._topic = request_topic

    def put(self, request: Dict[str, Any], reason: str, error: str, route: str = '',
            attempts: int = 0) -> None:
        from std_msgs.msg import String
        now = time.time_ns()
        payload = json.dumps(request, ensure_ascii=False, default=str)
        fields = dead_letter_fields(self._topic, 'std_msgs/msg/String', 'NORMAL', 0, now,
                                    message_types.serialize(String(data=payload)),
                                    handler='llm_bridge', error=error, traceback='',
                                    attempts=attempts, dead_ns=now)
        fields.update({'reason': reason, 'request_id': str(request.get('id', '')),
                       'route': route})
        self._redis.xadd(self.key, fields, maxlen=self._maxlen, approximate=True)

    def close(self) -> None:
        self._redis.close()
