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

"""The audit trail from the command line: replay, export, dead letters (``unity-kernel ...``)."""

import pathlib
import re
import time
from typing import Any, Callable, Dict, Iterable, List, Literal, Optional, Tuple

from unity_kernel_core.api.cli_node import cli_node
from unity_kernel_core.api.text import printable
from unity_kernel_core.audit.mcap_export import export_mcap
from unity_kernel_core.audit.private_redis import running_url
from unity_kernel_core.audit.record import AuditRecord, StreamKeys
from unity_kernel_core.audit.redis_connection import Client, connect
from unity_kernel_core.audit.replay import replay, ReplayReport
from unity_kernel_core.audit.rosbag2_export import export_rosbag2
from unity_kernel_core.audit.store import AuditStore, BadEntry, parse_bound
from unity_kernel_core.bus.patterns import compile_pattern
from unity_kernel_core.config.kernel_config import KernelConfig, load_config, ROBOT_ID_PATTERN
from unity_kernel_core.errors import AuditError, MessageTypeError
from unity_kernel_core.paths import default_config_path


def check_bound(text: str) -> None:
    """Check a range limit (stream ID, epoch ms, ISO time, ``-`` or ``+``); AuditError if bad."""
    parse_bound(text)


def check_pattern(text: str) -> None:
    """Check a topic pattern; PatternError saying what is wrong with it."""
    compile_pattern(text)


def open_client(config_path: Optional[pathlib.Path] = None,
                url: Optional[str] = None) -> Tuple[Client, KernelConfig]:
    """
    Return a Redis client for a kernel config (and the config); a cluster client if configured.

    The URL is, first found: ``url``, ``redis.url`` / ``UNITY_REDIS_URL``, the private
    redis-server a running ``unity-kernel up`` started under the config's state directory.
    """
    config = load_config(config_path if config_path is not None else default_config_path())
    target = url or config.redis.url or running_url(pathlib.Path(config.kernel.state_dir))
    if not target:
        raise AuditError('no Redis to read from: pass --url, set redis.url or UNITY_REDIS_URL, '
                         'or run `unity-kernel up` (it starts a private redis-server)')
    return connect(config.redis, target), config


def open_store(config_path: Optional[pathlib.Path] = None, url: Optional[str] = None,
               robot: Optional[str] = None) -> Tuple[AuditStore, KernelConfig]:
    """
    Return the audit store of a kernel config (and the config); see :func:`open_client`.

    ``robot`` selects a robot's trail (default: the config's ``kernel.robot_id``).
    """
    client, config = open_client(config_path, url)
    return AuditStore(client, robot_keys(config, robot)), config


def robot_keys(config: KernelConfig, robot: Optional[str]) -> StreamKeys:
    """Return the keys of ``robot`` (checked against the ROS naming rules), or the config's."""
    if robot is not None and not re.match(ROBOT_ID_PATTERN, robot):
        raise AuditError(f'robot id {robot!r}: expected a ROS name (a letter, then letters, '
                         'digits and single underscores)')
    return StreamKeys.of(config, robot)


ExportFormat = Literal['mcap', 'rosbag2']
EXPORT_FORMATS: Tuple[str, ...] = ('mcap', 'rosbag2')


def replay_records(records: Iterable[AuditRecord], rate: float, wait_subscribers: int = 0,
                   wait_timeout: float = 10.0, ros_args: Optional[List[str]] = None,
                   on_sent: Optional[Callable[[AuditRecord], None]] = None,
                   on_error: Optional[Callable[[str], None]] = None,
                   first: Iterable[AuditRecord] = (), linger: float = 1.0) -> ReplayReport:
    """
    Publish records on DDS with their types and bytes, paced by ``rate`` (0: at once).

    ``records`` are taken as they come (an iterator over the trail is never held in
    memory). With ``wait_subscribers``, the publishers of ``first`` (each topic's first
    record) are made before anything is sent, and their subscribers waited for.
    """
    from unity_kernel_core.audit.replay import DdsPublisher
    with cli_node('unity_kernel_replay', ros_args, large_messages=True) as node:
        publisher = DdsPublisher(node)
        if wait_subscribers:
            for record in first:
                try:
                    publisher.publisher(record.topic, record.type_name)
                except MessageTypeError:
                    continue  # reported when its entries come
            if not publisher.wait_for_subscribers(wait_subscribers, wait_timeout) and on_error:
                on_error(f'not every topic had {wait_subscribers} subscriber(s) after '
                         f'{wait_timeout:g}s; replaying anyway')
        report = replay(records, publisher, rate, on_sent, on_error)
        time.sleep(linger)  # reliable delivery finishes before the publishers go away
        return report


