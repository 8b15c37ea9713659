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

"""Audio level in dBFS (plain Python, no ROS)."""

import math
import threading

import numpy as np

FLOOR_DBFS = -120.0
"""Level reported for digital silence (instead of minus infinity)."""


def rms_dbfs(frames: np.ndarray) -> float:
    """
    Return the RMS level of integer PCM frames in dB relative to full scale.

    Full scale is the largest magnitude of the sample type (32768 for 16-bit), so a
    full-scale square wave is 0 dBFS and a full-scale sine about -3.01 dBFS.
    """
    if frames.size == 0:
        return FLOOR_DBFS
    full_scale = float(-np.iinfo(frames.dtype).min)
    mean_square = float(np.mean(np.square(frames, dtype=np.float64)))
    return _to_dbfs(mean_square, full_scale)


def _to_dbfs(mean_square: float, full_scale: float) -> float:
    if mean_square <= 0.0:
        return FLOOR_DBFS
    return max(FLOOR_DBFS, 10.0 * math.log10(mean_square / (full_scale * full_scale)))


class LevelMeter:
    """Accumulate frames from the capture thread; :meth:`take` the RMS dBFS of the window."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sum = 0.0
        self._count = 0
        self._full_scale = 32768.0

    def add(self, frames: np.ndarray) -> None:
        """Add samples (any shape, an integer type) to the current window."""
        if frames.size == 0:
            return
        total = float(np.sum(np.square(frames, dtype=np.float64)))
        with self._lock:
            self._sum += total
            self._count += int(frames.size)
            self._full_scale = float(-np.iinfo(frames.dtype).min)

    def take(self) -> 'float | None':
        """Return the level of the samples added since the last call (None: no samples)."""
        with self._lock:
            total, count = self._sum, self._count
            self._sum, self._count = 0.0, 0
            full_scale = self._full_scale
        if count == 0:
            return None
        return _to_dbfs(total / count, full_scale)

    def clear(self) -> None:
        """Forget the current window."""
        with self._lock:
            self._sum, self._count = 0.0, 0
