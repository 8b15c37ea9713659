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
Where files are: the package's share directory, and paths written in config files.

A path in a config file may be ``package://<package>/<path>`` (a file of an installed ROS
package, found with the ament index, as ``camera_info_manager`` and rviz read it), absolute,
``~``-relative, or relative: relative to the folder of the file it is written in.
"""

import fcntl
import os
import pathlib
import stat
import sys
import threading
from typing import Dict, Optional, Tuple

from unity_kernel_core.common.files import open_or_create_private
from unity_kernel_core.errors import StateFileError, UnityKernelError

PACKAGE = 'unity_kernel'
PACKAGE_URL = 'package://'

PRIVATE_UMASK = 0o077
"""What the kernel creates under ``state_dir`` (journal, ring, logs, Redis data) is the
user's alone: directories 0700, files 0600."""


class StateDirError(UnityKernelError):
    """The state directory cannot be used (not a directory, not writable, a shared one)."""


class StateDirInUse(StateDirError):
    """Another process (``pid``) runs a kernel with this state directory."""

    def __init__(self, state_dir: pathlib.Path, pid: Optional[int]) -> None:
        super().__init__(f'state dir {state_dir} is in use by pid '
                         f'{pid if pid is not None else "(unknown)"}')
        self.state_dir = state_dir
        self.pid = pid


LOCK_FILE = 'kernel.lock'
"""In the state directory: locked (``flock``) by the process whose kernel uses it."""
_held: Dict[str, Tuple[int, int]] = {}
_held_guard = threading.Lock()


class StateDirLock:
    """
    The state directory's lock, held by this process: one kernel per state directory.

    Taken with :func:`lock_state_dir` (``up`` takes it before its private Redis, the kernel
    node at configure; within one process it is taken again, counted), given back with
    :meth:`release`; the operating system releases it when the process ends, however.
    """

    def __init__(self, key: str) -> None:
        self.state_dir = pathlib.Path(key)
        self._released = False

    def release(self) -> None:
        """Give the lock back (the last release in this process unlocks it)."""
        if self._released:
            return
        self._released = True
        with _held_guard:
            fd, count = _held[str(self.state_dir)]
            if count > 1:
                _held[str(self.state_dir)] = (fd, count - 1)
                return
            del _held[str(self.state_dir)]
        os.close(fd)  # unlocks: the file stays, with the last holder's pid in it


def lock_state_dir(state_dir: 'str | os.PathLike[str]') -> StateDirLock:
    """
    Take the lock of ``state_dir`` (a private directory, see :func:`ensure_private_dir`).

    Never waits: StateDirInUse (``state dir X is in use by pid N``) when another process
    holds it; StateDirError when the lock file cannot be used (a symlink, another user's).
    """
    try:
        key = str(expand_user(state_dir).resolve())
    except FileNotFoundError as exc:
        raise StateDirError(f'state dir: {exc}') from None
    with _held_guard:
        if key in _held:
            fd, count = _held[key]
            _held[key] = (fd, count + 1)
            return StateDirLock(key)
        path = pathlib.Path(key) / LOCK_FILE
        try:
            fd = open_or_create_private(path)
        except (OSError, StateFileError) as exc:
            raise StateDirError(f'state dir {key}: cannot use its lock {path}: {exc}') \
                from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).split(b'\n')[0]
            os.close(fd)
            raise StateDirInUse(pathlib.Path(key), int(holder) if holder.isdigit() else None) \
                from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
        _held[key] = (fd, 1)
        return StateDirLock(key)


def private_umask() -> None:
    """Make everything this process (and its children) creates private to the user."""
    os.umask(PRIVATE_UMASK)


def ensure_private_dir(path: 'str | os.PathLike[str]', what: str = 'state_dir') -> pathlib.Path:
    """
    Create ``path`` as a directory only the user can enter (0700), or make it so.

    An existing directory that others can read is tightened to 0700, unless it is a shared
    one (sticky bit, as ``/tmp``) or not ours: that is refused. Raise StateDirError saying
    plainly what is wrong.
    """
    try:
        p = expand_user(path)
    except FileNotFoundError as exc:
        raise StateDirError(f'{what} {path}: {exc}') from None
    try:
        p.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = p.stat()
    except FileExistsError:
        raise StateDirError(f'{what} {p}: exists and is not a directory') from None
    except OSError as exc:
        raise StateDirError(f'{what} {p}: cannot create or use it ({exc.strerror})') from None
    if not stat.S_ISDIR(info.st_mode):
        raise StateDirError(f'{what} {p}: exists and is not a directory')
    if info.st_mode & stat.S_ISVTX:
        raise StateDirError(f'{what} {p}: a shared directory (sticky bit, like /tmp): give the '
                            'kernel a directory of its own, e.g. ~/.local/state/unity_kernel')
    if info.st_uid != os.geteuid():
        raise StateDirError(f'{what} {p}: owned by uid {info.st_uid}, not by this user')
    if stat.S_IMODE(info.st_mode) != 0o700:
        try:
            os.chmod(p, 0o700)
        except OSError as exc:
            raise StateDirError(f'{what} {p}: cannot make it private ({exc.strerror})') \
                from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise StateDirError(f'{what} {p}: not writable')
    return p


