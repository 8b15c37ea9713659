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
Test image source: publish ``sensor_msgs/Image`` frames (rgb8) at a fixed rate.

``python test/nodes/image_publisher.py --topic /sensors/flood/image_raw --width 640
--height 480 --rate 30 --seconds 20``. The frame content changes every frame (a moving
bar), ``header.stamp`` is the publish time. Prints ``images: ready`` once a subscriber
matched and ``images: done N`` at the end.
"""

import argparse
import sys
import time

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('--topic', default='/sensors/flood/image_raw')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--rate', type=float, default=30.0)
    parser.add_argument('--seconds', type=float, default=20.0)
    parser.add_argument('--noise', action='store_true',
                        help='random pixels (a JPEG as large as the frame allows)')
    args = parser.parse_args(argv)
    with rclpy.init():
        node = rclpy.create_node('image_publisher')
        pub = node.create_publisher(Image, args.topic, qos_profile_sensor_data)
        deadline = time.monotonic() + 30
        while pub.get_subscription_count() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        print('images: ready', flush=True)
        frame = np.zeros((args.height, args.width, 3), np.uint8)
        msg = Image(height=args.height, width=args.width, encoding='rgb8',
                    step=args.width * 3)
        msg.header.frame_id = 'flood'
        period = 1.0 / args.rate
        start = time.monotonic()
        sent = 0
        rng = np.random.default_rng(7)
        while time.monotonic() - start < args.seconds:
            if args.noise:
                frame = rng.integers(0, 256, frame.shape, np.uint8)
            else:
                frame[:] = 40
            x = (sent * 8) % args.width
            frame[:, x:x + 16] = (255, 200, 0)
            msg.data = frame.tobytes()
            msg.header.stamp = node.get_clock().now().to_msg()
            pub.publish(msg)
            sent += 1
            sleep = start + sent * period - time.monotonic()
            if sleep > 0:
                time.sleep(sleep)
        print(f'images: done {sent}', flush=True)
        node.destroy_node()
    return 0


if __name__ == '__main__':
    sys.exit(main())
