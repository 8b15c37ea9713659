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
The wire layout of an audio chunk in a ``std_msgs/UInt8MultiArray`` (plain Python, no ROS).

``data`` = a 32-byte little-endian header, then the PCM frames (interleaved, little-endian).
``layout.data_offset`` = 32, so a generic multi-array reader skips the header as padding;
``layout.dim`` = ``frames`` (size chunk_frames, stride chunk_frames*channels*sample_bytes),
``channels`` (size channels, stride channels*sample_bytes), ``<encoding>`` (the bytes of one
sample). Header fields, in order (``struct`` format ``<4sBBHIIQq``):

======== ====== =============================================================================
magic    4s     ``b'UKA1'`` (layout version 1)
encoding u8     1 = ``s16le``
flags    u8     bit 0: END (last chunk of a finite stream), bit 1: DISCONTINUITY (input lost)
channels u16    channel count (samples are interleaved)
rate     u32    sample rate in Hz
valid    u32    real frames in this chunk (= chunk_frames except in the END chunk)
seq      u64    chunk sequence number (+1 per chunk; a gap means chunks were lost)
stamp    i64    capture time of the first frame, ns since the epoch
======== ====== =============================================================================
"""

import struct
from typing import List, NamedTuple, Tuple

import numpy as np

from unity_sensors.audio.chunking import AudioFormat, Chunk

MAGIC = b'UKA1'
HEADER = struct.Struct('<4sBBHIIQq')
HEADER_BYTES = HEADER.size
ENCODING_IDS = {'s16le': 1}
_ENCODING_NAMES = {v: k for k, v in ENCODING_IDS.items()}


class ChunkHeader(NamedTuple):
    """The decoded header of one chunk."""

    fmt: AudioFormat
    flags: int
    valid_frames: int
    seq: int
    stamp_ns: int


def encode(chunk: Chunk, fmt: AudioFormat) -> bytes:
    """Return header + little-endian interleaved PCM of ``chunk``."""
    header = HEADER.pack(MAGIC, ENCODING_IDS[fmt.encoding], chunk.flags, fmt.channels,
                         fmt.sample_rate, chunk.valid_frames, chunk.seq, chunk.stamp_ns)
    return header + np.ascontiguousarray(chunk.frames, dtype=fmt.dtype).tobytes()


def layout(fmt: AudioFormat, chunk_frames: int) -> Tuple[List[Tuple[str, int, int]], int]:
    """Return ``([(label, size, stride), ...], data_offset)`` for ``layout`` of the message."""
    frame_bytes = fmt.channels * fmt.sample_bytes
    dims = [('frames', chunk_frames, chunk_frames * frame_bytes),
            ('channels', fmt.channels, frame_bytes),
            (fmt.encoding, fmt.sample_bytes, fmt.sample_bytes)]
    return dims, HEADER_BYTES


def decode(data: 'bytes | bytearray | memoryview') -> Tuple[ChunkHeader, np.ndarray]:
    """
    Split a chunk message's ``data`` into its header and frames (shape (frames, channels)).

    Raises ValueError when the bytes are not a chunk of this layout version (or say more
    valid frames than they carry); never anything else, whatever the bytes.
    """
    raw = bytes(data)
    if len(raw) < HEADER_BYTES:
        raise ValueError(f'audio chunk of {len(raw)} bytes: shorter than the '
                         f'{HEADER_BYTES}-byte header')
    magic, enc, flags, channels, rate, valid, seq, stamp = HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise ValueError(f'audio chunk magic {magic!r}: expected {MAGIC!r}')
    if enc not in _ENCODING_NAMES:
        raise ValueError(f'audio chunk encoding id {enc}: expected one of '
                         f'{sorted(_ENCODING_NAMES)}')
    fmt = AudioFormat(sample_rate=rate, channels=channels, encoding=_ENCODING_NAMES[enc])
    payload = raw[HEADER_BYTES:]
    frame_bytes = channels * fmt.sample_bytes
    if len(payload) % frame_bytes:
        raise ValueError(f'audio chunk payload of {len(payload)} bytes is not a whole '
                         f'number of {frame_bytes}-byte frames')
    frames = np.frombuffer(payload, dtype=fmt.dtype).reshape(-1, channels)
    if valid > len(frames):
        raise ValueError(f'audio chunk says {valid} valid frames but carries {len(frames)}')
    return ChunkHeader(fmt, flags, valid, seq, stamp), frames
