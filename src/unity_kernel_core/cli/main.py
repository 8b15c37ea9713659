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

"""Entry point of ``unity-kernel``: collects the verbs and dispatches to one."""

import argparse
import importlib
import sys
from typing import List, NoReturn, Optional

#: Verb modules under unity_kernel_core.cli.verbs, in the order ``--help`` lists them.
VERBS: List[str] = [
    'up',
    'check_config',
    'modules',
    'replay',
    'export',
    'dlq',
    'fleet',
    'health',
]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the argument (exit 2)."""

    def error(self, message: str) -> 'NoReturn':
        self.exit(2, f'{self.prog}: error: {message} (see {self.prog} --help)\n')


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every verb attached."""
    parser = _Parser(
        prog='unity-kernel',
        description='UnityKernel: deterministic ROS 2 runtime (kernel, audit trail, modules).')
    subparsers = parser.add_subparsers(dest='verb', metavar='VERB', required=True,
                                       parser_class=_Parser)
    for name in VERBS:
        verb = importlib.import_module(f'unity_kernel_core.cli.verbs.{name}')
        sub = subparsers.add_parser(verb.NAME, help=verb.HELP, description=verb.HELP)
        verb.add_arguments(sub)
        sub.set_defaults(_main=verb.main)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run ``unity-kernel VERB ...``; return the process exit code."""
    from unity_kernel_core.paths import default_ament_prefix_path
    default_ament_prefix_path()
    args = build_parser().parse_args(argv)
    import redis
    from unity_kernel_core.errors import UnityKernelError
    try:
        return int(args._main(args) or 0)
    except (UnityKernelError, redis.RedisError, OSError) as exc:
        # bad input or an unusable environment (no Redis, a refused password, a full disk):
        # one line, exit 2; anything else is a bug and keeps its traceback
        print(f'unity-kernel {args.verb}: {_one_line(exc)}', file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    import redis
    text = ' '.join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, redis.AuthenticationError):
        return f'Redis refused the credentials: {text}'
    if isinstance(exc, redis.ConnectionError):
        return f'cannot talk to Redis: {text}'
    if isinstance(exc, redis.RedisError):
        return f'Redis answered an error: {text}'
    if isinstance(exc, OSError) and exc.filename:
        return f'{exc.filename}: {exc.strerror or text}'
    return text


if __name__ == '__main__':
    sys.exit(main())
