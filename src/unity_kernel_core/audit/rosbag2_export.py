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
Write audit records as a rosbag2 bag: a folder with ``metadata.yaml`` and one MCAP file.

The layout and fields are those of rosbag2's MCAP storage plugin, metadata version 9 (Jazzy,
Kilted): ``<bag>/<bag>_0.mcap`` (the MCAP export's schemas and messages, each channel with
the ``offered_qos_profiles`` and ``topic_type_hash`` metadata the plugin writes, and a
``rosbag2`` metadata record holding the serialized bag metadata) and ``<bag>/metadata.yaml``
(``rosbag2_bagfile_information``: storage ``mcap``, the files, start, duration, message
counts, each topic's type, ``cdr`` and offered QoS profiles). So ``ros2 bag info`` and
``ros2 bag play`` read the folder, and ``rosbags`` reads it as a rosbag2 bag.

A topic's QoS profile is the one the kernel's topic rules give it (its tier's QoS:
reliability, durability, history, depth, deadline, lifespan), which ``ros2 bag play`` offers
when it publishes the topic again. One topic has one type in a bag: an entry whose type
differs from the topic's first one is reported and skipped. The bag is written into a
temporary folder beside the output and renamed to it at the end.
"""

import contextlib
import dataclasses
import os
import pathlib
import shutil
import tempfile
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional

import yaml

from unity_kernel_core.audit.mcap_export import default_mode, McapRecordWriter
from unity_kernel_core.audit.mcap_export import replaced_at_end, write_records
from unity_kernel_core.audit.record import AuditRecord
from unity_kernel_core.audit.replay import ReplayReport
from unity_kernel_core.config.kernel_config import QosSettings
from unity_kernel_core.errors import MessageTypeError
from unity_kernel_core.ros.msgdef import full_definition

METADATA_VERSION = 9
METADATA_FILE = 'metadata.yaml'
STORAGE = 'mcap'
INFINITE = {'sec': 9223372036, 'nsec': 854775807}
"""rmw's infinite duration, as rosbag2 writes it (no deadline, no lifespan, no lease)."""
NO_MESSAGES_START = 2 ** 63 - 1
"""The start rosbag2 gives a bag without messages."""


def duration(ms: Optional[float]) -> Dict[str, int]:
    """Return a QoS duration in rosbag2's form (``None``: infinite)."""
    if ms is None:
        return dict(INFINITE)
    ns = int(round(ms * 1_000_000))
    return {'sec': ns // 1_000_000_000, 'nsec': ns % 1_000_000_000}


def qos_profile(qos: QosSettings) -> Dict[str, Any]:
    """Return one offered QoS profile as rosbag2 writes it (metadata version 9)."""
    return {'history': qos.history, 'depth': qos.depth, 'reliability': qos.reliability,
            'durability': qos.durability, 'deadline': duration(qos.deadline_ms),
            'lifespan': duration(qos.lifespan_ms), 'liveliness': 'automatic',
            'liveliness_lease_duration': dict(INFINITE),
            'avoid_ros_namespace_conventions': False}


def dump(data: Any) -> str:
    """Return YAML in block style, keys in the order given."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


@dataclasses.dataclass
class TopicCount:
    """One topic of the bag: its type, QoS profiles and how many messages it has."""

    type_name: str
    profiles: List[Dict[str, Any]]
    count: int = 0


@dataclasses.dataclass
class BagStats:
    """What the metadata says: the topics, first and last time, messages in all."""

    topics: Dict[str, TopicCount] = dataclasses.field(default_factory=dict)
    first_ns: Optional[int] = None
    last_ns: Optional[int] = None
    count: int = 0

    def add(self, record: AuditRecord) -> None:
        """Count one written record."""
        self.topics[record.topic].count += 1
        self.count += 1
        stamp = record.stamp_ns
        self.first_ns = stamp if self.first_ns is None else min(self.first_ns, stamp)
        self.last_ns = stamp if self.last_ns is None else max(self.last_ns, stamp)

    def information(self, relative_file: str, ros_distro: str) -> Dict[str, Any]:
        """Return the bag metadata (``rosbag2_bagfile_information``'s value)."""
        start = NO_MESSAGES_START if self.first_ns is None else self.first_ns
        span = {'nanoseconds': 0 if self.first_ns is None
                else (self.last_ns or 0) - self.first_ns}
        return {
            'version': METADATA_VERSION,
            'storage_identifier': STORAGE,
            'duration': span,
            'starting_time': {'nanoseconds_since_epoch': start},
            'message_count': self.count,
            'topics_with_message_count': [
                {'topic_metadata': {'name': topic, 'type': t.type_name,
                                    'serialization_format': 'cdr',
                                    'offered_qos_profiles': t.profiles,
                                    'type_description_hash': ''},
                 'message_count': t.count}
                for topic, t in self.topics.items()],
            'compression_format': '',
            'compression_mode': '',
            'relative_file_paths': [relative_file],
            'files': [{'path': relative_file,
                       'starting_time': {'nanoseconds_since_epoch': start},
                       'duration': span, 'message_count': self.count}],
            'custom_data': None,
            'ros_distro': ros_distro,
        }


class _OneTypePerTopic:
    """Keep a topic to its first type (rosbag2's rule), counting topics as they appear."""

    def __init__(self, stats: BagStats, qos_of: Callable[[str], QosSettings]) -> None:
        self._stats = stats
        self._qos_of = qos_of

    def __call__(self, record: AuditRecord) -> None:
        found = self._stats.topics.get(record.topic)
        if found is None:
            self._stats.topics[record.topic] = TopicCount(
                record.type_name, [qos_profile(self._qos_of(record.topic))])
        elif found.type_name != record.type_name:
            raise MessageTypeError(f'{record.topic} is in the bag as {found.type_name}, this '
                                   f'entry is {record.type_name}')

    def channel_metadata(self, topic: str, _type_name: str) -> Dict[str, str]:
        """Return the channel metadata rosbag2's MCAP plugin writes."""
        return {'offered_qos_profiles': dump(self._stats.topics[topic].profiles),
                'topic_type_hash': ''}


@contextlib.contextmanager
def folder_created_at_end(output: pathlib.Path) -> Iterator[pathlib.Path]:
    """Yield a new temporary folder beside ``output``, renamed to ``output`` on success."""
    temp = pathlib.Path(tempfile.mkdtemp(dir=output.parent, prefix=f'.{output.name}.',
                                         suffix='.partial'))
    try:
        yield temp
        temp.chmod(default_mode(0o777))
        os.rename(temp, output)  # refused if output appeared meanwhile
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def export_rosbag2(records: Iterable[AuditRecord], output: pathlib.Path,
                   qos_of: Callable[[str], QosSettings],
                   on_written: Optional[Callable[[AuditRecord], None]] = None,
                   on_error: Optional[Callable[[str], None]] = None,
                   definition: Callable[[str], str] = full_definition) -> ReplayReport:
    """Write ``records`` as the rosbag2 bag folder ``output`` (which must not exist)."""
    report = ReplayReport()
    stats = BagStats()
    rule = _OneTypePerTopic(stats, qos_of)
    relative = f'{output.name}_0.{STORAGE}'

    def written(record: AuditRecord) -> None:
        stats.add(record)
        if on_written is not None:
            on_written(record)

    with folder_created_at_end(output) as folder:
        with replaced_at_end(folder / relative) as stream:
            writer = McapRecordWriter(stream, definition, rule.channel_metadata, rule)
            write_records(records, writer, report, written, on_error)
            information = stats.information(relative, os.environ.get('ROS_DISTRO', ''))
            writer.finish(('rosbag2', {'serialized_metadata': dump(information)}))
        (folder / METADATA_FILE).write_text(
            dump({'rosbag2_bagfile_information': information}), encoding='utf-8')
    return report
