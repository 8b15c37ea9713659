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
``unity-kernel modules list|restart|enable|disable|unload NAME|load PATH``.

Manage a running kernel's modules. A command waits for its outcome: exit 0 when it is done,
1 when the kernel refused it or it failed (the reason on stderr), 2 for a bad argument or no
kernel, 3 when it was still in progress after ``--wait`` seconds.
"""

import argparse
import functools
import json
import sys
from typing import Callable

from unity_kernel_core.api import modules as api
from unity_kernel_core.api.modules import CommandError, ModuleCommand, OutcomeStatus

NAME = 'modules'
HELP = "list the running kernel's modules, or restart, enable, disable, load or unload one"


def _checked(check: Callable[[str], object]) -> Callable[[str], object]:
    """Turn a CommandError of ``check`` into argparse's one-line usage error (exit 2)."""
    def parse(text: str) -> object:
        try:
            return check(text)
        except CommandError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = getattr(check, '__name__', 'value')
    return parse


def _argument(command: ModuleCommand, text: str) -> str:
    return api.command_argument(command, text)


def _wait(text: str) -> float:
    return api.seconds(text, allow_zero=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--kernel', default=api.DEFAULT_KERNEL, type=_checked(api.kernel_name),
                        help='fully qualified name of the kernel node (default '
                             f'{api.DEFAULT_KERNEL})')
    parser.add_argument('--timeout', type=_checked(api.seconds), default=api.DEFAULT_TIMEOUT_S,
                        help='seconds to wait for the kernel to answer (default '
                             f'{api.DEFAULT_TIMEOUT_S:g})')
    parser.add_argument('--wait', type=_checked(_wait),
                        default=api.DEFAULT_WAIT_S,
                        help='seconds a command waits for its outcome (default '
                             f'{api.DEFAULT_WAIT_S:g}; 0: only see it scheduled)')
    actions = parser.add_subparsers(dest='action', metavar='ACTION', required=True)
    show = actions.add_parser('list', help='list modules and their states')
    show.add_argument('--json', action='store_true', help='print JSON instead of a table')
    for command in ModuleCommand:
        actions.add_parser(command.value, help=command.summary).add_argument(
            command.argument.upper(), type=_checked(functools.partial(_argument, command)),
            help='the module folder (under a search path of the kernel)'
            if command is ModuleCommand.LOAD else 'the module name')


def main(args: argparse.Namespace) -> int:
    try:
        if args.action == 'list':
            modules = api.list_modules(args.kernel, args.timeout)
            print(json.dumps(modules, indent=2) if args.json else api.format_table(modules))
            return api.EXIT_DONE
        command = ModuleCommand.parse(args.action)
        outcome = api.command(command, getattr(args, command.argument.upper()), args.kernel,
                              args.timeout, wait=args.wait)
    except (api.KernelUnreachableError, CommandError) as exc:
        print(f'unity-kernel modules: {exc}', file=sys.stderr)
        return api.EXIT_USAGE
    code = api.exit_code(outcome)
    if outcome.status is OutcomeStatus.DONE:
        print(f'{outcome.command.value} {outcome.target}: done: {outcome.message}')
    elif outcome.status is OutcomeStatus.SCHEDULED and args.wait == 0:
        print(f'{outcome.command.value} {outcome.target}: {outcome.message} '
              f'(command {outcome.command_id})')
    elif outcome.status is OutcomeStatus.SCHEDULED:
        print(f'unity-kernel modules: {outcome.command.value} {outcome.target}: not finished '
              f'after {args.wait:g}s: {outcome.message}', file=sys.stderr)
    else:
        print(f'unity-kernel modules: {outcome.command.value} {outcome.target}: '
              f'{outcome.status.value}: {outcome.message}', file=sys.stderr)
    return code
