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
The config files the flow editor writes: read, replace atomically, keep the previous one.

Each file is read as bytes (a regular file of at most 1 MiB owned by this user, opened
without following a symlink) and replaced through a new file beside it (``O_EXCL``,
``O_NOFOLLOW``, the old file's mode), renamed over it: the kernel's config watcher sees one
complete new version, never a half-written one. Before an apply replaces a file its bytes
are saved beside it as ``<name>.prev``; "undo" writes those bytes back, byte for byte, and
removes the ``.prev`` files of that apply.
"""

import dataclasses
import errno
import hashlib
import os
import pathlib
import secrets
import stat
import threading
from typing import Dict, List, Mapping

from unity_kernel_core.config.documents import MAX_DOCUMENT_BYTES
from unity_kernel_core.errors import ConfigEditError

PREV_SUFFIX = '.prev'


@dataclasses.dataclass(frozen=True)
class FileState:
    """One config file as read: its path, bytes and their SHA-256 (hex)."""

    path: pathlib.Path
    data: bytes

    @property
    def sha(self) -> str:
        """Return the SHA-256 of the bytes (what an edit names as its ``base``)."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def text(self) -> str:
        """Return the bytes as UTF-8 text; raise ConfigEditError when they are not."""
        try:
            return self.data.decode('utf-8')
        except UnicodeDecodeError as exc:
            raise ConfigEditError(f'{self.path}: not UTF-8 text ({exc.reason} at byte '
                                  f'{exc.start})') from None


def prev_path(path: pathlib.Path) -> pathlib.Path:
    """Return where the version before the last apply of ``path`` is kept."""
    return path.with_name(path.name + PREV_SUFFIX)


def read_file(path: pathlib.Path) -> FileState:
    """
    Return the bytes of ``path``: a regular file of ours, at most 1 MiB, not a symlink.

    Raise ConfigEditError saying what is wrong (the editor then shows the graph read-only).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW on a symlink
            raise ConfigEditError(f'{path}: a symbolic link; the editor writes only a '
                                  'regular file (edit the file it points to)') from None
        raise ConfigEditError(f'{path}: cannot read it ({exc.strerror})') from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigEditError(f'{path}: not a regular file')
        if info.st_uid != os.geteuid():
            raise ConfigEditError(f'{path}: owned by uid {info.st_uid}, not by this user')
        if info.st_size > MAX_DOCUMENT_BYTES:
            raise ConfigEditError(f'{path}: larger than {MAX_DOCUMENT_BYTES} bytes')
        chunks = []
        left = MAX_DOCUMENT_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(65536, left))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b''.join(chunks)
        if len(data) > MAX_DOCUMENT_BYTES:
            raise ConfigEditError(f'{path}: larger than {MAX_DOCUMENT_BYTES} bytes')
        return FileState(path, data)
    finally:
        os.close(fd)


def replace_file(path: pathlib.Path, data: bytes, mode: int = 0o600) -> None:
    """
    Replace ``path`` with ``data`` at once: a new file beside it, synced, renamed over it.

    The new file is made with ``O_EXCL | O_NOFOLLOW`` under a name nobody can predict and
    gets ``mode``; the folder is synced after the rename.
    """
    tmp = path.with_name(f'.{path.name}.{secrets.token_hex(8)}.tmp')
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     mode)
    except OSError as exc:
        raise ConfigEditError(f'{path}: cannot write beside it ({exc.strerror})') from None
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass  # already renamed or never made: nothing left behind either way
        raise ConfigEditError(f'{path}: cannot write it ({exc.strerror})') from None
    try:
        dirfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except OSError:
        pass  # the rename is done; a folder that cannot be synced only weakens durability


class ConfigFiles:
    """
    The files an apply writes, by role (``kernel``, ``llm``), and the undo of the last apply.

    One apply or undo at a time (a lock); an apply names the SHA-256 of each file as the
    editor read it, and is refused when a file changed on disk since.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._applied: Dict[pathlib.Path, str] = {}

    def apply(self, paths: Mapping[str, pathlib.Path], texts: Mapping[str, str],
              base: Mapping[str, str]) -> List[pathlib.Path]:
        """
        Write ``texts`` (by role) to ``paths``; save each file's previous bytes beside it.

        ``base`` holds the SHA-256 each file had when the edit was made (a role missing
        from it is not checked). Raise ConfigEditError when a file changed since, or cannot
        be read or written; files written before the error stay written (each rename is
        whole) and the error says which.
        """
        with self._lock:
            states = {role: read_file(paths[role]) for role in texts}
            for role, state in states.items():
                if role in base and base[role] != state.sha:
                    raise ConfigEditError(f'{state.path} changed on disk since the editor '
                                          'read it: reload the page to edit the new version',
                                          conflict=True)
            for path in list(self._applied):  # only this apply can be undone
                if path not in {s.path for s in states.values()}:
                    _unlink(prev_path(path))
                    del self._applied[path]
            written = []
            for role, state in states.items():
                mode = stat.S_IMODE(os.stat(state.path).st_mode)
                new = texts[role].encode('utf-8')
                replace_file(prev_path(state.path), state.data, mode)
                replace_file(state.path, new, mode)
                self._applied[state.path] = hashlib.sha256(new).hexdigest()
                written.append(state.path)
            return written

    def undo_available(self, paths: Mapping[str, pathlib.Path]) -> List[pathlib.Path]:
        """Return the files whose version before the last apply is kept."""
        return [p for p in paths.values() if prev_path(p).is_file()]

    def undo(self, paths: Mapping[str, pathlib.Path]) -> List[pathlib.Path]:
        """
        Write back the version before the last apply of each file, byte for byte.

        Refused when a file changed since that apply (someone edited it: the kept version
        would undo their edit too); the ``.prev`` files are removed once restored.
        """
        with self._lock:
            restored = []
            kept = [p for p in paths.values() if prev_path(p).is_file()]
            if not kept:
                raise ConfigEditError('nothing to undo: no apply from the editor is kept',
                                      conflict=True)
            for path in kept:
                current = read_file(path)
                applied = self._applied.get(path)
                if applied is not None and applied != current.sha:
                    raise ConfigEditError(f'{path} changed on disk since the last apply: '
                                          'undo would discard that change', conflict=True)
            for path in kept:
                previous = read_file(prev_path(path))
                mode = stat.S_IMODE(os.stat(path).st_mode)
                replace_file(path, previous.data, mode)
                _unlink(prev_path(path))
                self._applied.pop(path, None)
                restored.append(path)
            return restored


def _unlink(path: pathlib.Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass  # already gone: nothing to undo there
    except OSError as exc:
        raise ConfigEditError(f'{path}: cannot remove it ({exc.strerror})') from None
