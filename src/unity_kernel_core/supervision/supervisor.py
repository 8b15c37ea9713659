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
The module supervisor: a kernel component that brings modules up in order and keeps them up.

- Discovery: manifests under ``modules.search_paths`` (relative paths are relative to the
  config file); the modules named in ``modules.enabled`` are brought up.
- Order: dependencies first (``module_graph.levels``); the modules of one level come up
  concurrently; shutdown runs in reverse.
- Health: every ``health.heartbeat_period_s`` each active module is checked (node modules:
  process alive, ``get_state`` answered within ``heartbeat_timeout_s`` and ``active``, still
  in the ROS graph; in-process modules: no stuck handler, error rate under
  ``max_error_rate``). A node module's ``transition_event`` leaving ``active`` (it
  deactivated itself, or went through ``on_error``) triggers that check at once.
- Recovery: a failed module's dependents are deactivated, the module is restarted after its
  backoff, then the dependents are activated again. After ``max_restarts`` in ``window_s`` it
  is marked failed and an event goes to the CRITICAL tier (``/unity_kernel/modules/failed``).
- Hot reload: an edited manifest or in-process source file reloads that module only; a
  reload that fails keeps the old version running and says why.
- Services (on the kernel node): ``~/modules/list`` (std_srvs/Trigger, JSON in ``message``),
  ``~/modules/restart``, ``~/modules/load``, ``~/modules/unload``
  (diagnostic_msgs/AddDiagnostics: the argument in ``load_namespace``).

