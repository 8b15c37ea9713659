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
Where audio comes from: a sounddevice/PortAudio input stream or a WAV file, one interface.

Both deliver :class:`~unity_sensors.audio.chunking.Block` objects through ``read(timeout)``
(never blocking longer than ``timeout``: a PulseAudio pipe source with no writer delivers
nothing, and the capture thread must still stop), so the node feeds them to the same
chunker. Counters for diagnostics come from ``stats()``.
"""

import logging
import os
import stat
import time
from typing import Any, BinaryIO, Dict, List, Optional, Protocol, Tuple, Union
import wave

import numpy as np

from unity_sensors.audio.chunking import AudioFormat, Block
from unity_sensors.audio.settings import AudioSettings, MAX_CHANNELS, STANDARD_RATES
from unity_sensors.capture import SampleQueue
from unity_sensors.errors import DeviceLostError, DeviceNotFoundError, SensorConfigError

_LOG = logging.getLogger('unity_kernel.sensors.audio')
WAV_BLOCK_FRAMES = 1024


class AudioSource(Protocol):
    """A source of PCM blocks."""

    fmt: AudioFormat
    realtime: bool
    """True when the source sets the pace (a device); False when the reader does."""

    def describe(self) -> str:
        """Return a one-line description (device name or file)."""

    def start(self) -> None:
        """Start delivering (raise DeviceNotFoundError / SensorConfigError)."""

    def read(self, timeout: float) -> Optional[Block]:
        """Return the next block, or None when none came within ``timeout`` seconds."""

    def stop(self) -> None:
        """Stop and release the device or file (safe to call twice)."""

    def stats(self) -> Dict[str, int]:
        """Return counters: overruns, device_overflows, device_underflows, late, ..."""


class WavFileSource:
    """
    Read a 16-bit PCM WAV file in blocks, paced at its sample rate when ``realtime``.

    ``probe()`` (cheap: the header only) checks the file against the requested format.
    """

    def __init__(self, path: str, *, sample_rate: int = 0, channels: int = 0,
                 block_frames: int = 0, loop: bool = False, realtime: bool = True) -> None:
        self.path = path
        self.block_frames = block_frames or WAV_BLOCK_FRAMES
        self.loop = loop
        self.realtime = realtime
        self._want_rate = sample_rate
        self._want_channels = channels
        self._wav: Optional[wave.Wave_read] = None
        self._file: Optional[BinaryIO] = None
        self._pos = 0
        self._t0 = 0.0
        self._ended = False
        self._late = 0
        self.fmt = self.probe()

    def describe(self) -> str:
        """Return the file and its format."""
        f = self.fmt
        return f'wav {self.path} ({f.sample_rate} Hz, {f.channels} ch, {f.encoding})'

    def probe(self) -> AudioFormat:
        """Read the header; return the format or raise a clear error."""
        wav, file = self._open_wave()
        try:
            return self._check(wav)
        finally:
            wav.close()
            file.close()

    def start(self) -> None:
        """Open the file and start at its beginning."""
        self.stop()
        wav, file = self._open_wave()
        try:
            self.fmt = self._check(wav)
        except SensorConfigError:
            wav.close()
            file.close()
            raise
        self._wav, self._file = wav, file
        self._pos = 0
        self._ended = False
        self._t0 = time.monotonic()

    def read(self, timeout: float) -> Optional[Block]:
        """Return the next block (paced when realtime), or None at the end / before its time."""
        wav = self._wav
        if wav is None:
            raise DeviceLostError(f'{self.path}: not open')
        if self._ended:
            time.sleep(timeout)
            return None
        rate = self.fmt.sample_rate
        if self.realtime:
            now = time.monotonic()
            due = self._t0 + self._pos / rate
            if due - now > timeout:
                time.sleep(timeout)
                return None
            if due > now:
                time.sleep(due - now)
            elif now - due > self.block_frames / rate:
                self._late += 1  # we fell behind by more than a block: restart the schedule
                self._t0 = now - self._pos / rate
        try:
            raw = wav.readframes(self.block_frames)
        except (wave.Error, EOFError, OSError) as exc:
            raise SensorConfigError(f'{self.path}: cannot read audio data: {exc}') from None
        frame_bytes = self.fmt.channels * self.fmt.sample_bytes
        count = len(raw) // frame_bytes
        frames = np.frombuffer(raw[:count * frame_bytes], dtype=self.fmt.dtype)
        frames = frames.reshape(-1, self.fmt.channels)
        self._pos += count
        end = count < self.block_frames or wav.tell() >= wav.getnframes()
        if end and self.loop:
            wav.rewind()
            end = False
        self._ended = end
        return Block(frames, time.time_ns(), end=end)

    def stop(self) -> None:
        """Close the file."""
        wav, self._wav = self._wav, None
        file, self._file = self._file, None
        if wav is not None:
            wav.close()
        if file is not None:
            file.close()

    def stats(self) -> Dict[str, int]:
        """Return the late count and whether the file has ended (a file never overruns)."""
        return {'overruns': 0, 'device_overflows': 0, 'device_underflows': 0,
                'late': self._late, 'end_of_data': int(self._ended)}

    def _open_wave(self) -> Tuple[wave.Wave_read, BinaryIO]:
        """
        Open the file and read its header; return the reader and the file (close both).

        Only a regular file is read: a FIFO would block the open until a writer came, and a
        device (``/dev/zero``) would never end.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise DeviceNotFoundError(self.path, 'no such WAV file') from None
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            raise SensorConfigError(f'{self.path!r}: cannot open: '
                                    f'{getattr(exc, "strerror", None) or exc}') from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise SensorConfigError(f'{self.path}: not a regular file (a FIFO, socket, device '
                                    'or directory): refused')
        os.set_blocking(fd, True)
        file = os.fdopen(fd, 'rb')
        try:
            return wave.open(file, 'rb'), file
        except (wave.Error, EOFError, RuntimeError) as exc:  # wave raises all three
            file.close()
            raise SensorConfigError(f'{self.path}: not a valid WAV file ({exc or "truncated"}'
                                    f'); expected RIFF/WAVE 16-bit PCM') from None
        except OSError as exc:
            file.close()
            raise SensorConfigError(f'{self.path}: cannot read: {exc.strerror}') from None
        except BaseException:
            file.close()
            raise

    def _check(self, wav: wave.Wave_read) -> AudioFormat:
        width, rate, channels = wav.getsampwidth(), wav.getframerate(), wav.getnchannels()
        if width != 2:
            raise SensorConfigError(f'{self.path}: {8 * width}-bit samples are not supported; '
                                    'expected 16-bit PCM (convert: sox in.wav -b 16 out.wav)')
        if self._want_rate and rate != self._want_rate:
            raise SensorConfigError(f'{self.path}: sample rate {rate} Hz, but sample_rate is '
                                    f'{self._want_rate} Hz (no resampling; set 0 to use the '
                                    "file's rate)")
        if self._want_channels and channels != self._want_channels:
            raise SensorConfigError(f'{self.path}: {channels} channel(s), but channels is '
                                    f"{self._want_channels} (set 0 to use the file's)")
        if not 1 <= rate <= max(STANDARD_RATES):
            raise SensorConfigError(f'{self.path}: sample rate {rate} Hz: expected 1 to '
                                    f'{max(STANDARD_RATES)} Hz')
        if channels > MAX_CHANNELS:
            raise SensorConfigError(f'{self.path}: {channels} channels: at most {MAX_CHANNELS} '
                                    'are read')
        if wav.getnframes() == 0:
            raise SensorConfigError(f'{self.path}: the WAV file holds no audio frames')
        return AudioFormat(sample_rate=rate, channels=channels)


