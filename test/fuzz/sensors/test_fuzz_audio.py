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
Fuzz: audio from a WAV file, a chunk on the wire and blocks of any size.

- any bytes as a WAV file: a source reading whole frames of the format its header gives, or
  SensorConfigError naming the file (never another exception, never a wait);
- any bytes as an audio chunk (``pcm.decode``, offered to modules that read ``~/pcm``): a
  header and frames that hold together, or ValueError;
- blocks of any size into the chunker: chunks of exactly ``chunk_frames`` frames numbered
  one by one, no frame lost or added.
"""

import struct

from hypothesis import example, given, strategies as st
import numpy as np
import pytest

from unity_sensors.audio import pcm
from unity_sensors.audio.chunking import AudioFormat, Block, Chunker, FLAG_END
from unity_sensors.audio.settings import MAX_CHANNELS
from unity_sensors.audio.sources import WavFileSource
from unity_sensors.errors import SensorConfigError


def riff(channels, rate, width, data, tag=1, extra=b''):
    fmt = struct.pack('<HHIIHH', tag, channels, rate, (rate * channels * width) % 2 ** 32,
                      (channels * width) % 2 ** 16, (width * 8) % 2 ** 16) + extra
    body = b'WAVE' + b'fmt ' + struct.pack('<I', len(fmt)) + fmt + b'data' + \
        struct.pack('<I', len(data) % 2 ** 32) + data
    return b'RIFF' + struct.pack('<I', len(body)) + body


@st.composite
def wav_bytes(draw):
    header = riff(draw(st.sampled_from([0, 1, 2, 3, 64, 65, 65535])),
                  draw(st.sampled_from([0, 1, 8000, 16000, 44100, 192001, 2 ** 32 - 1])),
                  draw(st.sampled_from([0, 1, 2, 3, 4])),
                  draw(st.binary(max_size=64)), draw(st.sampled_from([1, 3, 0xFFFE, 0])))
    data = bytearray(header)
    how = draw(st.sampled_from(['whole', 'cut', 'flip', 'random']))
    if how == 'cut':
        data = data[:draw(st.integers(0, len(data)))]
    elif how == 'flip':
        for _ in range(draw(st.integers(1, 3))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif how == 'random':
        data = bytearray(draw(st.binary(max_size=120)))
    return bytes(data)


@pytest.fixture(scope='module')
def wav_path(tmp_path_factory):
    return tmp_path_factory.mktemp('wav') / 'fuzz.wav'


@given(data=wav_bytes())
@example(data=riff(1, 0, 2, b'\0\0'))
@example(data=riff(65535, 16000, 2, b''))
def test_any_wav_file_is_read_in_whole_frames_or_refused_with_its_name(wav_path, data):
    wav_path.write_bytes(data)
    try:
        source = WavFileSource(str(wav_path), block_frames=7, realtime=False)
    except SensorConfigError as exc:
        assert str(wav_path) in str(exc)
        return
    fmt = source.fmt
    assert 1 <= fmt.channels <= MAX_CHANNELS and fmt.sample_rate >= 1
    source.start()
    try:
        for _ in range(64):  # a whole file of at most 64 bytes of frames
            try:
                block = source.read(0.0)
            except SensorConfigError as exc:
                assert str(wav_path) in str(exc)
                return
            if block is None:
                break
            assert block.frames.ndim == 2 and block.frames.shape[1] == fmt.channels
            assert block.frames.shape[0] <= 7
            if block.end:
                break
        else:
            pytest.fail('a WAV file of a few bytes never ended')
    finally:
        source.stop()


@given(st.binary(max_size=200))
@example(pcm.HEADER.pack(pcm.MAGIC, 1, 0, 0, 16000, 0, 0, 0))
@example(pcm.HEADER.pack(pcm.MAGIC, 1, 0, 1, 16000, 2 ** 32 - 1, 0, 0))
def test_any_bytes_are_an_audio_chunk_or_a_value_error(data):
    data = pcm.MAGIC + data[4:] if data[:1] == b'U' else data  # half of them past the magic
    try:
        header, frames = pcm.decode(data)
    except ValueError as exc:
        assert str(exc)
        return
    assert frames.shape == ((len(data) - pcm.HEADER_BYTES) // (2 * header.fmt.channels),
                            header.fmt.channels)
    assert 0 <= header.valid_frames <= len(frames)


@given(st.integers(1, 4), st.integers(1, 50),
       st.lists(st.tuples(st.integers(0, 120), st.booleans()), max_size=12), st.booleans())
def test_blocks_of_any_size_become_whole_numbered_chunks(channels, chunk_frames, blocks, end):
    fmt = AudioFormat(16000, channels)
    chunker, chunks, sent = Chunker(fmt, chunk_frames), [], 0
    for i, (size, lost) in enumerate(blocks):
        frames = (np.arange(sent, sent + size * channels) % 30000).astype('<i2')
        last = end and i == len(blocks) - 1
        chunks += chunker.push(Block(frames.reshape(size, channels), stamp_ns=sent,
                                     discontinuity=lost, end=last))
        sent += size * channels
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert all(c.frames.shape == (chunk_frames, channels) for c in chunks)
    valid = np.concatenate([c.frames[:c.valid_frames] for c in chunks] +
                           [np.zeros((0, channels), '<i2')])
    assert np.array_equal(valid.reshape(-1), (np.arange(len(valid) * channels) % 30000))
    assert len(valid) * channels + chunker.pending_frames * channels == sent
    for chunk in chunks:
        header, frames = pcm.decode(pcm.encode(chunk, fmt))
        assert header.seq == chunk.seq and np.array_equal(frames, chunk.frames)
    assert all(not c.flags & FLAG_END for c in chunks[:-1])
