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
Test talker: publish numbered messages on a topic with a chosen type and QoS.

``python test/nodes/talker.py --topic /chatter --count 100 --rate 200 --reliability best_effort``
Each message's data carries its sequence number (``String.data = 'N'``, or ``data = N`` for
integer types), so receivers can count losses. Prints ``talker: ready`` once the publisher
matched ``--wait-subscribers`` subscribers, and ``talker: done`` when finished.
"""

import argparse
import importlib
import sys
import time

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('--topic', required=True)
    parser.add_argument('--type', default='std_msgs/msg/String')
    parser.add_argument('--count', type=int, default=10)
    parser.add_argument('--rate', type=float, default=100.0)
    parser.add_argument('--reliability', default='reliable')
    parser.add_argument('--durability', default='volatile')
    parser.add_argument('--depth', type=int, default=1000)
    parser.add_argument('--wait-subscribers', type=int, default=1)
    parser.add_argument('--linger', type=float, default=1.0)
    parser.add_argument('--settle', type=float, default=0.5,
                        help='wait after matching, so both sides finished discovery')
    args = parser.parse_args(argv)
    pkg, kind, name = args.type.split('/')
    msg_type = getattr(importlib.import_module(f'{pkg}.{kind}'), name)
    qos = QoSProfile(
        depth=args.depth,
        reliability=(ReliabilityPolicy.BEST_EFFORT if args.reliability == 'best_effort'
                     else ReliabilityPolicy.RELIABLE),
        durability=(DurabilityPolicy.TRANSIENT_LOCAL if args.durability == 'transient_local'
                    else DurabilityPolicy.VOLATILE))
    with rclpy.init():
        node = rclpy.create_node('talker')
        pub = node.create_publisher(msg_type, args.topic, qos)
        try:
            deadline = time.monotonic() + 30
            while pub.get_subscription_count() < args.wait_subscribers:
                if time.monotonic() > deadline:
                    print('talker: no subscriber', flush=True)
                    return 1
                time.sleep(0.05)
            time.sleep(args.settle)
            print('talker: ready', flush=True)
            period = 1.0 / args.rate if args.rate > 0 else 0.0
            start = time.monotonic()
            for i in range(args.count):
                msg = msg_type()
                if isinstance(getattr(msg, 'data', None), str):
                    msg.data = str(i)
                elif hasattr(msg, 'data'):
                    msg.data = type(msg.data)(i) if not isinstance(msg.data, bool) else True
                pub.publish(msg)
                if period:
                    sleep = start + (i + 1) * period - time.monotonic()
                    if sleep > 0:
                        time.sleep(sleep)
            time.sleep(args.linger)
            print('talker: done', flush=True)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            node.destroy_node()
    return 0


if __name__ == '__main__':
    sys.exit(main())
