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

"""Watch a config file and hand each new valid version to a callback (hot reload)."""

import logging
import os
import pathlib
import threading
from typing import Any, Callable, Optional

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from unity_kernel_core.config.documents import read_text
from unity_kernel_core.config.kernel_config import KernelConfig, parse_config
from unity_kernel_core.errors import ConfigError

_LOG = logging.getLogger('unity_kernel.config')


class ConfigWatcher(FileSystemEventHandler):
    """
    Reload ``path`` when it changes; pass valid configs to ``on_change``.

    Editors save in several ways (write in place, write-and-rename); watching the directory
    catches all of them. Changes are debounced; an invalid new file is reported through
    ``on_error`` (default: logged) and the old config stays in force.
    """

    def __init__(self, path: pathlib.Path, on_change: Callable[[KernelConfig], None],
                 on_error: Optional[Callable[[ConfigError], None]] = None,
                 debounce_s: float = 0.2) -> None:
        super().__init__()
        self._path = path.resolve()
        self._on_change = on_change
        self._on_error = on_error
        self._debounce_s = debounce_s
        self._timer: Optional[threading.Timer] = None
        self._lock = threading.Lock()
        self._observer: Optional[Any] = None
        self._last_text: Optional[str] = None

    def start(self) -> None:
        """Start watching."""
        try:
            self._last_text = read_text(self._path)
        except ConfigError:
            self._last_text = None
        observer = Observer()
        observer.schedule(self, str(self._path.parent), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def stop(self) -> None:
        """Stop watching."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
            self._observer = None

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = [getattr(event, 'src_path', ''), getattr(event, 'dest_path', '')]
        if not any(p and pathlib.Path(str(p)).resolve() == self._path for p in paths):
            return
        if event.event_type not in ('modified', 'created', 'moved', 'closed'):
            return
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self._debounce_s, self._reload)
            self._timer.daemon = True
            self._timer.start()

    def _reload(self) -> None:
        # one read, bounded and checked (regular file, size, UTF-8), then parsed: a binary,
        # huge or half-written file is rejected like any invalid one
        try:
            text = read_text(self._path)
            if text == self._last_text:
                return
            self._last_text = text
            config = parse_config(text, str(self._path), os.environ)
        except ConfigError as exc:
            self._last_text = None
            if self._on_error is not None:
                self._on_error(exc)
            else:
                _LOG.error('config change rejected, the previous config stays in force: %s',
                           exc)
            return
        try:
            self._on_change(config)
        except Exception as exc:  # a timer thread: say it, or the change vanishes silently
            _LOG.error('config change of %s could not be applied: %s: %s', self._path,
                       type(exc).__name__, exc)
