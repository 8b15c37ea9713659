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
from typing import List, Optional

#: Verb modules under unity_kernel_core.cli.verbs, in the order ``--help`` lists them.
VERBS: List[str] = [
    'up',
    'check_config',
    'modules',
    'replay',
    'export',
    'dlq',
    'fleet',
]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every verb attached."""
    parser = argparse.ArgumentParser(
        prog='unity-kernel',
        description='UnityKernel: deterministic ROS 2 runtime (kernel, audit trail, modules).')
    subparsers = parser.add_subparsers(dest='verb', metavar='VERB', required=True)
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
    return int(args._main(args) or 0)


if __name__ == '__main__':
    sys.exit(main())
