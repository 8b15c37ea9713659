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

"""Audio capture without ROS: chunking, the wire layout, the level meter, the WAV source."""

import os
import struct
import subprocess
import wave

import numpy as np
import pytest

from unity_sensors.audio import pcm
from unity_sensors.audio.chunking import AudioFormat, Block, Chunker, FLAG_DISCONTINUITY
from unity_sensors.audio.chunking import FLAG_END
from unity_sensors.audio.level import FLOOR_DBFS, LevelMeter, rms_dbfs
from unity_sensors.audio.settings import load_settings
from unity_sensors.audio.sources import BlockClock, make_source, WavFileSource
from unity_sensors.errors import DeviceNotFoundError, SensorConfigError

MONO16K = AudioFormat(16000, 1)


def ramp(n, channels=1, start=0):
    values = (np.arange(start, start + n * channels) % 65536 - 32768).astype('<i2')
    return values.reshape(n, channels)


def write_wav(path, frames, rate=16000):
    with wave.open(str(path), 'wb') as w:
        w.setnchannels(frames.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames.astype('<i2').tobytes())
    return path


def sox(*args):
    subprocess.run(['sox', *map(str, args)], check=True, capture_output=True)


# -- chunking ----------------------------------------------------------------------------------

def test_blocks_of_any_size_become_fixed_size_chunks_in_order():
    chunker = Chunker(MONO16K, 100)
    data = ramp(1000)
    out = []
    pos = 0
    for size in [7, 93, 250, 1, 99, 300, 250]:
        out += chunker.push(Block(data[pos:pos + size], stamp_ns=pos * 62500))
        pos += size
    assert pos == 1000
    assert [c.seq for c in out] == list(range(10))
    assert all(c.frames.shape == (100, 1) and c.valid_frames == 100 for c in out)
    assert np.array_equal(np.concatenate([c.frames for c in out]), data)
    # the stamp of a chunk is the capture time of its first frame (62.5 us per frame)
    assert [c.stamp_ns for c in out] == [i * 100 * 62500 for i in range(10)]
    assert chunker.pending_frames == 0


def test_end_of_stream_pads_the_last_chunk_and_says_how_much_is_real():
    chunker = Chunker(AudioFormat(8000, 2), 64)
    data = ramp(150, channels=2)
    out = chunker.push(Block(data, 0, end=True))
    assert [c.valid_frames for c in out] == [64, 64, 22]
    assert out[-1].flags & FLAG_END and not out[0].flags & FLAG_END
    assert np.array_equal(out[-1].frames[:22], data[128:])
    assert not out[-1].frames[22:].any()
    exact = Chunker(MONO16K, 50).push(Block(ramp(100), 0, end=True))
    assert len(exact) == 2 and exact[-1].flags & FLAG_END and exact[-1].valid_frames == 50


def test_lost_input_marks_the_next_chunk_and_sequence_numbers_go_on_after_reset():
    chunker = Chunker(MONO16K, 10)
    first = chunker.push(Block(ramp(15), 0))
    chunker.reset()  # the device was reopened: the partial chunk is dropped
    after = chunker.push(Block(ramp(10), 0, discontinuity=True))
    assert [c.seq for c in first + after] == [0, 1]
    assert after[0].flags & FLAG_DISCONTINUITY and not first[0].flags
    fresh = Chunker(MONO16K, 10)
    fresh.reset()  # the first open: nothing came before, so nothing is discontinuous
    assert fresh.push(Block(ramp(10), 0))[0].flags == 0
    again = Chunker(MONO16K, 10)
    again.push(Block(ramp(10), 0))
    again.reset()  # reopened after a whole chunk: the stream stopped in between
    assert again.push(Block(ramp(10), 0))[0].flags & FLAG_DISCONTINUITY


def test_chunker_rejects_blocks_of_the_wrong_channel_count():
    with pytest.raises(ValueError, match=r'expected \(n, 2\)'):
        Chunker(AudioFormat(16000, 2), 10).push(Block(ramp(5), 0))


# -- wire layout -------------------------------------------------------------------------------

def test_chunk_encodes_with_its_format_and_decodes_to_the_same_samples():
    fmt = AudioFormat(48000, 2)
    chunk = Chunker(fmt, 32).push(Block(ramp(32, 2), 123456789, discontinuity=True))[0]
    data = pcm.encode(chunk, fmt)
    assert len(data) == pcm.HEADER_BYTES + 32 * 2 * 2
    header, frames = pcm.decode(data)
    assert header == pcm.ChunkHeader(fmt, FLAG_DISCONTINUITY, 32, 0, 123456789)
    assert np.array_equal(frames, chunk.frames)
    dims, offset = pcm.layout(fmt, 32)
    assert offset == pcm.HEADER_BYTES
    assert dims == [('frames', 32, 128), ('channels', 2, 4), ('s16le', 2, 2)]
    # a generic multi-array reader: skip data_offset, then dims give the byte positions
    frame, channel = 5, 1
    at = offset + frame * dims[1][2] + channel * dims[2][2]
    assert int.from_bytes(data[at:at + 2], 'little', signed=True) == chunk.frames[5, 1]


