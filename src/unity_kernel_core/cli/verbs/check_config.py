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

"""``unity-kernel check-config PATH``: validate a config and print every problem."""

import argparse
import pathlib

from unity_kernel_core.api.check_config import check_config, summary

NAME = 'check-config'
HELP = 'validate a kernel config file (YAML or JSON) and print every problem'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('path', type=pathlib.Path, help='config file to check')


def main(args: argparse.Namespace) -> int:
    config, issues = check_config(args.path)
    if config is None:
        for issue in issues:
            print(issue)
        print(f'{args.path}: {len(issues)} problem(s)')
        return 1
    print(f'{args.path}: OK — {summary(config)}')
    return 0
