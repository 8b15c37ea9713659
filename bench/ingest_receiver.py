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
Receiver for the ingest benchmark: a bare rclpy subscriber, or the kernel with a bus handler.

``python bench/ingest_receiver.py bare|kernel TOPIC SECONDS`` subscribes, prints ``ready``,
runs for SECONDS and prints one JSON line: how many distinct sequence numbers arrived.
"""

import json
import sys
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String


def main() -> int:
    mode, topic, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    seen = set()
    with rclpy.init():
        if mode == 'bare':
            node = rclpy.create_node('bare_subscriber')
            node.create_subscription(String, topic, lambda m: seen.add(int(m.data)),
                                     QoSProfile(depth=1000,
                                                reliability=ReliabilityPolicy.RELIABLE))
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            print('ready', flush=True)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                executor.spin_once(timeout_sec=0.05)
        else:
            from unity_kernel_core.kernel.node import KernelNode
            from unity_kernel_core.ros.lifecycle_base import ShutdownSignals, spin_until_shutdown
            config = sys.argv[4]
            node = KernelNode(config_file=config)
            stop = ShutdownSignals()

            def on_active(n):
                # std_msgs/String CDR: 4-byte header, 4-byte length, text, NUL
                n.bus.subscribe(topic, lambda e: seen.add(int(e.cdr[8:].split(b'\0', 1)[0])))
                print('ready', flush=True)

            threading.Timer(seconds, stop.request).start()
            spin_until_shutdown(node, autostart=True, on_active=on_active, signals=stop)
        node.destroy_node()
    print(json.dumps({'mode': mode, 'received': len(seen)}), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
