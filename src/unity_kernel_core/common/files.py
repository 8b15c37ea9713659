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

"""Bounded reads of the small text files a person gives the package (configs, secrets)."""

import os
import pathlib
import stat

from unity_kernel_core.errors import ConfigError, ConfigIssue


def read_text(path: 'str | os.PathLike[str]', max_bytes: int, what: str = 'a file') -> str:
    """
    Read a UTF-8 text file; raise ConfigError saying plainly why it cannot be read.

    Only regular files are read (a FIFO or a device would block or never end), and at most
    ``max_bytes`` of them. ``what`` names the file expected, for a directory given instead.
    """
    p = pathlib.Path(path).expanduser()

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
