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

"""``unity-kernel up``: bring the kernel (and its modules) up and run until Ctrl-C."""

import argparse
import pathlib

from unity_kernel_core.api.up import up

NAME = 'up'
HELP = 'bring the kernel up in this process, print its status, run until Ctrl-C'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--config', type=pathlib.Path, default=None,
                        help='kernel config file (default: the installed config/kernel.yaml)')
    parser.add_argument('--ros-args', dest='ros_args', nargs=argparse.REMAINDER, default=None,
                        help='arguments for rclpy, e.g. --ros-args -r __ns:=/robot1')


def main(args: argparse.Namespace) -> int:
    return up(args.config, args.ros_args, then_exit=True)
