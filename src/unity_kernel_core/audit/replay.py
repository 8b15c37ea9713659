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
Replay audit records onto DDS with their original types and bytes.

Pacing is plain Python (:func:`pace`): at the original timing (``rate=1``), faster or slower
by a factor, or as fast as possible (``rate=0``). Every record is checked before it is sent:
its type must import and its CDR must decode as that type; a record that fails is reported
(``on_error``) and skipped, so one bad entry never stops a replay.
"""

import dataclasses
import time
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Tuple

from unity_kernel_core.audit.record import AuditRecord
from unity_kernel_core.errors import MessageTypeError
from unity_kernel_core.ros import message_types


@dataclasses.dataclass
class ReplayReport:
    """What a replay or an export did: records sent (written) and skipped (reported)."""

    sent: int = 0
    skipped: int = 0

    def skip(self, record: AuditRecord, error: object,
             on_error: Optional[Callable[[str], None]]) -> None:
        """Count a record that is not sent and report why (``on_error``), keeping nothing."""
        self.skipped += 1
        if on_error is not None:
            on_error(f'{record.topic} entry {record.entry_id}: {error}')


def pace(records: Iterable[AuditRecord], rate: float,
         sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.monotonic) -> Iterator[AuditRecord]:
    """Yield records at their original spacing divided by ``rate`` (0: no waiting)."""
    first_stamp: Optional[int] = None
    start = 0.0
    for record in records:
        if rate > 0:
            if first_stamp is None:
                first_stamp, start = record.stamp_ns, clock()
            due = start + (record.stamp_ns - first_stamp) / 1e9 / rate
            delay = due - clock()
            if delay > 0:
                sleep(delay)
        yield record


def check(record: AuditRecord) -> None:
    """Raise MessageTypeError unless the record's type imports and its bytes decode."""
    message_types.deserialize(record.cdr, record.type_name)


class DdsPublisher:
    """Publish raw CDR on topics of an rclpy node, one publisher per topic (reliable)."""

    def __init__(self, node: Any, depth: int = 1000) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        self._node = node
        self._qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
        self._pubs: Dict[str, Tuple[str, Any]] = {}

    def publisher(self, topic: str, type_name: str) -> Any:
        """
        Return the publisher of ``topic`` (created on first use, with ``type_name``).

        Raise MessageTypeError when the type does not import, the topic is no valid ROS name,
        or the topic already has a publisher of another type.
        """
        found = self._pubs.get(topic)
        if found is None:
            cls = message_types.import_message_type(type_name)
            try:
                found = (type_name, self._node.create_publisher(cls, topic, self._qos))
            except Exception as exc:  # rclpy's own types: an invalid topic name, QoS
                raise MessageTypeError(f'cannot publish on {topic!r}: {exc}') from None
            self._pubs[topic] = found
        elif found[0] != type_name:
            raise MessageTypeError(f'{topic} is replayed as {found[0]}, this entry is '
                                   f'{type_name}')
        return found[1]

    def wait_for_subscribers(self, count: int, timeout: float) -> bool:
        """Wait until every publisher has ``count`` subscribers; False on timeout."""
        deadline = time.monotonic() + timeout
        while any(p.get_subscription_count() < count for _t, p in self._pubs.values()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def __call__(self, record: AuditRecord) -> None:
        """Publish one record's bytes."""
        self.publisher(record.topic, record.type_name).publish(record.cdr)


def replay(records: Iterable[AuditRecord], send: Callable[[AuditRecord], None], rate: float,
           on_sent: Optional[Callable[[AuditRecord], None]] = None,
           on_error: Optional[Callable[[str], None]] = None,
           report: Optional[ReplayReport] = None) -> ReplayReport:
    """Check, pace and send records; return the counts (skipped ones go to ``on_error``)."""
    report = report if report is not None else ReplayReport()
    for record in pace(records, rate):
        try:
            check(record)
            send(record)
        except MessageTypeError as exc:
            report.skip(record, exc, on_error)
            continue
        report.sent += 1
        if on_sent is not None:
            on_sent(record)
    return report
