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

"""``unity-kernel modules list|restart NAME|load PATH|unload NAME``: manage a running kernel."""

import argparse
import json
import sys

from unity_kernel_core.api.modules import command, format_table, KernelUnreachableError
from unity_kernel_core.api.modules import list_modules

NAME = 'modules'
HELP = "list the running kernel's modules, or restart, load or unload one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--kernel', default='/unity_kernel',
                        help='fully qualified name of the kernel node (default /unity_kernel)')
    parser.add_argument('--timeout', type=float, default=10.0,
                        help='seconds to wait for the kernel (default 10)')
    actions = parser.add_subparsers(dest='action', metavar='ACTION', required=True)
    show = actions.add_parser('list', help='list modules and their states')
    show.add_argument('--json', action='store_true', help='print JSON instead of a table')
    actions.add_parser('restart', help='restart a module').add_argument('name')
    actions.add_parser('load', help='load a module from a directory under a search path') \
        .add_argument('path')
    actions.add_parser('unload', help='stop and unload a module').add_argument('name')


def main(args: argparse.Namespace) -> int:
    try:
        if args.action == 'list':
            modules = list_modules(args.kernel, args.timeout)
            print(json.dumps(modules, indent=2) if args.json else format_table(modules))
            return 0
        argument = args.path if args.action == 'load' else args.name
        ok, message = command(args.action, argument, args.kernel, args.timeout)
    except KernelUnreachableError as exc:
        print(f'unity-kernel modules: {exc}', file=sys.stderr)
        return 2
    print(message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
