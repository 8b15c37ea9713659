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
A minimal sensor on the SensorNode base, with faults on demand (for the base's tests).

Publishes ``std_msgs/UInt32`` counts on ``~/count`` at ``rate_hz``. Parameters:
``missing_file`` (open fails with DeviceNotFoundError while this file does not exist),
``lose_after`` (the device is lost once after this many samples, then reopens),
``crash_after`` (read raises RuntimeError after this many samples: a fault),
``stall_after`` (read returns nothing after this many samples: stale).
"""

import os
import sys
from typing import List, Optional

from std_msgs.msg import UInt32

from unity_sensors.errors import DeviceLostError, DeviceNotFoundError, SensorConfigError
from unity_sensors.sensor_node import run_node, sensor_qos, SensorNode


class CountingSensor(SensorNode):
    """Count upwards at a rate; misbehave when told to."""

    sensor_name = 'counter'

    def __init__(self) -> None:
        super().__init__('counting_sensor')
        for name, default in (('rate_hz', 20.0), ('missing_file', ''), ('lose_after', 0),
                              ('crash_after', 0), ('stall_after', 0)):
            self.declare_parameter(name, default)
        self.pub = None
        self.n = 0
        self.lost = False
        self.open = False

    def configure_sensor(self) -> None:
        if float(self.get_parameter('rate_hz').value) <= 0:
            raise SensorConfigError('rate_hz must be > 0')
        self.pub = self.create_lifecycle_publisher(UInt32, '~/count', sensor_qos())

    def open_sensor(self) -> None:
        path = str(self.get_parameter('missing_file').value)
        if path and not os.path.exists(path):
            raise DeviceNotFoundError(path)
        self.open = True

    def read_sample(self) -> Optional[int]:
        assert self.worker is not None
        if not self.worker.sleep(1.0 / float(self.get_parameter('rate_hz').value)):
            return None
        p = {k: int(self.get_parameter(k).value)
             for k in ('lose_after', 'crash_after', 'stall_after')}
        if p['crash_after'] and self.n >= p['crash_after']:
            raise RuntimeError('simulated firmware crash')
        if p['stall_after'] and self.n >= p['stall_after']:
            return None
        if p['lose_after'] and self.n >= p['lose_after'] and not self.lost:
            self.lost = True
            raise DeviceLostError('simulated unplug')
        self.n += 1
        return self.n

    def handle_sample(self, sample: int) -> None:
        assert self.pub is not None
        self.pub.publish(UInt32(data=sample))

    def close_sensor(self) -> None:
        self.open = False

    def cleanup_sensor(self) -> None:
        if self.pub is not None:
            self.destroy_lifecycle_publisher(self.pub)
            self.pub = None

    def sensor_diagnostics(self) -> dict:
        return {'count': self.n}


def main(args: Optional[List[str]] = None) -> int:
    return run_node(CountingSensor, args)


if __name__ == '__main__':
    sys.exit(main())