def default_ament_prefix_path() -> None:
    """
    Set ``AMENT_PREFIX_PATH`` to this interpreter's prefix when it is unset there.

    The ROS 2 wheels install their ament index (message packages, ``.msg`` files) under the
    environment's prefix, so ``.venv/bin/unity-kernel`` works without a sourced ROS setup.
    Called by the console scripts; child processes (modules) inherit it.
    """
    if not os.environ.get('AMENT_PREFIX_PATH') and \
            (pathlib.Path(sys.prefix) / 'share' / 'ament_index').is_dir():
        os.environ['AMENT_PREFIX_PATH'] = sys.prefix


def package_share_dir(package: str) -> pathlib.Path:
    """
    Return the share directory of a ROS package (this one: see :func:`share_dir`).

    Raise FileNotFoundError naming the package and where it was looked for.
    """
    if package == PACKAGE:
        return share_dir()
    try:
        from ament_index_python.packages import get_package_share_directory
        from ament_index_python.packages import PackageNotFoundError
    except ImportError:
        raise FileNotFoundError(f'package {package!r}: ament_index_python is not installed') \
            from None
    try:
        return pathlib.Path(get_package_share_directory(package))
    except (PackageNotFoundError, LookupError, ValueError, OSError):
        where = os.environ.get('AMENT_PREFIX_PATH') or 'AMENT_PREFIX_PATH is not set'
        raise FileNotFoundError(f'package {package!r} is not in the ament index ({where})') \
            from None


def expand_user(path: 'str | os.PathLike[str]') -> pathlib.Path:
    """
    Return ``path`` with a leading ``~`` or ``~user`` expanded.

    FileNotFoundError naming the user when there is no such user (pathlib raises a bare
    RuntimeError, "Could not determine home directory").
    """
    try:
        return pathlib.Path(path).expanduser()
    except RuntimeError:
        user = str(path).split('/', 1)[0]
        raise FileNotFoundError(f'{str(path)!r}: {user} names no user of this machine (or '
                                'HOME is not set)') from None


def resolve_path(raw: str, base: Optional[pathlib.Path]) -> pathlib.Path:
    """
    Resolve a path written in a config file to an absolute path.

    ``package://pkg/rest`` is ``rest`` under that package's share directory; ``$VARS`` and
    ``~`` are expanded; a relative path is relative to ``base`` (the folder of the file it
    was written in; the working directory when None). Raise FileNotFoundError for a
    ``package://`` URL whose package is not installed, for a ``~user`` of no user, and for a
    path holding a NUL character (no file can have that name; the OS would refuse it with a
    ValueError).
    """
    if '\0' in raw:
        raise FileNotFoundError(f'{raw!r}: a path cannot hold a NUL character')
    if raw.startswith(PACKAGE_URL):
        package, _, rest = raw[len(PACKAGE_URL):].partition('/')
        if not package:
            raise FileNotFoundError(f'{raw!r}: expected package://<package>/<path>')
        return (package_share_dir(package) / rest).resolve()
    path = expand_user(os.path.expandvars(raw))
    if not path.is_absolute() and base is not None:
        path = base / path
    return path.resolve()


def share_dir() -> pathlib.Path:
    """
    Return ``share/unity_kernel``: from the ament index, else the source checkout.

    An editable (``pip install -e``) install does not place data files, so a checkout that
    has ``package.xml`` two levels above this module serves as its own share directory.
    """
    try:
        from ament_index_python.packages import get_package_share_directory
        from ament_index_python.packages import PackageNotFoundError
        try:
            return pathlib.Path(get_package_share_directory(PACKAGE))
        except (PackageNotFoundError, LookupError, ValueError, OSError):
            pass  # not in the index (or no index at all): try the source checkout
    except ImportError:
        pass
    checkout = pathlib.Path(__file__).resolve().parents[2]
    if (checkout / 'package.xml').is_file():
        return checkout
    raise FileNotFoundError(
        f'cannot find the {PACKAGE} share directory: install the package '
        '(colcon build, or `make setup`) or set AMENT_PREFIX_PATH')


def default_config_path() -> Optional[pathlib.Path]:
    """Return the shipped ``config/kernel.yaml``."""
    return share_dir() / 'config' / 'kernel.yaml'
