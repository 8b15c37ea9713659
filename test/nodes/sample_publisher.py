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
Publish the numbered sample messages of ``test/ros_samples.py``, every type, until stopped.

``python test/nodes/sample_publisher.py --rate 5`` publishes ``sample(type, i)`` on
``/samples/<pkg>_<Name>`` for every sample type, ``i`` counting from 0, ``--rate`` rounds a
second (reliable, depth 100). Prints ``samples: publishing`` once the publishers exist.
"""

import argparse
import pathlib
import sys
import time

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import QoSProfile, ReliabilityPolicy

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import ros_samples  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('--rate', type=float, default=5.0)
    parser.add_argument('--prefix', default='/samples')
    args = parser.parse_args(argv)
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    with rclpy.init():
        node = rclpy.create_node('sample_publisher')
        pubs = [(t, node.create_publisher(ros_samples.message_class(t),
                                          ros_samples.topic_of(t, args.prefix), qos))
                for t in ros_samples.SAMPLE_TYPES]
        print('samples: publishing', flush=True)
        try:
            start = time.monotonic()
            i = 0
            while True:
                for type_name, pub in pubs:
                    pub.publish(ros_samples.sample(type_name, i))
                i += 1
                delay = start + i / args.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            node.destroy_node()
    return 0


if __name__ == '__main__':
    sys.exit(main())
