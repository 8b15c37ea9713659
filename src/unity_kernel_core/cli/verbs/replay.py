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

"""``unity-kernel replay``: republish a range of the audit trail onto DDS."""

import argparse
import sys

from unity_kernel_core.api.audit import replay_records
from unity_kernel_core.cli.verbs.export import add_range_arguments, count_int, load_range
from unity_kernel_core.cli.verbs.export import positive_float, Progress

NAME = 'replay'
HELP = 'republish audit-trail events onto DDS with their original types and timing'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_range_arguments(parser)
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument('--rate', type=positive_float, default=1.0,
                        help='speed factor over the original timing (default 1: original)')
    timing.add_argument('--fast', action='store_true', help='as fast as possible')
    parser.add_argument('--wait-subscribers', type=count_int, default=0, metavar='N',
                        help='wait until every topic has N subscribers before sending')
    parser.add_argument('--dry-run', action='store_true',
                        help='list what would be sent, send nothing')


def main(args: argparse.Namespace) -> int:
    bad: list = []
    records = load_range(args, 'replay', bad)
    if records is None:
        return 2
    if args.dry_run:
        for r in records:
            print(f'{r.entry_id}  {r.topic}  {r.type_name}  {r.tier}  seq={r.seq}  '
                  f'{len(r.cdr)} bytes')
        print(f'{len(records)} event(s) would be sent', file=sys.stderr)
        return 1 if bad else 0
    if args.rate <= 0 and not args.fast:
        print('unity-kernel replay: --rate must be > 0 (use --fast for no waiting)',
              file=sys.stderr)
        return 2
    with Progress(len(records), 'replaying') as progress:
        report = replay_records(records, 0.0 if args.fast else args.rate,
                                wait_subscribers=args.wait_subscribers,
                                on_sent=lambda _r: progress.advance())
    for error in report.errors:
        print(f'skipped: {error}', file=sys.stderr)
    print(f'replayed {report.sent} event(s), skipped {report.skipped}')
    return 1 if (report.skipped or bad) else 0
