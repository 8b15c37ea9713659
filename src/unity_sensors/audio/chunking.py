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
Cut captured PCM into fixed-size chunks with sequence numbers (plain Python, no ROS).

Every source (a sounddevice stream, a WAV file) delivers :class:`Block` objects of whatever
size it reads; :class:`Chunker` turns them into :class:`Chunk` objects of exactly
``chunk_frames`` frames. Each chunk carries a sequence number (one per chunk, never reset
while the chunker lives, so a consumer can count losses), the capture time of its first
frame and flags: the chunk after lost input is marked ``DISCONTINUITY``; the last chunk of a
finite stream is zero-padded to the full size, marked ``END`` and says how many of its frames
are real (``valid_frames``).
"""

import dataclasses
from typing import List, Optional

import numpy as np

FLAG_END = 0x01
"""The stream ended: this chunk is the last one (zero-padded after ``valid_frames``)."""
FLAG_DISCONTINUITY = 0x02
"""Input was lost right before this chunk's samples (an overrun): do not splice across it."""

ENCODINGS = {'s16le': np.dtype('<i2')}
"""Supported sample encodings and their numpy types."""


@dataclasses.dataclass(frozen=True)
class AudioFormat:
    """What the samples are: rate, channel count (interleaved) and encoding."""

    sample_rate: int
    channels: int
    encoding: str = 's16le'

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ValueError(f'unsupported encoding {self.encoding!r}: expected one of '
                             f'{", ".join(ENCODINGS)}')
        if self.sample_rate <= 0 or self.channels <= 0:
            raise ValueError(f'sample_rate and channels must be > 0, got {self.sample_rate} '
                             f'Hz, {self.channels} channel(s)')

    @property
    def dtype(self) -> np.dtype:
        """Return the numpy type of one sample."""
        return ENCODINGS[self.encoding]

    @property
    def sample_bytes(self) -> int:
        """Return the size of one sample of one channel in bytes."""
        return int(self.dtype.itemsize)

    def frames_to_ns(self, frames: int) -> int:
        """Return the duration of ``frames`` frames in nanoseconds."""
        return frames * 1_000_000_000 // self.sample_rate


@dataclasses.dataclass
class Block:
    """Frames as a source read them: shape (frames, channels), any number of frames."""

    frames: np.ndarray
    stamp_ns: int
    """Capture time of the first frame (``time.time_ns()`` clock)."""
    discontinuity: bool = False
    """Input was lost right before this block."""
    end: bool = False
    """The stream ends after this block."""


@dataclasses.dataclass
class Chunk:
    """``chunk_frames`` frames, shape (chunk_frames, channels), with their sequence number."""

    seq: int
    stamp_ns: int
    frames: np.ndarray
    valid_frames: int
    flags: int = 0


class Chunker:
    """
    Turn blocks of any size into fixed-size chunks; memory is bounded by one chunk.

    Not thread-safe: one capture thread pushes.
    """

    def __init__(self, fmt: AudioFormat, chunk_frames: int) -> None:
        if chunk_frames < 1:
            raise ValueError(f'chunk_frames must be >= 1, got {chunk_frames}')
        self.fmt = fmt
        self.chunk_frames = chunk_frames
        self.next_seq = 0
        self._buf = np.zeros((chunk_frames, fmt.channels), dtype=fmt.dtype)
        self._fill = 0
        self._stamp_ns = 0
        self._flags = 0

    @property
    def pending_frames(self) -> int:
        """Return how many frames wait for the next chunk."""
        return self._fill

    def reset(self) -> None:
        """
        Drop a partial chunk: the source was (re)opened; sequence numbers go on.

        After chunks were made, the next one is marked ``DISCONTINUITY``: the stream stopped
        in between.
        """
        self._fill = 0
        self._flags = FLAG_DISCONTINUITY if self.next_seq else 0

    def push(self, block: Block) -> List[Chunk]:
        """Add a block; return the chunks it completed (possibly none)."""
        frames = block.frames
        if frames.ndim != 2 or frames.shape[1] != self.fmt.channels:
            raise ValueError(f'block of shape {frames.shape}: expected (n, '
                             f'{self.fmt.channels})')
        if frames.dtype != self.fmt.dtype:
            frames = frames.astype(self.fmt.dtype)
        out: List[Chunk] = []
        if block.discontinuity:
            self._flags |= FLAG_DISCONTINUITY
        pos = 0
        while pos < len(frames):
            if self._fill == 0:
                self._stamp_ns = block.stamp_ns + self.fmt.frames_to_ns(pos)
            take = min(self.chunk_frames - self._fill, len(frames) - pos)
            self._buf[self._fill:self._fill + take] = frames[pos:pos + take]
            self._fill += take
            pos += take
            if self._fill == self.chunk_frames:
                out.append(self._emit(self.chunk_frames, 0))
        if block.end:
            final = self.flush()
            if final is not None:
                out.append(final)
            elif out:
                out[-1].flags |= FLAG_END
        return out

    def flush(self) -> Optional[Chunk]:
        """Return the partial chunk, zero-padded and marked END (None when there is none)."""
        if self._fill == 0:
            return None
        valid = self._fill
        self._buf[valid:] = 0
        return self._emit(valid, FLAG_END)

    def _emit(self, valid: int, flags: int) -> Chunk:
        chunk = Chunk(seq=self.next_seq, stamp_ns=self._stamp_ns, frames=self._buf.copy(),
                      valid_frames=valid, flags=self._flags | flags)
        self.next_seq += 1
        self._fill = 0
        self._flags = 0
        return chunk
