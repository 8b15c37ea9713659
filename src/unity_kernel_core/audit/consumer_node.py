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
The ROS-side consumer helper: a consumer group feeding a ROS node's callback.

``NodeConsumer(node, consumer, callback)`` runs an :class:`~unity_kernel_core.consumer.
AuditConsumer` on its own thread and calls ``callback(topic, message, record)`` with the
deserialized ROS message; the entry is acknowledged when the callback returns (the same
at-least-once guarantee). Failures are logged through the node's logger. The callback runs
on the consumer thread: hand work to the node's executor (e.g. a guard condition) if it
touches entities that are not thread-safe.
"""

import threading
from typing import Any, Callable, Optional

from unity_kernel_core.audit.consumer import AuditConsumer
from unity_kernel_core.audit.record import AuditRecord
from unity_kernel_core.ros import message_types

Callback = Callable[[str, Any, AuditRecord], None]


class NodeConsumer:
    """Run a consumer group member beside a ROS node."""

    def __init__(self, node: Any, consumer: AuditConsumer, callback: Callback) -> None:
        self._node = node
        self._consumer = consumer
        self._callback = callback
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        log = node.get_logger()
        consumer.on_bad = lambda key, entry_id, error: log.error(
            f'audit consumer {consumer.group}: {error} (skipped)')
        consumer.on_failed = lambda record, error: log.error(
            f'audit consumer {consumer.group}: gave up on {record.topic} '
            f'{record.entry_id}: {error}')

    def _handle(self, record: AuditRecord) -> None:
        message = message_types.deserialize(record.cdr, record.type_name)
        self._callback(record.topic, message, record)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consumer.run(self._handle, self._stop.is_set)
            except Exception as exc:  # Redis away: say so, retry, never kill the node
                self._node.get_logger().warning(f'audit consumer: {exc}; retrying in 1 s')
                self._stop.wait(1.0)

    def start(self) -> None:
        """Start consuming on a thread."""
        self._thread = threading.Thread(target=self._run, name='audit-consumer', daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current entry."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