@pytest.mark.parametrize('bad, message', [
    (b'xx', 'shorter than'),
    (b'NOPE' + bytes(28), 'magic'),
    (pcm.HEADER.pack(pcm.MAGIC, 9, 0, 1, 16000, 0, 0, 0), 'encoding id 9'),
    (pcm.HEADER.pack(pcm.MAGIC, 1, 0, 2, 16000, 0, 0, 0) + b'abc', 'whole number'),
    (pcm.HEADER.pack(pcm.MAGIC, 1, 0, 1, 16000, 3, 0, 0) + b'ab', '3 valid frames'),
    (pcm.HEADER.pack(pcm.MAGIC, 1, 0, 0, 16000, 0, 0, 0), 'channels must be > 0')])
def test_decode_rejects_bytes_that_are_not_a_chunk(bad, message):
    with pytest.raises(ValueError, match=message):
        pcm.decode(bad)


# -- level -------------------------------------------------------------------------------------

def test_level_of_known_signals_in_dbfs():
    t = np.arange(16000) / 16000
    half_sine = (0.5 * 32767 * np.sin(2 * np.pi * 440 * t)).astype('<i2').reshape(-1, 1)
    assert rms_dbfs(half_sine) == pytest.approx(-9.03, abs=0.02)  # 20log10(0.5/sqrt 2)
    square = np.full((100, 1), -32768, dtype='<i2')
    assert rms_dbfs(square) == pytest.approx(0.0)
    assert rms_dbfs(np.zeros((100, 1), dtype='<i2')) == FLOOR_DBFS
    meter = LevelMeter()
    assert meter.take() is None
    meter.add(half_sine[:8000])
    meter.add(half_sine[8000:])
    assert meter.take() == pytest.approx(-9.03, abs=0.02)
    assert meter.take() is None


# -- capture stamps -----------------------------------------------------------------------------

def test_bursty_callbacks_are_stamped_by_counting_frames_and_reanchored_after_a_gap():
    clock = BlockClock(MONO16K, slack_ns=40_000_000)
    ms = 1_000_000
    # 20 ms of audio arrives every 20 ms as three callbacks in a burst (139 + 139 + 42 frames)
    stamps = []
    for burst in range(3):
        now = (100 + 20 * burst) * ms
        for frames in (139, 139, 42):
            stamps.append(clock.stamp(now, frames))
    offsets = [MONO16K.frames_to_ns(n) for n in (0, 139, 278)]
    # the first burst can only be bounded ("arrived now, so captured before now - length");
    # from the second on, counting frames puts each block where it belongs
    assert stamps[0] == 100 * ms - MONO16K.frames_to_ns(139)
    assert stamps[3:] == [start * ms + off for start in (100, 120) for off in offsets]
    # a block can never be stamped later than "now minus its duration"
    assert clock.stamp(160 * ms, 320) == 140 * ms
    # 200 ms of lost input: the count falls behind by more than the slack, re-anchored
    assert clock.stamp(400 * ms, 320) == 380 * ms


# -- settings ----------------------------------------------------------------------------------

def test_bad_parameters_are_named_with_what_was_expected():
    with pytest.raises(SensorConfigError, match='unsupported sample rate 12345 Hz: expected '
                                                'one of 8000'):
        load_settings({'sample_rate': 12345})
    with pytest.raises(SensorConfigError, match="wav_path: the 'wav' source needs a file"):
        load_settings({'source': 'wav'})
    with pytest.raises(SensorConfigError) as err:
        load_settings({'chunk_frames': 0, 'source': 'mic'})
    assert 'chunk_frames: Input should be greater than or equal to 16' in str(err.value)
    assert "source: Input should be 'device' or 'wav'" in str(err.value)


# -- WAV source --------------------------------------------------------------------------------

def read_all(source, limit=10000):
    blocks = []
    for _ in range(limit):
        block = source.read(0.5)
        if block is not None:
            blocks.append(block)
            if block.end:
                return blocks
    raise AssertionError('no end of stream')


def test_wav_file_is_read_sample_exactly_in_blocks(tmp_path):
    data = ramp(5000, channels=2)
    source = make_source(load_settings({'source': 'wav', 'realtime': False,
                                        'wav_path': str(write_wav(tmp_path / 'a.wav', data)),
                                        'block_frames': 512}))
    assert source.fmt == AudioFormat(16000, 2)
    source.start()
    blocks = read_all(source)
    source.stop()
    assert [len(b.frames) for b in blocks] == [512] * 9 + [392]
    assert np.array_equal(np.concatenate([b.frames for b in blocks]), data)


