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

"""``unity-kernel export --format mcap|rosbag2``: write a range of the audit trail to a file."""

import argparse
import pathlib
import sys
from typing import Any, Optional, Tuple

import rich.console
import rich.progress
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

from unity_kernel_core.api.audit import AuditStore, BadEntry, check_bound, check_output
from unity_kernel_core.api.audit import check_pattern, EXPORT_FORMATS, export_range, KernelConfig
from unity_kernel_core.api.audit import open_store
from unity_kernel_core.api.text import printable
from unity_kernel_core.errors import AuditError, ConfigError, PatternError
from unity_kernel_core.paths import expand_user

NAME = 'export'
HELP = ('write audit-trail events to an MCAP file or a rosbag2 bag folder (ROS 2 CDR, '
        'readable by standard tools)')


# -- argument types: bad values are argparse errors naming the argument (exit 2) -----------

def topic_pattern(text: str) -> str:
    """Return a valid topic pattern (``--topics``)."""
    try:
        check_pattern(text)
    except PatternError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def range_bound(text: str) -> str:
    """Return a valid range limit (``--from``, ``--to``): checked before Redis sees it."""
    try:
        check_bound(text)
    except AuditError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def positive_int(text: str) -> int:
    """Return an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a whole number, got {text!r}') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be at least 1, got {value}')
    return value


def count_int(text: str) -> int:
    """Return an integer >= 0."""
    return 0 if text.strip() == '0' else positive_int(text)


def positive_float(text: str) -> float:
    """Return a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number, got {text!r}') from None
    if not value > 0 or value == float('inf'):
        raise argparse.ArgumentTypeError(f'must be a finite number > 0, got {text}')
    return value


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options saying which Redis to read (shared with replay and dlq)."""
    parser.add_argument('--config', type=pathlib.Path, default=None,
                        help='kernel config (default: the installed config/kernel.yaml)')
    parser.add_argument('--url', default=None, help='Redis URL (default: from the config)')
    parser.add_argument('--robot', default=None, metavar='ROBOT_ID',
                        help="this robot's audit trail (default: the config's kernel.robot_id)")


def add_range_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options selecting a range of the audit trail (shared with replay)."""
    add_source_arguments(parser)
    parser.add_argument('--from', dest='start', default='-', type=range_bound,
                        help='start: stream ID, epoch ms, ISO 8601 time, or - (default)')
    parser.add_argument('--to', dest='end', default='+', type=range_bound,
                        help='end (inclusive): stream ID, epoch ms, ISO 8601 time, or + (default)')
    parser.add_argument('--topics', default='/**', type=topic_pattern,
                        help='topic pattern (`*` one segment, `**` any; default /**)')


def open_range(args: argparse.Namespace, verb: str) -> Optional[Tuple[AuditStore, KernelConfig]]:
    """Open the store a range is read from (None after printing why not)."""
    try:
        return open_store(args.config, args.url, args.robot)
    except (AuditError, ConfigError) as exc:
        say(f'unity-kernel {verb}: {exc}')
        return None


def say(text: str) -> None:
    """Print a line on stderr, control characters from the store shown as escapes."""
    print(printable(text), file=sys.stderr)


class Reported:
    """Print malformed entries and skipped records on stderr as they come; count them."""

    def __init__(self) -> None:
        self.bad = 0

    def bad_entry(self, entry: BadEntry) -> None:
        """Report a malformed entry (skipped)."""
        self.bad += 1
        say(f'skipped malformed entry: {entry.error}')

    def skipped(self, error: str) -> None:
        """Report a record that was not sent or written."""
        say(f'skipped: {error}')


class Progress:
    """A rich progress bar on stderr (quiet when stderr is not a terminal)."""

    def __init__(self, total: Optional[int], label: str) -> None:
        self._bar = rich.progress.Progress(
            TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=rich.console.Console(stderr=True), disable=not sys.stderr.isatty())
        self._task = self._bar.add_task(label, total=total)

    def advance(self) -> None:
        """Count one event done."""
        self._bar.advance(self._task)

    def __enter__(self) -> 'Progress':
        self._bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bar.stop()


def _output_path(text: str) -> pathlib.Path:
    try:
        return expand_user(text)
    except FileNotFoundError as exc:  # ~nosuchuser: argparse names the argument
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_range_arguments(parser)
    parser.add_argument('--format', choices=EXPORT_FORMATS, default='mcap',
                        help='mcap: one MCAP file; rosbag2: a bag folder (metadata.yaml + '
                             'MCAP) for ros2 bag')
    parser.add_argument('--output', '-o', type=_output_path, required=True,
                        help='output file (mcap) or new folder (rosbag2)')


def main(args: argparse.Namespace) -> int:
    problem = check_output(args.output, args.format)
    if problem is not None:
        say(f'unity-kernel export: argument --output/-o: {problem}')
        return 2
    opened = open_range(args, 'export')
    if opened is None:
        return 2
    store, config = opened
    reported = Reported()
    with Progress(store.count(args.start, args.end, args.topics), 'exporting') as progress:
        report = export_range(store, config, args.start, args.end, args.topics, args.output,
                              args.format, lambda _r: progress.advance(), reported.skipped,
                              reported.bad_entry)
    print(f'wrote {report.sent} event(s) to {args.output}, skipped '
          f'{report.skipped + reported.bad}')
    return 1 if (report.skipped or reported.bad) else 0
