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
What the kernel and its writer process agree on: the command, the lines, the files.

The kernel starts ``python -m unity_kernel_core.audit.writer_process start|resume STATE_DIR``
(:func:`command`), writes the config as one JSON line to its stdin (:func:`config_line`; again
on a reload), and reads its stdout: ``ready <json>`` once (:class:`Ready`: the IDs and seq to
continue from, the ring it made), then ``status <json>`` with its counters every
:data:`STATUS_PERIOD_S`.
"""

import dataclasses
import json
import os
import pathlib
import select
import sys
import time
from typing import Any, Dict, IO, List, Optional, Tuple

from unity_kernel_core.audit.record import AuditError
from unity_kernel_core.config.kernel_config import KernelConfig

MODULE = 'unity_kernel_core.audit.writer_process'
MODES = ('start', 'resume')
"""``start``: write out a ring left by a dead kernel, make a new one; ``resume``: map it."""
LOCK_FILE = 'mirror-writer.lock'
"""Held by the writer process for its life: a writer left by a killed kernel finishes first."""
STATUS_PERIOD_S = 0.5
MAX_LINE_BYTES = 1 << 20
"""The longest line the kernel reads from its writer process (a status line is < 2 KiB)."""

READY = 'ready'
STATUS = 'status'

Id = Tuple[int, int]


def command(mode: str, state_dir: pathlib.Path) -> List[str]:
    """Return the command line of the writer process."""
    return [sys.executable, '-m', MODULE, mode, str(state_dir)]


@dataclasses.dataclass(frozen=True)
class Ready:
    """The writer process is ready: the kernel continues after these IDs and this seq."""

    last_id: Id
    dead_last_id: Id
    last_seq: int
    ring: str
    """The ring the writer made (and recorded in the state directory)."""

    def fields(self) -> Dict[str, Any]:
        """Return the fields the ``ready`` line adds to the writer's counters."""
        return {'last_id': list(self.last_id), 'dead_last_id': list(self.dead_last_id),
                'last_seq': self.last_seq, 'ring': self.ring}

    @classmethod
    def of(cls, message: Dict[str, Any]) -> 'Ready':
        """Return the Ready of a ``ready`` line's JSON; ValueError when it is malformed."""
        try:
            ms, seq = (int(x) for x in message['last_id'])
            dead_ms, dead_seq = (int(x) for x in message['dead_last_id'])
            return cls((ms, seq), (dead_ms, dead_seq), int(message['last_seq']),
                       str(message['ring']))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f'malformed ready line: {exc}') from None


def message_line(kind: str, fields: Dict[str, Any]) -> str:
    """Return the line the writer process writes: ``<kind> <json>``."""
    return f'{kind} {json.dumps(fields)}\n'


def parse_line(line: bytes) -> Tuple[str, Dict[str, Any]]:
    """Return the kind and the fields of a writer's line; ValueError when they do not parse."""
    kind, _sep, body = line.decode('utf-8', 'replace').partition(' ')
    fields = json.loads(body) if body.strip() else {}
    if not isinstance(fields, dict):
        raise ValueError(f'{kind}: expected a JSON object')
    return kind, fields


def config_line(config: KernelConfig) -> bytes:
    """Return the line that gives the writer process its config."""
    return config.model_dump_json().encode() + b'\n'


def read_config(stream: IO[bytes]) -> Optional[KernelConfig]:
    """Return the next config line's config, or None when the kernel closed the stream."""
    line = stream.readline()
    if not line:
        return None
    return KernelConfig.model_validate_json(line)


class LineReader:
    """
    Lines from a pipe, bounded in time and size: never waits past a deadline.

    Reads the file descriptor itself (``poll`` then ``os.read``), so a process that says
    nothing, or never ends its line, cannot hold the reader longer than it allows.
    """

    def __init__(self, fd: int, max_line: int = MAX_LINE_BYTES) -> None:
        self._fd = fd
        self._max = max_line
        self._buffer = bytearray()
        self._eof = False
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def readline(self, timeout: Optional[float] = None) -> Optional[bytes]:
        """
        Return the next line (with its newline), or what is left at the end of the stream.

        ``b''`` at the end of the stream; None when no whole line came within ``timeout``
        seconds (None: wait as long as it takes). AuditError when a line is longer than
        ``max_line`` bytes (the writer is out of step: the caller stops it).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            end = self._buffer.find(b'\n')
            if end >= 0:
                line = bytes(self._buffer[:end + 1])
                del self._buffer[:end + 1]
                return line
            if len(self._buffer) > self._max:
                self._buffer.clear()
                raise AuditError(f'the audit writer process wrote a line of more than '
                                 f'{self._max} bytes')
            if self._eof:
                rest = bytes(self._buffer)
                self._buffer.clear()
                return rest
            wait_ms = None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                wait_ms = max(1, int(left * 1000))
            if not self._poll.poll(wait_ms):
                continue  # the deadline is checked again above
            data = os.read(self._fd, 65536)
            if data:
                self._buffer += data
            else:
                self._eof = True
