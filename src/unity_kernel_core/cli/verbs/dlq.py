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

"""``unity-kernel dlq list|retry|drop``: manage the dead-letter streams (kernel, LLM bridge)."""

import argparse
import json

from unity_kernel_core.api.audit import dead_letter_rows, format_dead_letters, open_store
from unity_kernel_core.api.audit import drop_all_dead_letters, retry_dead_letters
from unity_kernel_core.cli.verbs.export import add_source_arguments, count_int, positive_int
from unity_kernel_core.cli.verbs.export import say
from unity_kernel_core.errors import AuditError, ConfigError

NAME = 'dlq'
HELP = ('list dead letters (events whose handler kept failing, LLM requests no model '
        'answered), retry or drop them')
STREAM_HELP = ('only the dead-letter stream NAME: kernel (<prefix>:deadletters), llm (the LLM '
               "bridge's <prefix>:llm:deadletters), any <prefix>:NAME:deadletters; default all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    actions = parser.add_subparsers(dest='action', metavar='ACTION', required=True)
    show = actions.add_parser('list', help='list dead letters, oldest first')
    show.add_argument('--json', action='store_true', help='print JSON (with tracebacks)')
    show.add_argument('--count', type=positive_int, default=None,
                      help='at most this many per stream')
    retry = actions.add_parser('retry', help='publish the events on DDS again, then drop them')
    retry.add_argument('ids', nargs='+', metavar='ID')
    retry.add_argument('--wait-subscribers', type=count_int, default=1, metavar='N',
                       help='wait for N subscribers (the kernel) first (default 1)')
    drop = actions.add_parser('drop', help='delete dead letters')
    drop.add_argument('ids', nargs='*', metavar='ID')
    drop.add_argument('--all', action='store_true', help='delete every dead letter')
    for action in (show, retry, drop):
        action.add_argument('--stream', default=None, metavar='NAME', help=STREAM_HELP)


def main(args: argparse.Namespace) -> int:
    try:
        store, _config = open_store(args.config, args.url, args.robot)
        if args.action == 'list':
            if args.json:  # JSON escapes control characters itself
                print(json.dumps(list(store.dead_letters(args.count, args.stream)), indent=2))
            else:
                print(format_dead_letters(dead_letter_rows(store, args.count, args.stream)))
            return 0
        if args.action == 'drop':
            if not args.all and not args.ids:
                say('unity-kernel dlq drop: give IDs or --all')
                return 2
            dropped = (drop_all_dead_letters(store, args.stream) if args.all
                       else store.drop_dead_letters(args.ids, args.stream))
            print(f'dropped {dropped} dead letter(s)')
            return 0
        report, dropped = retry_dead_letters(store, args.ids,
                                             wait_subscribers=args.wait_subscribers,
                                             stream=args.stream,
                                             on_error=lambda e: say(f'not retried: {e}'))
    except (AuditError, ConfigError) as exc:
        say(f'unity-kernel dlq: {exc}')
        return 2
    print(f'retried {report.sent} dead letter(s), dropped {dropped}')
    return 1 if report.skipped else 0
