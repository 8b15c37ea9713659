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
Bounded reads of the files a person gives the package, and safe state files.

Files a person gives (configs, secrets) are read by :func:`read_text`. State files (the
audit journal and its cursor, the writer ring and its record, lock files) are opened without
following a symlink (``O_NOFOLLOW``), created with ``O_EXCL``, and checked before use: a
regular file (or directory) owned by this user and not writable by group or others
(:func:`open_private`, :func:`create_private`, :func:`private_subdir`). Reads of them are
bounded (:func:`read_private`). Damaged state is moved aside, never deleted, with one ERROR
naming the file and what was recovered from it (:func:`quarantine`), and never stops the
kernel from starting.
"""

import logging
import os
import pathlib
import secrets
import stat
import time
from typing import Optional, Union

from unity_kernel_core.errors import ConfigError, ConfigIssue, StateFileError

_LOG = logging.getLogger('unity_kernel.files')

PathLike = Union[str, 'os.PathLike[str]']
_NOFOLLOW = os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0)


def read_text(path: 'str | os.PathLike[str]', max_bytes: int, what: str = 'a file') -> str:
    """
    Read a UTF-8 text file; raise ConfigError saying plainly why it cannot be read.

    Only regular files are read (a FIFO or a device would block or never end), and at most
    ``max_bytes`` of them. ``what`` names the file expected, for a directory given instead.
    """
    try:
        p = pathlib.Path(path).expanduser()
    except RuntimeError:  # ~nosuchuser
        raise ConfigError([ConfigIssue(str(path), None, '', 'no such user to expand ~ for')]) \
            from None

    def fail(message: str) -> ConfigError:
        return ConfigError([ConfigIssue(str(p), None, '', message)])

    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0))
    except FileNotFoundError:
        raise fail('file not found') from None
    except IsADirectoryError:
        raise fail(f'is a directory, expected {what}') from None
    except OSError as exc:
        raise fail(f'cannot read: {exc.strerror}') from None
    except ValueError:  # the OS takes no NUL in a name
        raise fail('a path cannot hold a NUL character') from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise fail(f'is a directory, expected {what}')
        if not stat.S_ISREG(info.st_mode):
            raise fail('not a regular file (a FIFO, socket or device): refused')
        if info.st_size > max_bytes:
            raise fail(f'{info.st_size} bytes: larger than the limit of {max_bytes} bytes')
        with os.fdopen(os.dup(fd), 'rb') as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise fail(f'cannot read: {exc.strerror}') from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise fail(f'larger than the limit of {max_bytes} bytes')
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise fail(f'not UTF-8 text ({exc.reason} at byte {exc.start})') from None


# -- state files ------------------------------------------------------------------------------


def check_private(info: os.stat_result, path: PathLike, directory: bool = False) -> None:
    """Raise StateFileError unless ``info`` is of this user's regular file (or directory)."""
    kind = stat.S_ISDIR(info.st_mode) if directory else stat.S_ISREG(info.st_mode)
    if not kind:
        expected = 'a directory' if directory else 'a regular file'
        raise StateFileError(f'{path}: {_kind_of(info.st_mode)}, not {expected}')
    if info.st_uid != os.geteuid():
        raise StateFileError(f'{path}: owned by uid {info.st_uid}, not by this user '
                             f'(uid {os.geteuid()})')
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise StateFileError(f'{path}: writable by group or others (mode '
                             f'{stat.S_IMODE(info.st_mode):04o})')


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, 'a symlink'), (stat.S_ISDIR, 'a directory'),
                       (stat.S_ISFIFO, 'a FIFO'), (stat.S_ISSOCK, 'a socket'),
                       (stat.S_ISCHR, 'a character device'), (stat.S_ISBLK, 'a block device'),
                       (stat.S_ISREG, 'a regular file')):
        if test(mode):
            return name
    return 'not a regular file'


