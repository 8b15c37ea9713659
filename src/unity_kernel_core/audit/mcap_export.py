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

The file reads back with the ``mcap`` / ``mcap-ros2-support`` readers, Foxglove's
(``@mcap/core`` with ``@foxglove/rosmsg``) and ``ros2 bag`` (with the MCAP storage plugin).
A record whose type or bytes are bad is reported and skipped, like in a replay. Records are
written as they come (chunked, zstd), so memory does not grow with their number, and into a
temporary file beside the output that is renamed over it at the end: an export that fails
half-way leaves no truncated file.
"""

import contextlib
import os
import pathlib
import tempfile
from typing import BinaryIO, Callable, Dict, Iterable, Iterator, Optional, Tuple

from mcap.writer import Writer

from unity_kernel_core.audit.record import AuditRecord
from unity_kernel_core.audit.replay import check, ReplayReport
from unity_kernel_core.errors import MessageTypeError
from unity_kernel_core.ros.msgdef import full_definition

LIBRARY = 'unity_kernel'
SEQUENCE_MASK = 0xFFFFFFFF
"""MCAP's message sequence is 32 bits: the kernel's sequence number, wrapped."""

ChannelMetadata = Callable[[str, str], Dict[str, str]]
"""``(topic, type) -> metadata`` of a new channel (rosbag2's QoS profiles, ...)."""


class McapRecordWriter:
    """
    Write audit records into an MCAP stream.

    One ``ros2msg`` schema per type (from :func:`~unity_kernel_core.ros.msgdef.full_definition`),
    one ``cdr`` channel per topic and type, each record a message logged and published at its
    receive time. ``admit`` may refuse a record that passed the checks (MessageTypeError).
    """

    def __init__(self, stream: BinaryIO, definition: Callable[[str], str] = full_definition,
                 channel_metadata: Optional[ChannelMetadata] = None,
                 admit: Optional[Callable[[AuditRecord], None]] = None) -> None:
        self._writer = Writer(stream)
        self._writer.start(profile='ros2', library=LIBRARY)
        self._definition = definition
        self._channel_metadata = channel_metadata
        self._admit = admit
        self._schemas: Dict[str, int] = {}
        self._channels: Dict[Tuple[str, str], int] = {}

    def write(self, record: AuditRecord) -> None:
        """Write one record; MessageTypeError (nothing written) when its type or bytes are bad."""
        check(record)
        if self._admit is not None:
            self._admit(record)
        channel_id = self._channels.get((record.topic, record.type_name))
        if channel_id is None:
            schema_id = self._schemas.get(record.type_name)
            if schema_id is None:
                schema_id = self._writer.register_schema(
                    name=record.type_name, encoding='ros2msg',
                    data=self._definition(record.type_name).encode())
                self._schemas[record.type_name] = schema_id
            metadata = (self._channel_metadata(record.topic, record.type_name)
                        if self._channel_metadata is not None else {})
            channel_id = self._writer.register_channel(
                topic=record.topic, message_encoding='cdr', schema_id=schema_id,
                metadata=metadata)
            self._channels[(record.topic, record.type_name)] = channel_id
        self._writer.add_message(channel_id=channel_id, log_time=record.stamp_ns,
                                 data=record.cdr, publish_time=record.stamp_ns,
                                 sequence=record.seq & SEQUENCE_MASK)

    def finish(self, metadata: Optional[Tuple[str, Dict[str, str]]] = None) -> None:
        """Write a metadata record ``(name, values)`` if given, then the summary and footer."""
        if metadata is not None:
            self._writer.add_metadata(*metadata)
        self._writer.finish()


def write_records(records: Iterable[AuditRecord], writer: McapRecordWriter,
                  report: ReplayReport, on_written: Optional[Callable[[AuditRecord], None]],
                  on_error: Optional[Callable[[str], None]]) -> None:
    """Write each record, counting it in ``report``; a refused one goes to ``on_error``."""
    for record in records:
        try:
            writer.write(record)
        except MessageTypeError as exc:
            report.skip(record, exc, on_error)
            continue
        report.sent += 1
        if on_written is not None:
            on_written(record)


def default_mode(full: int) -> int:
    """Return ``full`` (0o666 for a file, 0o777 for a folder) less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return full & ~umask


@contextlib.contextmanager
def replaced_at_end(output: pathlib.Path) -> Iterator[BinaryIO]:
    """
    Yield a new temporary file beside ``output``, renamed to ``output`` on success.

    Created with ``O_EXCL`` under an unpredictable name in the output's folder (so the
    rename is atomic); removed if anything fails, so ``output`` is either the whole new file
    or what it was before.
    """
    fd, temp = tempfile.mkstemp(dir=output.parent, prefix=f'.{output.name}.', suffix='.partial')
    try:
        with os.fdopen(fd, 'wb') as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
            os.fchmod(stream.fileno(), default_mode(0o666))
        os.replace(temp, output)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def export_mcap(records: Iterable[AuditRecord], output: pathlib.Path,
                on_written: Optional[Callable[[AuditRecord], None]] = None,
                on_error: Optional[Callable[[str], None]] = None,
                definition: Callable[[str], str] = full_definition) -> ReplayReport:
    """Write ``records`` to the MCAP file ``output``; return the counts."""
    report = ReplayReport()
    with replaced_at_end(output) as stream:
        writer = McapRecordWriter(stream, definition)
        write_records(records, writer, report, on_written, on_error)
        writer.finish()
    return report
