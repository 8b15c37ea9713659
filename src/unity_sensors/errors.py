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

"""Exception types of the sensor nodes (all are ``UnityKernelError``)."""

from unity_kernel_core.errors import UnityKernelError


class SensorError(UnityKernelError):
    """A sensor could not be configured, opened or read."""


class SensorConfigError(SensorError):
    """A sensor parameter is invalid (unknown source, unsupported resolution, bad file...)."""


class DeviceNotFoundError(SensorError):
    """The device (or file) a sensor reads from does not exist (yet)."""

    def __init__(self, device: str, detail: str = '') -> None:
        super().__init__(f'device not found: {device}{f" ({detail})" if detail else ""}')
        self.device = device


class DeviceLostError(SensorError):
    """An open device stopped delivering data (unplugged, closed by the peer, end of data)."""


class StaleDeviceError(SensorError):
    """No data arrived from the device within its deadline."""
