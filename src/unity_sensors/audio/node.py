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
The ``audio`` lifecycle node: PCM chunks, their format and a level meter, on standard types.

Topics (relative to the node: ``/sensors/audio/...`` under the shipped manifest):

- ``~/pcm`` ``std_msgs/UInt8MultiArray``: one fixed-size chunk per message, a 32-byte header
  (format, sequence, capture time) in the ``data_offset`` padding, then interleaved
  little-endian PCM; see :mod:`unity_sensors.audio.pcm` (``decode``) and docs/sensors.md.
  Reliable, keep last ``qos_depth``.
- ``~/info`` ``std_msgs/String``: the stream format as JSON, latched (transient local).
- ``~/level`` ``std_msgs/Float32``: RMS level in dBFS over the last window, at
  ``level_rate_hz`` (sensor-data QoS), for plots.

Lifecycle (from :class:`~unity_sensors.sensor_node.SensorNode`): ``configure`` validates the
parameters and checks a WAV file's header (no device is opened); ``activate`` opens the
device or file and starts publishing; ``deactivate`` stops and releases it; a fault goes
through ``on_error`` to ``unconfigured``. Overruns and PortAudio overflow/underflow counts are
reported on ``/diagnostics``.
"""

import collections
import json
import sys
from typing import Any, Deque, Dict, List, Optional

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Float32, MultiArrayDimension, String, UInt8MultiArray

from unity_kernel_core.ros import callbacks
from unity_kernel_core.ros.diagnostics import OK, WARN
from unity_kernel_core.ros.parameters import ParamSpec
from unity_sensors.audio import pcm
from unity_sensors.audio.chunking import Chunk, Chunker
from unity_sensors.audio.level import LevelMeter
from unity_sensors.audio.settings import AudioSettings, load_settings
from unity_sensors.audio.sources import AudioSource, make_source
from unity_sensors.sensor_node import run_node, sensor_qos, SensorNode

READ_TIMEOUT_S = 0.1
_DEFAULTS = AudioSettings()
PARAMETERS = list(AudioSettings.model_fields)


def parameters() -> List[ParamSpec]:
    """Return the audio node's parameters: one per audio setting, checked at configure."""
    # ``device`` is an index or a name: accept both ``device:=3`` and ``device:=pulse``
    return [ParamSpec(name, getattr(_DEFAULTS, name),
                      f'Audio setting {name} (see docs/sensors.md).',
                      dynamic_typing=name == 'device')
            for name in PARAMETERS]