def replay_range(store: AuditStore, start: str, end: str, pattern: str, rate: float,
                 wait_subscribers: int = 0,
                 on_sent: Optional[Callable[[AuditRecord], None]] = None,
                 on_error: Optional[Callable[[str], None]] = None,
                 on_bad: Optional[Callable[[BadEntry], None]] = None,
                 ros_args: Optional[List[str]] = None) -> ReplayReport:
    """Replay a range of the trail onto DDS, reading it a page at a time."""
    first = store.first_records(start, end, pattern) if wait_subscribers else ()
    return replay_records(store.read(start, end, pattern, on_bad), rate, wait_subscribers,
                          ros_args=ros_args, on_sent=on_sent, on_error=on_error, first=first)


def export_range(store: AuditStore, config: KernelConfig, start: str, end: str, pattern: str,
                 output: pathlib.Path, fmt: ExportFormat = 'mcap',
                 on_written: Optional[Callable[[AuditRecord], None]] = None,
                 on_error: Optional[Callable[[str], None]] = None,
                 on_bad: Optional[Callable[[BadEntry], None]] = None) -> ReplayReport:
    """
    Write a range of the trail to an MCAP file or a rosbag2 bag folder, a page at a time.

    A rosbag2 bag's topics offer the QoS that ``config``'s topic rules give them.
    """
    records = store.read(start, end, pattern, on_bad)
    if fmt == 'rosbag2':
        routes = config.routes
        return export_rosbag2(records, output, lambda topic: routes(topic).qos, on_written,
                              on_error)
    return export_mcap(records, output, on_written, on_error)


def check_output(output: pathlib.Path, fmt: str) -> Optional[str]:
    """Return why ``-o`` cannot be written in format ``fmt``, or None."""
    folder = output.parent
    if not folder.is_dir():
        return f'{output}: folder {folder} does not exist'
    if fmt == 'rosbag2':
        if output.exists() or output.is_symlink():
            return f'{output}: already exists (a rosbag2 bag is a new folder)'
        return None
    if output.is_dir():
        return f'{output}: is a folder, expected a file name'
    if output.exists() and not output.is_file():
        return f'{output}: not a regular file (a device or a FIFO)'
    return None


def dead_letter_rows(store: AuditStore, count: Optional[int] = None,
                     stream: Optional[str] = None) -> List[Dict[str, str]]:
    """Return the dead letters of every dead-letter stream (or one) for listing, no traceback."""
    return [{k: v for k, v in row.items() if k != 'traceback'}
            for row in store.dead_letters(count, stream)]


def retry_dead_letters(store: AuditStore, entry_ids: List[str],
                       ros_args: Optional[List[str]] = None,
                       wait_subscribers: int = 1,
                       stream: Optional[str] = None,
                       on_error: Optional[Callable[[str], None]] = None
                       ) -> Tuple[ReplayReport, int]:
    """
    Publish dead letters' events on DDS again, then drop them.

    A kernel dead letter goes back to the kernel; an LLM bridge dead letter is its request,
    published on the bridge's request topic again.
    """
    records = [store.dead_letter(i, stream) for i in entry_ids]
    sent: List[str] = []
    report = replay_records(records, 0.0, wait_subscribers=wait_subscribers,
                            ros_args=ros_args, on_sent=lambda r: sent.append(r.entry_id),
                            on_error=on_error, first=records)
    return report, store.drop_dead_letters(sent, stream)


def drop_all_dead_letters(store: AuditStore, stream: Optional[str] = None) -> int:
    """Delete every dead letter (of one stream); return how many there were."""
    return store.drop_all_dead_letters(stream)


def format_dead_letters(rows: List[Dict[str, Any]]) -> str:
    """Format dead letters as an aligned table (control characters shown as escapes)."""
    table: List[Tuple[str, ...]] = [('ID', 'STREAM', 'TOPIC', 'HANDLER', 'ATTEMPTS', 'ERROR')]
    for row in rows:
        table.append(tuple(printable(str(v)) for v in (
            row['id'], row.get('stream', '?'), row.get('topic', '?'), row.get('handler', '?'),
            row.get('attempts', '?'), row.get('error', ''))))
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    return '\n'.join('  '.join(c.ljust(w) for c, w in zip(r[:5], widths)) + '  ' + r[5]
                     for r in table).rstrip()
