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
Run an in-process module: load its class, attach its handlers to the bus, time its periods.

Loading from a ``file.py:Class`` entry imports the file under a fresh module name each time,
so a reload picks up edited source; a file that fails to import or has no such class raises
ModuleError with the reason, and the version already running is left alone.

A module's code runs in the kernel's process, so what it raises is contained where it is
called: at import, in its constructor and hooks (ModuleError), in a handler (the bus counts
it) and in a periodic method (counted, logged). ``sys.exit()`` and ``KeyboardInterrupt`` from
a module (:data:`ESCAPES`) are turned into such errors too: raised on a bus worker or the
supervisor's threads they would end that thread without a word, and with it every handler
of a tier or all supervision.
"""

import importlib
import importlib.util
import itertools
import pathlib
import sys
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

from unity_kernel_core.bus.event_bus import EventBus, Subscription
from unity_kernel_core.bus.events import Event
from unity_kernel_core.errors import ModuleError
from unity_kernel_core.supervision.machine import Failure, FailureKind
from unity_kernel_core.supervision.manifest import installed_module, Manifest, ModuleFileError
from unity_kernel_core.supervision.module_api import (event_handlers, Module, ModuleContext,
                                                      periodic_methods)

_load_counter = itertools.count(1)
ESCAPES = (SystemExit, KeyboardInterrupt)
"""What a module may raise that is no Exception: contained like one (a module cannot end
the kernel, a bus worker or the supervisor's threads)."""


class ModuleExit(ModuleError):
    """A module raised SystemExit or KeyboardInterrupt: contained as its failure."""


def load_module_class(manifest: Manifest) -> type:
    """Import the class named by an in-process manifest's ``entry``."""
    target, attr = manifest.entry_parts()
    try:
        if target.endswith('.py'):
            path = manifest.module_file(target)
            if not path.is_file():
                raise ModuleError(manifest.name, f'entry file not found: {path}')
            unique = f'unity_module_{manifest.name}_{next(_load_counter)}'
            spec = importlib.util.spec_from_file_location(unique, path)
            if spec is None or spec.loader is None:
                raise ModuleError(manifest.name, f'cannot import {path}')
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module
            try:
                spec.loader.exec_module(module)
            finally:
                sys.modules.pop(unique, None)
        else:
            if installed_module(target) is None:
                raise ModuleError(manifest.name, f'entry {manifest.entry!r} refused: {target!r} '
                                  'is not a module of an installed distribution (use a file '
                                  'in the module folder, as in file.py:Class)')
            module = importlib.import_module(target)
    except ModuleFileError as exc:
        raise ModuleError(manifest.name, f'entry refused: {exc}') from None
    except ModuleError:
        raise
    except (Exception, *ESCAPES) as exc:  # any import-time error: report it with its location
        tb = traceback.extract_tb(exc.__traceback__)
        where = f' ({tb[-1].filename}:{tb[-1].lineno})' if tb else ''
        raise ModuleError(manifest.name, f'importing {target} failed: '
                                         f'{type(exc).__name__}: {exc}{where}') from exc
    cls = getattr(module, attr, None)
    if not isinstance(cls, type) or not issubclass(cls, Module):
        raise ModuleError(manifest.name, f'{target} has no class {attr!r} deriving from '
                                         'unity_kernel_core.module_api.Module')
    return cls


class _Periodic(threading.Thread):

    def __init__(self, period: float, call: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.period = period
        self.call = call
        self.stopped = threading.Event()

    def run(self) -> None:
        next_time = time.monotonic() + self.period
        while not self.stopped.wait(max(0.0, next_time - time.monotonic())):
            self.call()
            next_time += self.period
            now = time.monotonic()
            if next_time < now:  # overran: skip the missed periods instead of bursting
                next_time = now + self.period


class InProcessRunner:
    """The supervisor's handle on one in-process module."""

    spawned = False

    def __init__(self, manifest: Manifest, bus: EventBus, state_dir: pathlib.Path,
                 module_class: Optional[type] = None) -> None:
        self.manifest = manifest
        self.bus = bus
        self.state_dir = state_dir
        self.module_class = module_class
        self.instance: Optional[Module] = None
        self._subs: List[Subscription] = []
        self._periodic: List[_Periodic] = []
        self._lock = threading.Lock()
        self.calls = 0
        self.errors = 0
        self._window_calls = 0
        self._window_errors = 0
        self._busy: Dict[int, float] = {}
        self.last_error = ''

    def fresh(self) -> 'InProcessRunner':
        """Return a new, stopped runner of the same module with the same (loaded) class."""
        return InProcessRunner(self.manifest, self.bus, self.state_dir, self.module_class)

    # -- lifecycle -------------------------------------------------------------------------

    def load(self) -> None:
        """Import the module's class (unless given); raise ModuleError when it cannot."""
        if self.module_class is None:
            self.module_class = load_module_class(self.manifest)

    def start(self) -> None:
        """Import the module's class (unless given)."""
        self.load()

    def configure(self) -> None:
        """Create the instance and run on_configure."""
        self.start()
        assert self.module_class is not None
        context = ModuleContext(self.manifest.name, self.manifest.parameters, self.state_dir,
                                self.bus.publish)
        try:
            instance = self.module_class(context)
        except (Exception, *ESCAPES) as exc:
            raise ModuleError(self.manifest.name, f'its constructor raised '
                                                  f'{type(exc).__name__}: {exc}') from exc
        self._call_hook(instance, 'on_configure')
        self.instance = instance

    def activate(self) -> None:
        """Run on_activate, then attach handlers and start periodic methods."""
        instance = self._need_instance()
        self._call_hook(instance, 'on_activate')
        for pattern, tiers, method, handler in event_handlers(instance):
            self._subs.append(self.bus.subscribe(
                pattern, self._wrap_handler(handler), name=f'module:{self.manifest.name}.{method}',
                tiers=tiers))
        for period, method, tick in periodic_methods(instance):
            thread = _Periodic(period, self._wrap_periodic(tick, method),
                               f'{self.manifest.name}.{method}')
            self._periodic.append(thread)
            thread.start()

    def deactivate(self) -> None:
        """Detach handlers, stop periodic methods, run on_deactivate."""
        self._detach()
        if self.instance is not None:
            self._call_hook(self.instance, 'on_deactivate')

    def cleanup(self) -> None:
        """Run on_cleanup and drop the instance."""
        self._detach()
        instance, self.instance = self.instance, None
        if instance is not None:
            self._call_hook(instance, 'on_cleanup')

    def stop(self) -> None:
        """Deactivate and clean up whatever is up (used on unload and kernel shutdown)."""
        try:
            self.deactivate()
        finally:
            self.cleanup()

    def kill(self) -> None:
        """Detach everything without calling hooks (the module is misbehaving)."""
        self._detach()
        self.instance = None

    # -- health ----------------------------------------------------------------------------

    def poll(self) -> Optional[Failure]:
        """Return None: an in-process module has no process of its own to exit."""
        return None

    def check(self, expected: str) -> Optional[Failure]:
        """Return why the module is not healthy, or None."""
        limits = self.manifest.health
        now = time.monotonic()
        with self._lock:
            stuck = [now - t for t in self._busy.values() if now - t > limits.heartbeat_timeout_s]
            calls, errors = self._window_calls, self._window_errors
            self._window_calls = self._window_errors = 0
        if stuck:
            return Failure(FailureKind.HUNG,
                           f'a handler has been running for {max(stuck):.1f}s (hung?)')
        if calls and errors / calls > limits.max_error_rate:
            return Failure(FailureKind.UNHEALTHY,
                           f'handler error rate {errors}/{calls} over the last check '
                           f'(last: {self.last_error})')
        if self.instance is not None:
            problem = self.instance.health()
            if problem:
                return Failure(FailureKind.UNHEALTHY, str(problem))
        return None

    def describe(self) -> Dict[str, Any]:
        """Return counters for /diagnostics."""
        return {'handler_calls': self.calls, 'handler_errors': self.errors,
                'last_error': self.last_error}

    # -- internals -------------------------------------------------------------------------

    def _need_instance(self) -> Module:
        if self.instance is None:
            raise ModuleError(self.manifest.name, 'not configured')
        return self.instance

    def _call_hook(self, instance: Module, hook: str) -> None:
        try:
            getattr(instance, hook)()
        except (Exception, *ESCAPES) as exc:
            raise ModuleError(self.manifest.name,
                              f'{hook} raised {type(exc).__name__}: {exc}') from exc

    def _detach(self) -> None:
        for sub in self._subs:
            self.bus.unsubscribe(sub)
        self._subs = []
        for thread in self._periodic:
            thread.stopped.set()
        for thread in self._periodic:
            if thread is not threading.current_thread():
                thread.join(2.0)
        self._periodic = []

    def _record(self, started: float, key: int, error: Optional[BaseException]) -> None:
        with self._lock:
            self._busy.pop(key, None)
            self.calls += 1
            self._window_calls += 1
            if error is not None:
                self.errors += 1
                self._window_errors += 1
                self.last_error = f'{type(error).__name__}: {error}'

    def _wrap_handler(self, func: Callable[[Event], Any]) -> Callable[[Event], Any]:
        def handle(event: Event) -> Any:
            key = threading.get_ident()
            started = time.monotonic()
            with self._lock:
                self._busy[key] = started
            try:
                result = func(event)
            except ESCAPES as exc:  # an Exception for the bus, which contains those
                self._record(started, key, exc)
                raise ModuleExit(self.manifest.name, f'a handler raised '
                                                     f'{type(exc).__name__}: {exc}') from exc
            except BaseException as exc:
                self._record(started, key, exc)
                raise
            self._record(started, key, None)
            return result
        return handle

    def _wrap_periodic(self, func: Callable[[], Any], method: str) -> Callable[[], None]:
        log = ModuleContext(self.manifest.name, {}, self.state_dir, self.bus.publish).logger

        def tick() -> None:
            key = threading.get_ident()
            started = time.monotonic()
            with self._lock:
                self._busy[key] = started
            try:
                func()
            except (Exception, *ESCAPES) as exc:  # counted and logged; the period goes on
                self._record(started, key, exc)
                log.error(f'{method} failed: {type(exc).__name__}: {exc}')
                return
            self._record(started, key, None)
        return tick
