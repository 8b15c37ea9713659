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
Publisher for the CRITICAL latency benchmark: stamped messages on a ``/safety/**`` topic.

``python bench/critical_probe.py TOPIC COUNT RATE [SUBSCRIBERS]`` waits for SUBSCRIBERS (1)
subscribers, e.g. the kernel and a node module taking the topic each, then publishes
COUNT reliable ``std_msgs/String`` messages at RATE per second; each one's data is
``"<n> <time.time_ns() at publish>"``, so the receiver (the kernel's CRITICAL handler, in
another process on the same machine) can take the latency from the shared wall clock.
"""

import sys
import time

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String


def main() -> int:
    topic, count, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    subscribers = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    with rclpy.init():
        node = rclpy.create_node('critical_probe')
        pub = node.create_publisher(String, topic,
                                    QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
        deadline = time.monotonic() + 30
        while pub.get_subscription_count() < subscribers:
            if time.monotonic() > deadline:
                print('probe: no subscriber', flush=True)
                return 1
            time.sleep(0.05)
        time.sleep(0.5)
        print('probe: ready', flush=True)
        start = time.monotonic()
        msg = String()
        for i in range(count):
            msg.data = f'{i} {time.time_ns()}'
            pub.publish(msg)
            sleep = start + (i + 1) / rate - time.monotonic()
            if sleep > 0:
                time.sleep(sleep)
        time.sleep(0.5)
        print('probe: done', flush=True)
        node.destroy_node()
    return 0


if __name__ == '__main__':
    sys.exit(main())
