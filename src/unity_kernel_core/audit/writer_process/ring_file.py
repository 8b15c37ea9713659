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
Where the writer ring lives: a file no one else can name, recorded in the state directory.

In shared memory (``/dev/shm``) when there is one: its pages are never written back to a
disk, so the tap never waits for I/O, and they outlive both processes (not a reboot). Each
start makes a new ring, ``/dev/shm/unity-kernel-<uid>-<128 random bits>-mirror-ring``, with
``O_EXCL`` (never through a symlink), and records its path in ``<state_dir>/mirror-ring.name``
(the state directory is the user's alone, 0700). Where ``/dev/shm`` is missing or full, the
ring is ``<state_dir>/mirror-ring-<random>`` instead (with a warning when it was full).

Only what the record names is ever opened, and only when it is this user's regular file,
not writable by group or others. A record that does not name a ring where rings are made is
damaged: it is moved aside (:func:`unity_kernel_core.common.files.quarantine`).
"""

import hashlib
import logging
import os
import pathlib
import re
import secrets
from typing import Optional

from unity_kernel_core.audit.ring import Ring, RingError
from unity_kernel_core.common.files import quarantine, read_private, write_private
from unity_kernel_core.errors import StateFileError

_LOG = logging.getLogger('unity_kernel.mirror')

SHM = pathlib.Path('/dev/shm')
RING_FILE = 'mirror-ring'
RECORD = 'mirror-ring.name'
"""The file in the state directory naming the ring of the kernel that uses it."""
_RECORD_MAX = 4096


def _shm_name() -> 're.Pattern[str]':
    return re.compile(rf'unity-kernel-{os.geteuid()}-[0-9a-f]{{32}}-{RING_FILE}')


_STATE_NAME = re.compile(rf'{RING_FILE}-[0-9a-f]{{32}}')


def shm_dir() -> Optional[pathlib.Path]:
    """Return the shared-memory directory rings go to, None when there is none to write."""
    if SHM.is_dir() and os.access(SHM, os.W_OK):
        return SHM
    return None


def recorded(state_dir: pathlib.Path) -> Optional[pathlib.Path]:
    """
    Return the ring the state directory's record names, None when there is no record.

    A record that cannot be read safely, or names anything but a ring where rings are made
    for this user, is moved aside (one ERROR) and None returned.
    """
    record = pathlib.Path(state_dir) / RECORD
    try:
        text = read_private(record, _RECORD_MAX).decode('utf-8').strip()
        path = pathlib.Path(text)
        if not path.is_absolute() or not _is_ring_place(path, pathlib.Path(state_dir)):
            raise ValueError(f'names {text[:200]!r}, not a writer ring of this user')
    except FileNotFoundError:
        return None
    except (StateFileError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        quarantine(record, 'audit writer ring record', str(exc).split(': ', 1)[-1],
                   'the ring it named is not read')
        return None
    return path


def _is_ring_place(path: pathlib.Path, state_dir: pathlib.Path) -> bool:
    if path.parent == SHM:
        return bool(_shm_name().fullmatch(path.name))
    return path.parent == state_dir and bool(_STATE_NAME.fullmatch(path.name))


def ring_path(state_dir: pathlib.Path) -> pathlib.Path:
    """Return the ring of the kernel with ``state_dir`` (``<state_dir>/mirror-ring``: none)."""
    return recorded(state_dir) or pathlib.Path(state_dir) / RING_FILE


def earlier_path(state_dir: pathlib.Path) -> Optional[pathlib.Path]:
    """
    Return where earlier versions kept the ring (a name derived from the state directory).

    Only to write out a ring left by an earlier version, after the same checks as any.
    """
    if shm_dir() is None:
        return None
    digest = hashlib.sha256(str(pathlib.Path(state_dir).resolve()).encode()).hexdigest()
    return SHM / f'unity-kernel-{os.getuid()}-{digest[:16]}-{RING_FILE}'


def make(state_dir: pathlib.Path, capacity: int) -> Ring:
    """
    Create a new ring of ``capacity`` bytes (in shared memory if it fits) and record it.

    RingError, saying why, when neither shared memory nor the state directory can hold it.
    """
    state_dir = pathlib.Path(state_dir)
    token = secrets.token_hex(16)
    shm = shm_dir()
    ring: Optional[Ring] = None
    if shm is not None:
        try:
            ring = Ring.create(shm / f'unity-kernel-{os.geteuid()}-{token}-{RING_FILE}',
                               capacity)
        except RingError as exc:
            _LOG.warning('%s: the ring goes to the state directory %s instead (slower: '
                         'its pages are written back to the disk)', exc, state_dir)
    if ring is None:
        ring = Ring.create(state_dir / f'{RING_FILE}-{token}', capacity)
    try:
        write_private(state_dir / RECORD, f'{ring.path}\n'.encode())
    except OSError as exc:
        ring.close()
        ring.path.unlink(missing_ok=True)
        raise RingError(f'cannot record the writer ring in {state_dir / RECORD}: '
                        f'{exc.strerror}') from None
    return ring


def forget(state_dir: pathlib.Path, ring: pathlib.Path) -> None:
    """Remove a ring that was written out, and its record if it names that ring."""
    ring.unlink(missing_ok=True)
    record = pathlib.Path(state_dir) / RECORD
    try:
        named = read_private(record, _RECORD_MAX).decode('utf-8', 'replace').strip()
    except (OSError, StateFileError):
        return
    if named == str(ring):
        record.unlink(missing_ok=True)