def open_private(path: PathLike, flags: int = os.O_RDONLY) -> int:
    """
    Open an existing state file without following a symlink; return the descriptor.

    FileNotFoundError when there is none; StateFileError when it is a symlink, not a regular
    file, another user's, or writable by group or others (it is then not used at all).
    """
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(path, flags | _NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        try:
            info = os.lstat(path)
        except OSError:
            raise StateFileError(f'{path}: cannot open it ({exc.strerror})') from None
        raise StateFileError(f'{path}: {_kind_of(info.st_mode)}, not a regular file'
                             if not stat.S_ISREG(info.st_mode)
                             else f'{path}: cannot open it ({exc.strerror})') from None
    try:
        check_private(os.fstat(fd), path)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_private(path: PathLike, flags: int = os.O_RDWR, mode: int = 0o600) -> int:
    """Create a new state file (``O_EXCL``: FileExistsError when anything is there)."""
    return os.open(path, flags | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode)


def open_or_create_private(path: PathLike, flags: int = os.O_RDWR) -> int:
    """Open this user's state file at ``path`` (a lock file, say), creating it if missing."""
    try:
        return create_private(path, flags)
    except FileExistsError:
        return open_private(path, flags)


def read_private(path: PathLike, max_bytes: int) -> bytes:
    """
    Read a whole state file of at most ``max_bytes`` (see :func:`open_private`).

    StateFileError when it is larger; FileNotFoundError when there is none.
    """
    fd = open_private(path)
    try:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            raise StateFileError(f'{path}: {size} bytes, more than the {max_bytes} it can be')
        chunks = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b''.join(chunks)
    if len(data) > max_bytes:
        raise StateFileError(f'{path}: more than the {max_bytes} bytes it can be')
    return data


def write_private(path: PathLike, data: bytes, fsync: bool = False) -> None:
    """
    Replace the state file ``path`` with ``data``, atomically and without following links.

    The data goes to a new file (``O_EXCL``, an unpredictable name beside it) that is then
    renamed over ``path``: a reader sees the old or the new content, never a part.
    """
    target = pathlib.Path(path)
    tmp = target.with_name(f'.{target.name}.{secrets.token_hex(8)}.tmp')
    fd = create_private(tmp, os.O_WRONLY)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.rename(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def private_subdir(path: PathLike, what: str) -> pathlib.Path:
    """
    Make ``path`` a directory only this user may use (0700), inside a private directory.

    Whatever else is there (a symlink, a file, another user's directory) is moved aside
    (:func:`quarantine`) and a new directory made. OSError when it cannot be made.
    """
    p = pathlib.Path(path)
    try:
        info = os.lstat(p)
    except FileNotFoundError:
        info = None
    if info is not None:
        try:
            if stat.S_ISLNK(info.st_mode):
                raise StateFileError(f'{p}: a symlink, not a directory')
            if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid():
                info = os.stat(p)  # this user's directory: made private below, if it is not
            else:
                check_private(info, p, directory=True)
        except StateFileError as exc:
            quarantine(p, what, str(exc).split(': ', 1)[-1], 'nothing read from it; a new one '
                       'is made')
            info = None
    if info is None:
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:  # made meanwhile: check it again, once
            check_private(os.lstat(p), p, directory=True)
    elif stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(p, 0o700)
    return p


def quarantine(path: PathLike, what: str, problem: str, recovered: str) -> Optional[pathlib.Path]:
    """
    Move damaged state aside to ``<name>.damaged-<time>`` with one ERROR; return where to.

    The ERROR names ``what`` and the file, the ``problem`` and what was ``recovered`` from it.
    A file that cannot be moved (another user's in a shared directory) stays, is not used,
    and the ERROR says so (None is returned). A symlink is moved, never followed.
    """
    p = pathlib.Path(path)
    stamp = time.strftime('%Y%m%dT%H%M%S', time.gmtime())
    target = p.with_name(f'{p.name}.damaged-{stamp}')
    n = 1
    while os.path.lexists(target):
        n += 1
        target = p.with_name(f'{p.name}.damaged-{stamp}-{n}')
    try:
        os.rename(p, target)
    except OSError as exc:
        _LOG.error('%s %s: %s; cannot move it aside (%s): left in place and not used; %s',
                   what, p, problem, exc.strerror, recovered)
        return None
    _LOG.error('%s %s: %s; moved aside to %s; %s', what, p, problem, target, recovered)
    return target
