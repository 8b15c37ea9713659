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
Write audit records to an MCAP file (ROS 2 profile, CDR messages, ``ros2msg`` schemas).

The file reads back with the ``mcap`` / ``mcap-ros2-support`` readers, Foxglove and
``ros2 bag`` (with the MCAP storage plugin). A record whose type or bytes are bad is
reported and skipped, like in a replay.
"""

import pathlib
from typing import Callable, Dict, Iterable, Optional, Tuple

from mcap.writer import Writer

from unity_kernel_core.audit.record import AuditRecord
from unity_kernel_core.audit.replay import check, ReplayReport
from unity_kernel_core.errors import MessageTypeError
from unity_kernel_core.ros.msgdef import full_definition


def export_mcap(records: Iterable[AuditRecord], output: pathlib.Path,
                on_written: Optional[Callable[[AuditRecord], None]] = None,
                definition: Callable[[str], str] = full_definition) -> ReplayReport:
    """Write ``records`` to ``output``; return counts and the errors of skipped records."""
    report = ReplayReport()
    schemas: Dict[str, int] = {}
    channels: Dict[Tuple[str, str], int] = {}
    with open(output, 'wb') as stream:
        writer = Writer(stream)
        writer.start(profile='ros2', library='unity_kernel')
        for record in records:
            try:
                check(record)
                schema_id = schemas.get(record.type_name)
                if schema_id is None:
                    schema_id = writer.register_schema(
                        name=record.type_name, encoding='ros2msg',
                        data=definition(record.type_name).encode())
                    schemas[record.type_name] = schema_id
            except MessageTypeError as exc:
                report.skipped += 1
                report.errors.append(f'{record.topic} entry {record.entry_id}: {exc}')
                continue
            channel_id = channels.get((record.topic, record.type_name))
            if channel_id is None:
                channel_id = writer.register_channel(topic=record.topic, message_encoding='cdr',
                                                     schema_id=schema_id)
                channels[(record.topic, record.type_name)] = channel_id
            writer.add_message(channel_id=channel_id, log_time=record.stamp_ns,
                               data=record.cdr, publish_time=record.stamp_ns,
                               sequence=record.seq & 0xFFFFFFFF)
            report.sent += 1
            if on_written is not None:
                on_written(record)
        writer.finish()
    return report