class AudioNode(SensorNode):
    """Capture audio and publish it in fixed-size chunks with a level meter."""

    sensor_name = 'audio'

    def __init__(self) -> None:
        super().__init__('audio')
        self.declare_specs(parameters())
        self.settings: Optional[AudioSettings] = None
        self.source: Optional[AudioSource] = None
        self.chunker: Optional[Chunker] = None
        self.meter = LevelMeter()
        self._ready: Deque[Chunk] = collections.deque()
        self._layout: Any = None
        self._pcm_pub: Any = None
        self._info_pub: Any = None
        self._level_pub: Any = None
        self._level_timer: Any = None
        self._prev_overruns = 0
        self._late_seen = 0

    # -- SensorNode hooks --------------------------------------------------------------------

    def configure_sensor(self) -> None:
        """Validate the parameters, build the source (unopened), create the publishers."""
        values = {n: self.get_parameter(n).value for n in PARAMETERS}
        values['device'] = str(values['device'])
        settings = load_settings(values)
        source = make_source(settings)
        self.settings, self.source = settings, source
        self.chunker = Chunker(source.fmt, settings.chunk_frames)
        dims, offset = pcm.layout(source.fmt, settings.chunk_frames)
        self._layout = UInt8MultiArray().layout
        self._layout.dim = [MultiArrayDimension(label=label, size=size, stride=stride)
                            for label, size, stride in dims]
        self._layout.data_offset = offset
        self._pcm_pub = self.create_lifecycle_publisher(
            UInt8MultiArray, '~/pcm',
            QoSProfile(depth=settings.qos_depth, reliability=ReliabilityPolicy.RELIABLE))
        self._info_pub = self.create_lifecycle_publisher(
            String, '~/info', QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                                         durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self._level_pub = self.create_lifecycle_publisher(Float32, '~/level', sensor_qos())
        self._level_timer = callbacks.timer(self, 1.0 / settings.level_rate_hz,
                                            self._publish_level)

    def open_sensor(self) -> None:
        """Open the device or file (activate, and reopen after a loss)."""
        assert self.source is not None and self.chunker is not None
        self.chunker.reset()
        self._ready.clear()
        self.meter.clear()
        self.source.start()
        self._late_seen = self.source.stats()['late']

    def on_activate(self, state: Any) -> Any:
        """Activate (the base opens the source), then publish the stream format."""
        result = super().on_activate(state)
        if self.state_label == 'active' and self._info_pub is not None:
            self._info_pub.publish(String(data=json.dumps(self.stream_info())))
        return result

    def read_sample(self) -> Optional[Chunk]:
        """Return the next complete chunk (capture thread), or None when none is ready yet."""
        source, chunker, worker = self.source, self.chunker, self.worker
        assert source is not None and chunker is not None and worker is not None
        if not source.realtime:
            # a file waits for the publisher instead of overrunning the queue
            capacity = int(self.get_parameter('queue_size').value)
            while len(worker.queue) >= capacity:
                if not worker.sleep(0.002):
                    return None
        while not self._ready:
            block = source.read(READ_TIMEOUT_S)
            late = source.stats()['late']
            if late != self._late_seen:  # a paced file fell behind: the base's `late`
                self.counters.add(late=max(0, late - self._late_seen))
                self._late_seen = late
            if block is None:
                return None
            self._ready.extend(chunker.push(block))
        chunk = self._ready.popleft()
        self.meter.add(chunk.frames[:chunk.valid_frames])
        return chunk

    def handle_sample(self, chunk: Chunk) -> None:
        """Publish one chunk (publish thread)."""
        assert self.source is not None and self._pcm_pub is not None
        msg = UInt8MultiArray(layout=self._layout)
        msg.data = pcm.encode(chunk, self.source.fmt)
        self._pcm_pub.publish(msg)

    def close_sensor(self) -> None:
        """Stop the stream or close the file."""
        if self.source is not None:
            self.source.stop()

    def cleanup_sensor(self) -> None:
        """Destroy the publishers and the level timer."""
        if self._level_timer is not None:
            self.destroy_timer(self._level_timer)
            self._level_timer = None
        for pub in (self._pcm_pub, self._info_pub, self._level_pub):
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
        self._pcm_pub = self._info_pub = self._level_pub = None
        self.source = None
        self.chunker = None

    def describe_source(self) -> str:
        """Return the source's description."""
        return self.source.describe() if self.source is not None else 'audio (unconfigured)'

    def sensor_diagnostics(self) -> Dict[str, object]:
        """Return the format, chunk count and overrun/underrun counters."""
        if self.source is None or self.settings is None or self.chunker is None:
            return {}
        fmt = self.source.fmt
        values: Dict[str, object] = {
            'sample_rate': fmt.sample_rate, 'channels': fmt.channels, 'encoding': fmt.encoding,
            'chunk_frames': self.settings.chunk_frames, 'next_seq': self.chunker.next_seq}
        values.update((k, v) for k, v in self.source.stats().items() if k != 'late')
        return values

    def diagnostic_status(self) -> Any:
        """Return the base status, raised to WARN when the audio buffer overran."""
        st = super().diagnostic_status()
        overruns = self.source.stats()['overruns'] if self.source is not None else 0
        new, self._prev_overruns = overruns - self._prev_overruns, overruns
        if new > 0 and st.level == OK:
            st.level = WARN
            st.message = f'{new} overrun(s): audio blocks lost before chunking'
        elif new > 0:
            st.message += f'; {new} overrun(s)'
        return st

    # -- helpers -----------------------------------------------------------------------------

    def stream_info(self) -> Dict[str, Any]:
        """Return the stream's format and the chunk layout (the ``~/info`` JSON)."""
        assert self.source is not None and self.settings is not None
        fmt = self.source.fmt
        return {'source': self.source.describe(), 'sample_rate': fmt.sample_rate,
                'channels': fmt.channels, 'encoding': fmt.encoding,
                'chunk_frames': self.settings.chunk_frames,
                'chunk_ms': 1000.0 * self.settings.chunk_frames / fmt.sample_rate,
                'header_bytes': pcm.HEADER_BYTES, 'header': 'UKA1 <4sBBHIIQq: magic, '
                'encoding, flags, channels, rate, valid_frames, seq, stamp_ns',
                'frame_id': self.frame_id}

    def _publish_level(self) -> None:
        level = self.meter.take()
        if level is not None and self._level_pub is not None and self.state_label == 'active':
            self._level_pub.publish(Float32(data=level))


def main(args: Optional[List[str]] = None) -> int:
    """Run the audio node (``ros2 run unity_kernel audio``)."""
    return run_node(AudioNode, args)


if __name__ == '__main__':
    sys.exit(main())
