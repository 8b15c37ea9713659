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

from unity_kernel_core.api.audit import replay_range
from unity_kernel_core.api.text import printable
from unity_kernel_core.cli.verbs.export import add_range_arguments, count_int, open_range
from unity_kernel_core.cli.verbs.export import positive_float, Progress, Reported, say

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
    if args.rate <= 0 and not args.fast:
        say('unity-kernel replay: --rate must be > 0 (use --fast for no waiting)')
        return 2
    opened = open_range(args, 'replay')
    if opened is None:
        return 2
    store, _config = opened
    reported = Reported()
    if args.dry_run:
        listed = 0
        for r in store.read(args.start, args.end, args.topics, reported.bad_entry):
            print(printable(f'{r.entry_id}  {r.topic}  {r.type_name}  {r.tier}  seq={r.seq}  '
                            f'{len(r.cdr)} bytes'))
            listed += 1
        say(f'{listed} event(s) would be sent')
        return 1 if reported.bad else 0
    with Progress(store.count(args.start, args.end, args.topics), 'replaying') as progress:
        report = replay_range(store, args.start, args.end, args.topics,
                              0.0 if args.fast else args.rate, args.wait_subscribers,
                              lambda _r: progress.advance(), reported.skipped,
                              reported.bad_entry)
    print(f'replayed {report.sent} event(s), skipped {report.skipped + reported.bad}')
    return 1 if (report.skipped or reported.bad) else 0
