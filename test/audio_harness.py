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
Real audio devices for tests and benchmarks, without a sound card.

:class:`PulseAudio` runs a private ``pulseaudio`` daemon (its own ``HOME`` and
``XDG_RUNTIME_DIR`` in a temp dir, a unix socket only) with

- ``module-pipe-source`` ``fifo``: the default source, fed from a FIFO by :meth:`feed`
  (paced writes, so PortAudio sees a real-time input device, ``pulse`` in ALSA);
- ``module-null-sink`` ``null``: its monitor runs on PulseAudio's real-time clock;

and a private ``~/.asoundrc`` with ALSA ``type file`` PCMs that capture a raw fixture
bit-exactly: ``fixtures={'name': path}`` paced by the null sink's clock, and
``fast_fixtures`` on the ``null`` slave (no clock: as fast as the reader reads). PortAudio
lists devices once, when it initialises: a process must be started with :meth:`env` to see
them. The ALSA pulse plugin comes with Debian ``pulseaudio`` (``libasound2-plugins``).
"""

import os
import pathlib
import shutil
import subprocess
import threading
import time
from typing import Dict, Optional

from support import ManagedProcess

FEED_STEP_S = 0.005


class PulseAudio:
    """A private PulseAudio daemon plus ALSA devices for one test."""

    def __init__(self, directory: pathlib.Path, rate: int = 16000, channels: int = 1,
                 fixtures: Optional[Dict[str, pathlib.Path]] = None,
                 fast_fixtures: Optional[Dict[str, pathlib.Path]] = None) -> None:
        self.dir = directory
        self.rate = rate
        self.channels = channels
        self.fixtures = dict(fixtures or {})
        self.fast_fixtures = dict(fast_fixtures or {})
        self.home = directory / 'home'
        self.runtime = directory / 'run'
        self.fifo = directory / 'source.fifo'
        self.log_path = directory / 'pulseaudio.log'
        self.proc: Optional[ManagedProcess] = None
        self._feeder: Optional[threading.Thread] = None
        self._stop_feed = threading.Event()

    @property
    def socket(self) -> pathlib.Path:
        return self.runtime / 'pulse' / 'native'

    def env(self, base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        """Return ``base`` (default os.environ) plus what clients need to find this daemon."""
        env = dict(os.environ if base is None else base)
        env.update(HOME=str(self.home), XDG_RUNTIME_DIR=str(self.runtime),
                   PULSE_SERVER=f'unix:{self.socket}')
        return env

    def start(self) -> 'PulseAudio':
        exe = shutil.which('pulseaudio')
        if exe is None:
            raise RuntimeError('pulseaudio is not installed: run `make setup-dev`')
        self.home.mkdir(parents=True, exist_ok=True)
        self.runtime.mkdir(parents=True, exist_ok=True)
        os.chmod(self.runtime, 0o700)
        script = self.dir / 'daemon.pa'
        script.write_text(
            'load-module module-native-protocol-unix\n'
            'load-module module-null-sink sink_name=null\n'
            f'load-module module-pipe-source source_name=fifo file={self.fifo} '
            f'format=s16le rate={self.rate} channels={self.channels}\n'
            'set-default-source fifo\n'
            'set-default-sink null\n')
        (self.home / '.asoundrc').write_text(''.join(
            self._alsa_pcm(name, path, slave)
            for mapping, slave in ((self.fixtures, '{ type pulse device "null.monitor" }'),
                                   (self.fast_fixtures, '"null"'))
            for name, path in mapping.items()))
        self.proc = ManagedProcess(
            [exe, '-n', '--daemonize=no', '--exit-idle-time=-1', '--use-pid-file=no',
             '--disallow-exit=no', '--log-target=stderr', '-F', str(script)],
            self.env(), self.log_path)
        deadline = time.monotonic() + 15
        while not (self.socket.exists() and self.fifo.exists()):
            if self.proc.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f'pulseaudio did not start:\n{self.log()[-3000:]}')
            time.sleep(0.05)
        return self

    @staticmethod
    def _alsa_pcm(name: str, path: pathlib.Path, slave: str) -> str:
        return (f'pcm.{name} {{\n  type file\n  slave.pcm {slave}\n  file "/dev/null"\n'
                f'  infile "{path}"\n  format "raw"\n'
                f'  hint {{ show on description "fixture {name}" }}\n}}\n')

    def log(self) -> str:
        return self.log_path.read_text(errors='replace') if self.log_path.exists() else ''

    def pactl(self, *args: str) -> str:
        return subprocess.run(['pactl', *args], env=self.env(), capture_output=True,
                              text=True, timeout=10).stdout

    def feed(self, pcm: bytes, loop: bool = False) -> None:
        """Write s16le PCM into the pipe source in real time (then silence) until stopped."""
        self.stop_feeding()
        self._stop_feed.clear()
        self._feeder = threading.Thread(target=self._feed, args=(pcm, loop), daemon=True)
        self._feeder.start()

    def _feed(self, pcm: bytes, loop: bool) -> None:
        step = int(self.rate * FEED_STEP_S) * 2 * self.channels
        fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            pos, start, n = 0, time.monotonic(), 0
            while not self._stop_feed.is_set():
                piece = pcm[pos:pos + step]
                pos += len(piece)
                if loop and pos >= len(pcm):
                    pos = 0
                piece = piece.ljust(step, b'\0')
                try:
                    os.write(fd, piece)
                except BlockingIOError:
                    pass  # the daemon is not reading: drop, as a microphone would
                n += 1
                self._stop_feed.wait(max(0.0, start + n * FEED_STEP_S - time.monotonic()))
        finally:
            os.close(fd)

    def stop_feeding(self) -> None:
        self._stop_feed.set()
        if self._feeder is not None:
            self._feeder.join(5)
            self._feeder = None

    def stop(self) -> None:
        self.stop_feeding()
        if self.proc is not None:
            self.proc.stop()
        self.proc = None