class BlockClock:
    """
    Stamp the blocks of a paced stream with the capture time of their first frame.

    A block that arrives at ``now`` was captured no later than ``now - duration``: an upper
    bound, late by however long the block waited (callbacks often come in bursts). Counting
    frames from the previous block gives a continuous estimate. The stamp is the smaller of
    the two; when the count falls behind the bound by more than ``slack_ns`` (lost frames,
    clock drift) it is re-anchored to the bound.
    """

    def __init__(self, fmt: AudioFormat, slack_ns: int) -> None:
        self.fmt = fmt
        self.slack_ns = slack_ns
        self._next: Optional[int] = None

    def reset(self) -> None:
        """Forget the frame count (the stream restarted or lost input)."""
        self._next = None

    def stamp(self, now_ns: int, frames: int) -> int:
        """Return the first frame's capture time of a block of ``frames`` arriving now."""
        bound = now_ns - self.fmt.frames_to_ns(frames)
        counted = self._next
        stamp = bound if counted is None or counted > bound or \
            bound - counted > self.slack_ns else counted
        self._next = stamp + self.fmt.frames_to_ns(frames)
        return stamp


def _sounddevice() -> Any:
    """Import sounddevice (PortAudio initialises, and lists its devices, at import)."""
    try:
        import sounddevice
    except OSError as exc:  # libportaudio2 missing
        raise SensorConfigError(f'PortAudio is not available ({exc}); install '
                                'libportaudio2 (make setup)') from None
    return sounddevice


def input_devices(sd: Any) -> List[str]:
    """Return ``index: name`` of every input device PortAudio knows."""
    return [f'{d["index"]}: {d["name"]}' for d in sd.query_devices()
            if d['max_input_channels'] > 0]


