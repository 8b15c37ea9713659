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

"""``unity-kernel health``: exit 0 when the running kernel is active and its mirror works."""

import argparse
import pathlib
import sys

from unity_kernel_core.api.check_config import check_config
from unity_kernel_core.api.health import check, DEFAULT_TIMEOUT_S
from unity_kernel_core.errors import ConfigError
from unity_kernel_core.paths import default_config_path

NAME = 'health'
HELP = ('exit 0 when the running kernel is active and its audit mirror is not failing, '
        '1 otherwise (one line saying why): for container probes')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--config', type=pathlib.Path, default=None,
                        help="the kernel's config: its node name, and whether it mirrors to "
                             'Redis (default: the installed config/kernel.yaml)')
    parser.add_argument('--node', default=None,
                        help="the kernel's node name (default: kernel.node_name of the config)")
    parser.add_argument('--timeout', type=float, default=DEFAULT_TIMEOUT_S, metavar='S',
                        help="seconds to wait for the kernel's next /diagnostics report "
                             f'(default {DEFAULT_TIMEOUT_S:g})')


def main(args: argparse.Namespace) -> int:
    if not args.timeout > 0:
        print('unity-kernel health: --timeout must be > 0 seconds', file=sys.stderr)
        return 2
    config, issues = check_config(args.config or default_config_path())
    if config is None:
        print(f'unity-kernel health: {ConfigError(issues)}', file=sys.stderr)
        return 2
    verdict = check(args.node or config.kernel.node_name, config.redis.enabled, args.timeout)
    print(verdict.reason, file=sys.stdout if verdict.healthy else sys.stderr)
    return 0 if verdict.healthy else 1