All work happens on the supervisor's thread; service callbacks and file events only queue
commands, so the kernel's executor is never blocked by a module.
"""

import concurrent.futures
import dataclasses
import enum
import json
import pathlib
import queue
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from diagnostic_msgs.srv import AddDiagnostics
from std_msgs.msg import String
from std_srvs.srv import Trigger
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from unity_kernel_core.bus.events import Tier
from unity_kernel_core.component import KernelContext
from unity_kernel_core.config.kernel_config import KernelConfig
from unity_kernel_core.errors import ManifestError, ModuleError, ModuleGraphError
from unity_kernel_core.ros.diagnostics import ERROR, OK, STALE, status, WARN
from unity_kernel_core.supervision import module_graph
from unity_kernel_core.supervision.inprocess import InProcessRunner, load_module_class
from unity_kernel_core.supervision.lifecycle_client import LifecycleClient
from unity_kernel_core.supervision.manifest import (discover, load_manifest, Manifest,
                                                    MANIFEST_NAME, ModuleKind,
                                                    resolve_search_paths)
from unity_kernel_core.supervision.node_runner import NodeRunner
from unity_kernel_core.supervision.restart_policy import RestartTracker

FAILED_TOPIC = '/unity_kernel/modules/failed'
STATE_TOPIC = '/unity_kernel/modules/state'


class ModuleState(str, enum.Enum):
    """Where a module is, as the supervisor sees it."""

    AVAILABLE = 'available'      # found, not enabled
    WAITING = 'waiting'          # enabled, waiting for its dependencies
    STARTING = 'starting'
    INACTIVE = 'inactive'
    ACTIVE = 'active'
    RECOVERING = 'recovering'
    FAILED = 'failed'
    STOPPED = 'stopped'


_LEVELS = {ModuleState.ACTIVE: OK, ModuleState.INACTIVE: WARN, ModuleState.STARTING: OK,
           ModuleState.WAITING: WARN, ModuleState.RECOVERING: WARN,
           ModuleState.FAILED: ERROR, ModuleState.STOPPED: STALE,
           ModuleState.AVAILABLE: OK}


@dataclasses.dataclass
class ModuleRecord:
    """Everything the supervisor knows about one module."""

    manifest: Manifest
    enabled: bool
    state: ModuleState = ModuleState.AVAILABLE
    message: str = ''
    runner: Any = None
    tracker: Optional[RestartTracker] = None
    restarts: int = 0
    last_check: float = 0.0
    since: float = dataclasses.field(default_factory=time.monotonic)
    reload_error: str = ''

    def as_dict(self) -> Dict[str, Any]:
        """Return the record as the JSON the list service answers with."""
        m = self.manifest
        return {'name': m.name, 'version': m.version, 'kind': m.kind.value,
                'state': self.state.value, 'message': self.message, 'enabled': self.enabled,
                'depends': list(m.depends), 'restarts': self.restarts,
                'manifest': m.source, 'reload_error': self.reload_error}


def _tracker(manifest: Manifest) -> RestartTracker:
    r = manifest.restart
    return RestartTracker(r.policy, r.max_restarts, r.window_s, r.backoff_initial_s,
                          r.backoff_max_s)


class _Watch(FileSystemEventHandler):
    """Forward changes of watched files to the supervisor (debounced there)."""

    def __init__(self, on_change: Callable[[pathlib.Path], None]) -> None:
        super().__init__()
        self._on_change = on_change

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in ('modified', 'created', 'moved', 'closed'):
            return
        for raw in (getattr(event, 'src_path', ''), getattr(event, 'dest_path', '')):
            if raw:
                self._on_change(pathlib.Path(str(raw)).resolve())


class Supervisor:
    """The kernel component that supervises modules."""

    name = 'supervisor'

    def __init__(self, context: KernelContext, spawn: bool = True) -> None:
        self.context = context
        self.node = context.node
        self.bus = context.bus
        self.config = context.config
        self.state_dir = context.state_dir
        self.spawn = spawn
        self.log = self.node.get_logger().get_child('supervisor')
        self.records: Dict[str, ModuleRecord] = {}
        self.discovery_errors: List[str] = []
        self.graph_error = ''
        self._lock = threading.RLock()
        self._commands: 'queue.Queue[Tuple[str, Any, Optional[concurrent.futures.Future]]]' = \
            queue.Queue()
        self._pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix='module')
        self._client: Optional[LifecycleClient] = None
        self._thread: Optional[threading.Thread] = None
        self._running = False
        self._active = False
        self._halt = threading.Event()
        """Set while the kernel is going down: module starts and back-off waits give up."""
        self._observer: Optional[Any] = None
        self._changed: Dict[pathlib.Path, float] = {}
        self._changed_lock = threading.Lock()
        self._services: List[Any] = []
        self._discover()
        self._create_services()
        self._start_thread()

    # -- component protocol ----------------------------------------------------------------

    def activate(self) -> None:
        """Bring the enabled modules up (asynchronously, in dependency order)."""
        self._active = True
        self._halt.clear()
        self._submit('bring_up', None)

    def deactivate(self) -> None:
        """Deactivate the modules in reverse order (waits for it)."""
        self._active = False
        self._halt.set()
        self._submit('deactivate_all', None, wait=True)

    def cleanup(self) -> None:
        """Stop every module in reverse order, then the supervisor itself."""
        self._active = False
        self._halt.set()
        self._submit('stop_all', None, wait=True)
        self._running = False
        self._commands.put(('exit', None, None))
        if self._thread is not None:
            self._thread.join(10.0)
        self._stop_watch()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for service in self._services:
            self.node.destroy_service(service)
        self._services = []
        if self._client is not None:
            self._client.close()
            self._client = None

    def diagnostics(self) -> List[Any]:
        """Return one DiagnosticStatus per module, plus one for the supervisor."""
        out = []
        node_name = self.node.get_name()
        with self._lock:
            records = list(self.records.values())
        for rec in records:
            values: Dict[str, object] = {'state': rec.state.value, 'kind': rec.manifest.kind.value,
                                         'version': rec.manifest.version,
                                         'restarts': rec.restarts,
                                         'depends': ','.join(rec.manifest.depends)}
            if rec.runner is not None:
                values.update(rec.runner.describe())
            level = _LEVELS[rec.state]
            message = rec.message or rec.state.value
            if rec.reload_error:
                level = max(level, WARN)
                message = f'{message}; reload failed: {rec.reload_error}'
            out.append(status(f'{node_name}: module {rec.manifest.name}', level, message,
                              values, hardware_id=rec.manifest.name))
        problems = self.discovery_errors + ([self.graph_error] if self.graph_error else [])
        out.append(status(f'{node_name}: supervisor', ERROR if problems else OK,
                          '; '.join(problems)[:2000] if problems else
                          f'{len(records)} module(s)', {'modules': len(records)},
                          hardware_id=node_name))
        return out

    def reconfigure(self, config: KernelConfig) -> None:
        """Take a new config: enabled modules and search paths apply at the next bring-up."""
        if config.modules != self.config.modules:
            self.config = config
            self._submit('rediscover', None)
        self.config = config

    # -- commands (any thread) -------------------------------------------------------------

    def _submit(self, command: str, arg: Any, wait: bool = False,
                timeout: float = 120.0) -> Any:
        future: 'concurrent.futures.Future[Any]' = concurrent.futures.Future()
        self._commands.put((command, arg, future))
        if wait and self._thread is not None and self._thread.is_alive():
            return future.result(timeout)
        return future

    def list_modules(self) -> List[Dict[str, Any]]:
        """Return every known module as a dict (what ``modules list`` shows)."""
        with self._lock:
            return [r.as_dict() for r in sorted(self.records.values(),
                                                key=lambda r: r.manifest.name)]

    # -- discovery -------------------------------------------------------------------------

    def search_paths(self) -> List[pathlib.Path]:
        """Return the allow-listed directories manifests are read from."""
        base = self.context.config_path.parent if self.context.config_path else None
        return resolve_search_paths(self.config.modules.search_paths, base)

    def _discover(self) -> None:
        manifests, errors = discover(self.search_paths())
        self.discovery_errors = [str(i) for e in errors for i in e.issues]
        for line in self.discovery_errors:
            self.log.error(f'manifest: {line}')
        enabled = set(self.config.modules.enabled)
        unknown = sorted(enabled - set(manifests))
        for name in unknown:
            paths = ', '.join(map(str, self.search_paths())) or 'no search path'
            self.discovery_errors.append(f'enabled module {name!r} not found in {paths}')
            self.log.error(self.discovery_errors[-1])
        with self._lock:
            for name, manifest in manifests.items():
                rec = self.records.get(name)
                if rec is None:
                    self.records[name] = ModuleRecord(manifest, name in enabled)
                else:
                    rec.enabled = name in enabled
        self._check_graph()

    def _check_graph(self) -> Optional[List[List[str]]]:
        with self._lock:
            graph = {n: r.manifest.depends for n, r in self.records.items() if r.enabled}
        try:
            result = module_graph.levels(graph)
            self.graph_error = ''
            return result
        except ModuleGraphError as exc:
            self.graph_error = str(exc)
            self.log.error(f'modules: {exc}')
            return None

    # -- the supervisor thread -------------------------------------------------------------

    def _start_thread(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._run, name='supervisor', daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._running:
            try:
                command, arg, future = self._commands.get(timeout=0.1)
            except queue.Empty:
                command, arg, future = 'tick', None, None
            if command == 'exit':
                if future is not None:
                    future.set_result(None)
                return
            try:
                result = getattr(self, f'_do_{command}')(arg)
                if future is not None:
                    future.set_result(result)
            except Exception as exc:  # one failed command must not end supervision
                self.log.error(f'{command} failed: {type(exc).__name__}: {exc}')
                if future is not None:
                    future.set_exception(exc)

    def _lifecycle_client(self) -> LifecycleClient:
        with self._lock:  # pool threads may ask at once: exactly one client node
            if self._client is None:
                self._client = LifecycleClient(self.node.context)
            return self._client

    def _make_runner(self, manifest: Manifest) -> Any:
        if manifest.kind is ModuleKind.NODE:
            exe = manifest.executable or ''
            by_path = '/' in exe or exe.endswith('.py')  # never started by ros2 launch
            return NodeRunner(manifest, self._lifecycle_client(), self.state_dir,
                              self.spawn or by_path, halt=self._halt,
                              on_transition=lambda label: self._transition_seen(
                                  manifest.name, label))
        return InProcessRunner(manifest, self.bus, self.state_dir)

    def _set(self, rec: ModuleRecord, state: ModuleState, message: str = '') -> None:
        with self._lock:
            changed = rec.state != state
            rec.state = state
            rec.message = message
            if changed:
                rec.since = time.monotonic()
        if changed:
            detail = f' ({message})' if message else ''
            text = f'module {rec.manifest.name}: {state.value}{detail}'
            if state is ModuleState.FAILED:
                self.log.error(text)
            elif state is ModuleState.RECOVERING:
                self.log.warning(text)
            else:
                self.log.info(text)
            self._event(STATE_TOPIC, rec, Tier.NORMAL)

    def _event(self, topic: str, rec: ModuleRecord, tier: Tier) -> None:
        try:
            self.bus.publish(topic, 'std_msgs/msg/String', String(data=json.dumps(
                rec.as_dict())), tier=tier, source='supervisor')
        except Exception as exc:  # the bus may be stopping; the log line above stays
            self.log.warning(f'could not publish {topic}: {exc}')

    def _bring_one_up(self, rec: ModuleRecord) -> None:
        """Start, configure and activate one module (on a pool thread)."""
        if rec.runner is None:
            rec.runner = self._make_runner(rec.manifest)
        if rec.tracker is None:
            rec.tracker = _tracker(rec.manifest)
        self._set(rec, ModuleState.STARTING, 'starting')
        try:
            rec.runner.start()
            rec.runner.configure()
            self._set(rec, ModuleState.INACTIVE, 'configured')
            rec.runner.activate()
        except Exception as exc:
            self._set(rec, ModuleState.RECOVERING, str(exc))
            raise
        rec.last_check = time.monotonic()
        self._set(rec, ModuleState.ACTIVE)

    def _do_bring_up(self, _arg: Any) -> None:
        if not self._active:
            return
        levels = self._check_graph()
        if levels is None:
            return
        for group in levels:
            with self._lock:
                todo = [self.records[n] for n in group
                        if self.records[n].state not in (ModuleState.ACTIVE,
                                                         ModuleState.FAILED)]
            blocked = [r for r in todo if not self._deps_active(r)]
            for rec in blocked:
                self._set(rec, ModuleState.WAITING, 'waiting for ' + ', '.join(
                    d for d in rec.manifest.depends
                    if self.records[d].state is not ModuleState.ACTIVE))
            ready = [r for r in todo if r not in blocked]
            futures = {self._pool.submit(self._bring_one_up, r): r for r in ready}
            for future, rec in futures.items():
                try:
                    future.result()
                except Exception:
                    self._recover(rec, rec.message, restart_dependents=False)

    def _deps_active(self, rec: ModuleRecord) -> bool:
        return all(self.records.get(d) is not None
                   and self.records[d].state is ModuleState.ACTIVE
                   for d in rec.manifest.depends)

    def _enabled_graph(self) -> Dict[str, List[str]]:
        with self._lock:
            return {n: list(r.manifest.depends) for n, r in self.records.items() if r.enabled}

    def _stop_order(self, names: Optional[List[str]] = None) -> List[ModuleRecord]:
        try:
            flat = module_graph.order(self._enabled_graph())
        except ModuleGraphError:
            flat = sorted(self._enabled_graph())
        loaded = [n for n in self.records if n not in flat]
        chosen = [n for n in flat + loaded if names is None or n in names]
        return [self.records[n] for n in reversed(chosen) if self.records[n].runner is not None]

    def _transition_seen(self, name: str, label: str) -> None:
        """Check an active module at the next tick when it reports leaving ``active``."""
        rec = self.records.get(name)
        if rec is not None and rec.state is ModuleState.ACTIVE and label != 'active':
            rec.last_check = 0.0

    def _do_deactivate_all(self, _arg: Any) -> None:
        for rec in self._stop_order():
            if rec.state is ModuleState.ACTIVE:
                try:
                    rec.runner.deactivate()
                    self._set(rec, ModuleState.INACTIVE, 'kernel inactive')
                except Exception as exc:
                    self.log.error(f'deactivating {rec.manifest.name}: {exc}')

    def _do_stop_all(self, _arg: Any) -> None:
        for rec in self._stop_order():
            self._stop_record(rec, 'kernel shutting down')

    def _stop_record(self, rec: ModuleRecord, why: str) -> None:
        try:
            rec.runner.stop()
        except Exception as exc:
            self.log.error(f'stopping {rec.manifest.name}: {exc}')
        rec.runner = None
        self._set(rec, ModuleState.STOPPED, why)

    def _do_tick(self, _arg: Any) -> None:
        self._apply_file_changes()
        if not self._active:
            return
        now = time.monotonic()
        for rec in list(self.records.values()):
            if rec.state is not ModuleState.ACTIVE or rec.runner is None:
                continue
            if now - rec.last_check < rec.manifest.health.heartbeat_period_s:
                continue
            rec.last_check = now
            problem = rec.runner.check('active')
            if problem:
                self._recover(rec, problem)
        if any(r.enabled and r.state in (ModuleState.WAITING, ModuleState.AVAILABLE)
               for r in self.records.values()):
            self._do_bring_up(None)

    # -- recovery --------------------------------------------------------------------------

    def _recover(self, rec: ModuleRecord, problem: str, restart_dependents: bool = True) -> None:
        """Restart ``rec`` by its policy, with its dependents taken down around it."""
        name = rec.manifest.name
        self._set(rec, ModuleState.RECOVERING, problem)
        dependents = [self.records[d] for d in module_graph.dependents(self._enabled_graph(), name)
                      if d in self.records]
        for dep in reversed(dependents):
            if dep.state is ModuleState.ACTIVE and dep.runner is not None:
                try:
                    dep.runner.deactivate()
                    self._set(dep, ModuleState.WAITING, f'dependency {name} is recovering')
                except Exception as exc:
                    self.log.error(f'deactivating dependent {dep.manifest.name}: {exc}')
                    self._set(dep, ModuleState.WAITING, f'dependency {name} is recovering')
        assert rec.tracker is not None
        while self._running and self._active:
            clean = rec.runner is not None and getattr(rec.runner, 'proc', None) is not None \
                and rec.runner.proc.poll() == 0
            delay = rec.tracker.next_delay(clean_exit=clean)
            if delay is None:
                self._give_up(rec, problem)
                return
            if rec.runner is not None:
                rec.runner.kill()
            if self._halt.wait(delay):
                break  # the kernel is going down: no restart
            rec.restarts += 1
            try:
                self._bring_one_up(rec)
                break
            except Exception as exc:
                problem = str(exc)
        for dep in dependents:
            if dep.state is ModuleState.WAITING and dep.runner is not None and \
                    self._deps_active(dep):
                try:
                    dep.runner.activate()
                    self._set(dep, ModuleState.ACTIVE)
                except Exception as exc:
                    self._recover(dep, f'reactivating after {name} recovered: {exc}')

    def _give_up(self, rec: ModuleRecord, problem: str) -> None:
        if rec.runner is not None:
            rec.runner.kill()
        restarts = rec.tracker.restarts_in_window if rec.tracker else 0
        policy = rec.manifest.restart
        why = (f'{problem}; not restarted (policy {policy.policy})' if policy.policy == 'never'
               else f'{problem}; gave up after {restarts} restart(s) in {policy.window_s:g}s')
        self._set(rec, ModuleState.FAILED, why)
        self._event(FAILED_TOPIC, rec, Tier.CRITICAL)

    # -- operator commands -----------------------------------------------------------------

    def _do_restart(self, name: str) -> str:
        rec = self.records.get(name)
        if rec is None:
            raise ModuleError(name, 'no such module')
        if rec.runner is not None:
            rec.runner.stop()
            rec.runner = None
        rec.tracker = _tracker(rec.manifest)
        rec.enabled = True
        self._set(rec, ModuleState.WAITING, 'restart requested')
        self._do_bring_up(None)
        return f'{name}: {rec.state.value}'

    def _do_load(self, manifest: Manifest) -> str:
        name = manifest.name
        existing = self.records.get(name)
        if existing is not None and existing.runner is not None:
            if existing.manifest.source != manifest.source:
                raise ModuleError(name, f'already loaded from {existing.manifest.source}')
            return f'{name}: already {existing.state.value}'
        missing = [d for d in manifest.depends if d not in self.records]
        if missing:
            raise ModuleError(name, f'depends on unknown module(s): {", ".join(missing)}')
        rec = ModuleRecord(manifest, True)
        with self._lock:
            self.records[name] = rec
        if self._check_graph() is None:
            with self._lock:
                del self.records[name]
            error, self.graph_error = self.graph_error, ''
            raise ModuleError(name, error)
        self._do_bring_up(None)
        return f'{name}: {rec.state.value}'

    def _do_unload(self, name: str) -> str:
        rec = self.records.get(name)
        if rec is None:
            raise ModuleError(name, 'no such module')
        users = [d for d in module_graph.dependents(self._enabled_graph(), name)
                 if self.records[d].runner is not None]
        if users:
            raise ModuleError(name, f'still needed by {", ".join(users)}; unload those first')
        if rec.runner is not None:
            self._stop_record(rec, 'unloaded')
        rec.enabled = False
        self._set(rec, ModuleState.STOPPED, 'unloaded')
        return f'{name}: unloaded'

    def _do_rediscover(self, _arg: Any) -> None:
        self._discover()
        self._watch()
        self._do_bring_up(None)

    # -- hot reload ------------------------------------------------------------------------

    def _watch(self) -> None:
        self._stop_watch()
        observer = Observer()
        handler = _Watch(self._file_changed)
        for path in self.search_paths():
            if path.is_dir():
                observer.schedule(handler, str(path), recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def _stop_watch(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
            self._observer = None

    def _file_changed(self, path: pathlib.Path) -> None:
        with self._changed_lock:
            self._changed[path] = time.monotonic()

    def _apply_file_changes(self, debounce_s: float = 0.3) -> None:
        now = time.monotonic()
        with self._changed_lock:
            ready = [p for p, t in self._changed.items() if now - t >= debounce_s]
            for p in ready:
                del self._changed[p]
        for path in ready:
            for rec in list(self.records.values()):
                m = rec.manifest
                manifest_path = pathlib.Path(m.source).resolve()
                if path == manifest_path or path == m.entry_file():
                    if rec.runner is not None and rec.state is not ModuleState.FAILED:
                        self._reload(rec)

    def _reload(self, rec: ModuleRecord) -> None:
        name = rec.manifest.name
        try:
            manifest = load_manifest(rec.manifest.source)
            if manifest.name != name:
                raise ModuleError(name, f'the manifest now names {manifest.name!r}; renaming a '
                                        'running module is not supported: unload it first')
            new_class = load_module_class(manifest) \
                if manifest.kind is ModuleKind.INPROCESS else None
        except (ManifestError, ModuleError) as exc:
            rec.reload_error = str(exc).replace('\n', ' ')
            self.log.error(f'reload of {name} rejected, the running version stays: '
                           f'{rec.reload_error}')
            return
        old_manifest, old_runner = rec.manifest, rec.runner
        dependents = [self.records[d] for d in module_graph.dependents(self._enabled_graph(), name)
                      if self.records[d].state is ModuleState.ACTIVE]
        for dep in reversed(dependents):
            dep.runner.deactivate()
            self._set(dep, ModuleState.WAITING, f'{name} is reloading')
        old_runner.stop()
        rec.manifest = manifest
        rec.runner = self._make_runner(manifest)
        if new_class is not None:
            rec.runner.module_class = new_class
        try:
            self._bring_one_up(rec)
            rec.reload_error = ''
            self.log.info(f'module {name} reloaded (version {manifest.version})')
        except Exception as exc:
            rec.reload_error = f'new version failed to start: {exc}'
            self.log.error(f'reload of {name} failed, going back to the previous version: '
                           f'{exc}')
            try:
                rec.runner.kill()
            except Exception:  # the broken new version may not even be up
                pass
            rec.manifest = old_manifest
            rec.runner = self._make_runner(old_manifest)
            if isinstance(old_runner, InProcessRunner):
                rec.runner.module_class = old_runner.module_class
            try:
                self._bring_one_up(rec)
            except Exception as again:
                self._recover(rec, f'previous version failed to come back: {again}')
        for dep in dependents:
            if dep.runner is not None and self._deps_active(dep):
                dep.runner.activate()
                self._set(dep, ModuleState.ACTIVE)

    # -- ROS services ----------------------------------------------------------------------

    def _create_services(self) -> None:
        n = self.node
        self._services = [
            n.create_service(Trigger, '~/modules/list', self._srv_list),
            n.create_service(AddDiagnostics, '~/modules/restart',
                             self._command_service('restart')),
            n.create_service(AddDiagnostics, '~/modules/load', self._srv_load),
            n.create_service(AddDiagnostics, '~/modules/unload',
                             self._command_service('unload')),
        ]

    def _srv_list(self, request: Any, response: Any) -> Any:
        response.success = True
        response.message = json.dumps(self.list_modules())
        return response

    def _command_service(self, command: str) -> Callable[[Any, Any], Any]:
        def handle(request: Any, response: Any) -> Any:
            response.success, response.message = self.request(command, request.load_namespace)
            return response
        return handle

    def _srv_load(self, request: Any, response: Any) -> Any:
        response.success, response.message = self.request('load', request.load_namespace)
        return response

    def request(self, command: str, arg: str) -> Tuple[bool, str]:
        """
        Schedule ``restart``/``unload`` of module NAME or ``load`` of PATH (any thread).

        What the services and the live view call; returns (accepted, message).
        """
        arg = arg.strip()
        if command == 'load':
            try:
                manifest = self._allowed_manifest(arg)
            except (ManifestError, ModuleError) as exc:
                return False, str(exc)
            self._submit('load', manifest)
            return True, f'load of {manifest.name} from {manifest.source} scheduled'
        if command not in ('restart', 'unload'):
            return False, f'unknown command {command!r}: expected restart, load or unload'
        if arg not in self.records:
            return False, f'no module named {arg!r}; known: ' + ', '.join(sorted(self.records))
        self._submit(command, arg)
        return True, f'{command} of {arg} scheduled'

    def _allowed_manifest(self, raw: str) -> Manifest:
        path = pathlib.Path(raw).expanduser()
        if not path.is_absolute():
            raise ModuleError(raw, 'give an absolute path to the module directory or its '
                                   f'{MANIFEST_NAME}')
        path = path.resolve()
        roots = self.search_paths()
        if not any(path == r or r in path.parents for r in roots):
            raise ModuleError(raw, 'not under a configured module search path ('
                                   f'{", ".join(map(str, roots)) or "none configured"}); '
                                   'modules are only loaded from there')
        return load_manifest(path)


def create(context: KernelContext) -> Supervisor:
    """Build the supervisor component (kernel_node COMPONENT_FACTORIES entry)."""
    spawn = True
    node = context.node
    if node.has_parameter('spawn_modules'):
        spawn = bool(node.get_parameter('spawn_modules').value)
    supervisor = Supervisor(context, spawn=spawn)
    supervisor._watch()
    return supervisor