class SoundDeviceSource:
    """
    Capture from a PortAudio input through sounddevice's callback stream.

    The callback copies each block into a bounded drop-oldest queue (``buffer_blocks``);
    a full queue is an *overrun* (blocks lost, the next one is marked as a discontinuity),
    PortAudio's own input overflow/underflow flags are counted too.
    """

    realtime = True

    def __init__(self, device: str, fmt: AudioFormat, *, block_frames: int = 0,
                 buffer_blocks: int = 32) -> None:
        self.device = device
        self.fmt = fmt
        self.block_frames = block_frames
        self.buffer_blocks = buffer_blocks
        self.device_name = device or 'default input'
        self._stream: Any = None
        self._queue: SampleQueue[Block] = SampleQueue(buffer_blocks)
        self._seen_drops = 0
        self._overflows = 0
        self._underflows = 0
        self._overruns_before = 0
        block_ns = fmt.frames_to_ns(block_frames) if block_frames else 0
        self._clock = BlockClock(fmt, max(40_000_000, 2 * block_ns))

    def describe(self) -> str:
        """Return the device and the format."""
        f = self.fmt
        return f'device {self.device_name!r} ({f.sample_rate} Hz, {f.channels} ch, {f.encoding})'

    def start(self) -> None:
        """Find the device, check the format and start the stream."""
        self.stop()
        sd = _sounddevice()
        index = self._resolve(sd)
        fmt = self.fmt
        try:
            sd.check_input_settings(device=index, channels=fmt.channels, dtype='int16',
                                    samplerate=fmt.sample_rate)
        except (sd.PortAudioError, ValueError) as exc:
            raise SensorConfigError(
                f'audio device {self.device_name!r} does not support {fmt.sample_rate} Hz, '
                f'{fmt.channels} channel(s), {fmt.encoding}: {exc}') from None
        self._queue = SampleQueue(self.buffer_blocks)
        self._seen_drops = 0
        self._clock.reset()
        try:
            stream = sd.InputStream(device=index, samplerate=fmt.sample_rate,
                                    channels=fmt.channels, dtype='int16',
                                    blocksize=self.block_frames, callback=self._callback)
            stream.start()
        except sd.PortAudioError as exc:
            raise DeviceLostError(f'audio device {self.device_name!r}: cannot start the '
                                  f'stream: {exc}') from None
        self._stream = stream

    def read(self, timeout: float) -> Optional[Block]:
        """Return the oldest captured block, or None after ``timeout`` seconds."""
        stream = self._stream
        if stream is None:
            raise DeviceLostError(f'audio device {self.device_name!r}: not open')
        block = self._queue.get(timeout)
        if block is None:
            if not stream.active:
                raise DeviceLostError(f'audio device {self.device_name!r}: the stream stopped')
            return None
        drops = self._queue.dropped
        if drops != self._seen_drops:
            self._seen_drops = drops
            block.discontinuity = True
        return block

    def stop(self) -> None:
        """Stop the stream at once and release the device."""
        stream, self._stream = self._stream, None
        if stream is not None:
            self._overruns_before += self._queue.dropped
            try:
                stream.abort(ignore_errors=True)
            finally:
                stream.close(ignore_errors=True)
            self._queue.clear()

    def stats(self) -> Dict[str, int]:
        """Return overruns (our buffer) and PortAudio's overflow/underflow counts."""
        return {'overruns': self._overruns_before + self._queue.dropped,
                'device_overflows': self._overflows, 'device_underflows': self._underflows,
                'late': 0}

    def _resolve(self, sd: Any) -> Union[int, None]:
        number = self.device.isascii() and self.device.isdigit()  # not '²', which int() refuses
        spec: Union[int, str, None] = None if self.device == '' else \
            int(self.device) if number else self.device
        for attempt in range(2):
            try:
                info = sd.query_devices(spec, 'input')
                self.device_name = str(info['name']) if spec is not None else \
                    f'default input ({info["name"]})'
                return int(info['index'])
            except ValueError as exc:
                if 'Multiple' in str(exc):
                    raise SensorConfigError(f'audio device {self.device!r} is ambiguous: '
                                            f'{exc}') from None
                problem = str(exc)
            except sd.PortAudioError as exc:
                problem = str(exc)
            if attempt == 0:
                # PortAudio lists devices once, when it initialises: a device (or a sound
                # server) that appeared since is only seen after re-initialising it
                sd._terminate()
                sd._initialize()
        available = ', '.join(input_devices(sd)) or 'none: no sound card or sound server'
        raise DeviceNotFoundError(self.device or 'default input',
                                  f'{problem}; input devices: {available}')

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio's audio thread: copy and queue, nothing else
        now_ns = time.time_ns()
        if status.input_overflow:
            self._overflows += 1
            self._clock.reset()
        if status.input_underflow:
            self._underflows += 1
        stamp_ns = self._clock.stamp(now_ns, frames)
        self._queue.put(Block(indata.copy(), stamp_ns,
                              discontinuity=bool(status.input_overflow)))


def make_source(settings: AudioSettings) -> AudioSource:
    """Build (not open) the source the settings name; a WAV file's header is checked."""
    if settings.source == 'wav':
        return WavFileSource(settings.wav_path, sample_rate=settings.sample_rate,
                             channels=settings.channels, block_frames=settings.block_frames,
                             loop=settings.wav_loop, realtime=settings.realtime)
    fmt = AudioFormat(settings.device_rate, settings.device_channels, settings.encoding)
    return SoundDeviceSource(settings.device, fmt, block_frames=settings.block_frames,
                             buffer_blocks=settings.buffer_blocks)
