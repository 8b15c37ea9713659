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

"""``unity-kernel fleet list|status``: the robots that register in one store."""

import argparse
import json
import pathlib
import sys

from unity_kernel_core.api.fleet import (fleet_statuses, format_fleet, format_robot,
                                         open_registry, robot_status)
from unity_kernel_core.api.text import printable
from unity_kernel_core.errors import AuditError, ConfigError

NAME = 'fleet'
HELP = 'list the robots sharing this audit store (state, last seen, modules, mirror lag)'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--config', type=pathlib.Path, default=None,
                        help='kernel config (default: the installed config/kernel.yaml)')
    parser.add_argument('--url', default=None, help='Redis URL (default: from the config)')
    parser.add_argument('--stale-after', type=float, default=None, metavar='S',
                        help='a robot silent for S seconds is stale (default: '
                             'fleet.stale_after_s)')
    actions = parser.add_subparsers(dest='action', metavar='ACTION', required=True)
    show = actions.add_parser('list', help='one line per robot')
    show.add_argument('--json', action='store_true', help='print JSON (with the heartbeats)')
    one = actions.add_parser('status', help="one robot's heartbeat in full")
    one.add_argument('robot', metavar='ROBOT')
    one.add_argument('--json', action='store_true', help='print JSON')


def main(args: argparse.Namespace) -> int:
    if args.stale_after is not None and not args.stale_after > 0:
        print('unity-kernel fleet: --stale-after must be > 0 seconds', file=sys.stderr)
        return 2
    try:
        registry, config = open_registry(args.config, args.url)
        stale_after = args.stale_after or config.fleet.stale_after_s
        if args.action == 'list':
            statuses = fleet_statuses(registry, stale_after)
            if args.json:
                print(json.dumps([s.as_dict() for s in statuses], indent=2))
            elif statuses:
                print(format_fleet(statuses))
            else:
                print(f'no robot registered in {registry.key}', file=sys.stderr)
            return 0
        status = robot_status(registry, args.robot, stale_after)
    except (AuditError, ConfigError) as exc:
        print(printable(f'unity-kernel fleet: {exc}'), file=sys.stderr)
        return 2
    print(json.dumps(status.as_dict(), indent=2) if args.json else format_robot(status))
    return 0
