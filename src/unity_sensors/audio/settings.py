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

"""The audio node's parameters, validated in one place (plain Python, no ROS)."""

from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError

from unity_kernel_core.config.documents import validation_issues
from unity_sensors.errors import SensorConfigError

STANDARD_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000,
                  176400, 192000)
DEFAULT_RATE = 16000
DEFAULT_CHANNELS = 1
MAX_CHANNELS = 64
"""The most channels a device or a WAV file is read with."""


class AudioSettings(BaseModel):
    """What to capture and how to publish it (the node's ROS parameters)."""

    model_config = ConfigDict(extra='forbid', frozen=True, allow_inf_nan=False)

    source: Literal['device', 'wav'] = 'device'
    """``device``: a sounddevice/PortAudio input; ``wav``: a PCM WAV file."""
    device: str = ''
    """Input device: '' for the default, an index ('3') or a name (case-insensitive substring
    of the PortAudio device name, e.g. 'pulse')."""
    wav_path: str = ''
    wav_loop: bool = False
    realtime: bool = True
    """WAV: deliver at the file's sample rate (False: as fast as the publisher takes it)."""
    sample_rate: int = Field(0, ge=0)
    """Hz; 0: 16000 for a device, the file's rate for a WAV (which must match when given)."""
    channels: int = Field(0, ge=0, le=MAX_CHANNELS)
    """0: 1 for a device, the file's channel count for a WAV (which must match when given)."""
    encoding: Literal['s16le'] = 's16le'
    chunk_frames: int = Field(1600, ge=16, le=1 << 20)
    """Frames per published chunk (1600 = 100 ms at 16 kHz)."""
    block_frames: int = Field(0, ge=0, le=1 << 20)
    """PortAudio block size (frames per callback; 0: PortAudio's choice) / WAV read size."""
    buffer_blocks: int = Field(32, ge=2, le=4096)
    """Bound of the buffer between the audio callback and the chunker, in blocks."""
    level_rate_hz: float = Field(5.0, gt=0, le=100)
    qos_depth: int = Field(20, ge=1, le=10000)

    @model_validator(mode='after')
    def _consistent(self) -> 'AudioSettings':
        if self.sample_rate and self.sample_rate not in STANDARD_RATES:
            raise ValueError(f'sample_rate: unsupported sample rate {self.sample_rate} Hz: '
                             f'expected one of {", ".join(map(str, STANDARD_RATES))}')
        if self.source == 'wav' and not self.wav_path:
            raise ValueError("wav_path: the 'wav' source needs a file (wav_path:=/path.wav)")
        return self

    @property
    def device_rate(self) -> int:
        """Return the sample rate to open a device with."""
        return self.sample_rate or DEFAULT_RATE

    @property
    def device_channels(self) -> int:
        """Return the channel count to open a device with."""
        return self.channels or DEFAULT_CHANNELS


def load_settings(values: Mapping[str, Any]) -> AudioSettings:
    """Validate parameter values; raise SensorConfigError naming every bad parameter."""
    try:
        return AudioSettings.model_validate(dict(values))
    except ValidationError as exc:
        issues = validation_issues(exc, 'invalid parameter', {})
        raise SensorConfigError('; '.join(str(i) for i in issues)) from None
