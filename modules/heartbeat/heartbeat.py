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

"""Example in-process module: a heartbeat publisher on the kernel's bus."""

import threading

from std_msgs.msg import String

from unity_kernel_core.supervision.module_api import Module, periodic


class Heartbeat(Module):
    """Publish ``beat <n>`` on the configured topic once a second."""

    def on_configure(self) -> None:
        """Read the topic; the period is fixed by the decorator below."""
        self.topic = str(self.context.parameters.get('topic', '/examples/heartbeat'))
        self.count = 0
        self._lock = threading.Lock()

    @periodic(1.0)
    def beat(self) -> None:
        """Publish the next beat."""
        with self._lock:
            self.count += 1
            count = self.count
        self.context.publish(self.topic, 'std_msgs/msg/String', String(data=f'beat {count}'))