def test_wav_file_made_by_sox_keeps_its_samples_through_the_chunker(tmp_path):
    path = tmp_path / 'tone.wav'
    sox('-n', '-r', 22050, '-c', 1, '-b', 16, '-e', 'signed', path, 'synth', 0.3, 'sine', 1000)
    with wave.open(str(path)) as w:
        expected = np.frombuffer(w.readframes(w.getnframes()), '<i2').reshape(-1, 1)
    source = WavFileSource(str(path), realtime=False)
    source.start()
    chunker = Chunker(source.fmt, 1000)
    chunks = [c for b in read_all(source) for c in chunker.push(b)]
    assert all(len(c.frames) == 1000 for c in chunks)
    joined = np.concatenate([c.frames[:c.valid_frames] for c in chunks])
    assert np.array_equal(joined, expected)


def test_wav_loop_starts_again_and_realtime_paces_the_blocks(tmp_path):
    import time
    path = write_wav(tmp_path / 'a.wav', ramp(800), rate=8000)
    source = WavFileSource(str(path), block_frames=400, loop=True, realtime=True)
    source.start()
    started = time.monotonic()
    blocks = [b for b in (source.read(0.5) for _ in range(6)) if b is not None]
    elapsed = time.monotonic() - started
    source.stop()
    assert len(blocks) == 6 and not any(b.end for b in blocks)
    assert np.array_equal(blocks[2].frames, blocks[0].frames)  # looped
    assert elapsed > 0.2  # 5 block periods of 50 ms after the first: paced, not a burst


def test_bad_wav_files_give_clear_errors(tmp_path):
    with pytest.raises(DeviceNotFoundError, match='device not found: .*missing.wav'):
        WavFileSource(str(tmp_path / 'missing.wav'))
    corrupt = tmp_path / 'corrupt.wav'
    corrupt.write_bytes(b'RIFF\x10\x00\x00\x00WAVEjunkjunkjunk')
    with pytest.raises(SensorConfigError, match='not a valid WAV file'):
        WavFileSource(str(corrupt))
    text = tmp_path / 'text.wav'
    text.write_text('hello, not audio\n')
    with pytest.raises(SensorConfigError, match='not a valid WAV file'):
        WavFileSource(str(text))
    eight = tmp_path / 'eight.wav'
    sox('-n', '-r', 8000, '-c', 1, '-b', 8, '-e', 'unsigned', eight, 'synth', 0.1, 'sine', 440)
    with pytest.raises(SensorConfigError, match='8-bit samples are not supported'):
        WavFileSource(str(eight))
    good = write_wav(tmp_path / 'good.wav', ramp(100), rate=44100)
    with pytest.raises(SensorConfigError, match='sample rate 44100 Hz, but sample_rate is '
                                                '16000 Hz'):
        WavFileSource(str(good), sample_rate=16000)
    with pytest.raises(SensorConfigError, match='1 channel'):
        WavFileSource(str(good), channels=2)


def wav_header(channels=1, rate=16000, width=2, data=b'\0\0' * 10):
    """Return a RIFF/WAVE PCM file with any header fields, as a hostile file may have them."""
    fmt = struct.pack('<HHIIHH', 1, channels, rate, (rate * channels * width) % 2 ** 32,
                      (channels * width) % 2 ** 16, width * 8)
    body = b'WAVE' + b'fmt ' + struct.pack('<I', len(fmt)) + fmt + b'data' + \
        struct.pack('<I', len(data)) + data
    return b'RIFF' + struct.pack('<I', len(body)) + body


@pytest.mark.parametrize('fields, message', [
    ({'rate': 0}, 'sample rate 0 Hz: expected 1 to 192000'),
    ({'rate': 2 ** 32 - 1}, 'sample rate 4294967295 Hz'),
    ({'channels': 65535, 'data': b''}, '65535 channels: at most 64')])
def test_a_wav_header_out_of_range_is_a_config_error(tmp_path, fields, message):
    """Regression: a frame rate of 0 raised a bare ValueError out of configure."""
    path = tmp_path / 'hostile.wav'
    path.write_bytes(wav_header(**fields))
    with pytest.raises(SensorConfigError, match=message):
        WavFileSource(str(path))


@pytest.mark.timeout(10)
def test_a_fifo_or_a_device_as_wav_file_is_refused_without_waiting(tmp_path):
    """Regression: a FIFO as wav_path blocked configure until a writer came (forever)."""
    fifo = tmp_path / 'fifo.wav'
    os.mkfifo(fifo)
    for path in (fifo, '/dev/zero', tmp_path):
        with pytest.raises(SensorConfigError, match='not a regular file'):
            WavFileSource(str(path))
    with pytest.raises(SensorConfigError, match='cannot open'):
        WavFileSource(str(tmp_path / 'a\0b.wav'))


def test_a_device_named_with_unicode_digits_is_looked_up_by_name():
    """Regression: device '²' passed str.isdigit() and int('²') raised a bare ValueError."""
    from unity_sensors.audio.sources import SoundDeviceSource
    asked = []

    class FakeSd:
        PortAudioError = OSError

        def query_devices(self, spec, kind):
            asked.append(spec)
            return {'name': 'mic ²', 'index': 4}

    assert SoundDeviceSource('²', MONO16K)._resolve(FakeSd()) == 4
    assert SoundDeviceSource('3', MONO16K)._resolve(FakeSd()) == 4
    assert asked == ['²', 3]
