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
The module supervisor: the kernel component (ROS edge) over the supervision scheduler.

- Discovery: manifests under ``modules.search_paths``; the modules named in
  ``modules.enabled`` are brought up, with ``modules.overrides`` applied (``deployment``).
  An enabled module that is not found (and not ``modules.optional``) fails configure.
- Scheduling (``scheduler.Scheduler``, ROS-free): one state machine per module, one loop that
  never waits for a module; blocking calls run on workers, back-offs are deadlines. A module
  whose dependencies are all active is started; independent modules start concurrently.
- Health: every ``health.heartbeat_period_s`` each active module is checked (node modules:
  process alive, ``get_state`` answered within ``heartbeat_timeout_s`` and ``active``, still
  in the ROS graph; in-process modules: no stuck handler, error rate under
  ``max_error_rate``). A node module's ``transition_event`` leaving ``active`` (it
  deactivated itself, or went through ``on_error``) triggers that check at once; a process
  the kernel owns that exits is seen within ``scheduler.MAX_IDLE_S``.
- Recovery: a failed module's dependents are deactivated, the module is restarted when its
  back-off deadline passes, then the dependents are activated again. After ``max_restarts``
  in ``window_s`` it is marked failed and an event goes to the CRITICAL tier
  (``/unity_kernel/modules/failed``).
- Hot reload: an edited manifest or in-process source file reloads that module only; a
  reload that fails keeps the old version running and says why.
- Services (on the kernel node): ``~/modules/list`` (std_srvs/Trigger, JSON in ``message``),
  one per ``ModuleCommand`` (``~/modules/restart``, ``enable``, ``disable``, ``load``,
  ``unload``) and ``~/modules/outcome`` (diagnostic_msgs/AddDiagnostics: the argument, or the
  command's id, in ``load_namespace``; the command's outcome as JSON in ``message``).

Service callbacks and file events only queue commands for the scheduler's loop, so the
kernel's executor is never blocked by a module; a command's outcome is asked for by its id.
"""

import concurrent.futures
import json
import pathlib
import threading
import time
from typing import Any, Callable, Dict, FrozenSet, List, Optional

from diagnostic_msgs.srv import AddDiagnostics
from std_msgs.msg import String
from std_srvs.srv import Trigger
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from unity_kernel_core.bus.events import Tier
from unity_kernel_core.component import KernelContext
from unity_kernel_core.config.kernel_config import KernelConfig
from unity_kernel_core.errors import ConfigError, ModuleError
from unity_kernel_core.module_commands import (CommandOutcome, LIST_SERVICE, ModuleCommand,
                                               OUTCOME_SERVICE)
from unity_kernel_core.ros import callbacks
from unity_kernel_core.ros.diagnostics import ERROR, OK, STALE, status, WARN
from unity_kernel_core.supervision import deployment
from unity_kernel_core.supervision.commands import Commands
from unity_kernel_core.supervision.inprocess import InProcessRunner
from unity_kernel_core.supervision.lifecycle_client import LifecycleClient
from unity_kernel_core.supervision.machine import ModuleState
from unity_kernel_core.supervision.manifest import (load_manifest, Manifest, ModuleKind,
                                                    resolve_search_paths)
from unity_kernel_core.supervision.node_runner import runner_class
from unity_kernel_core.supervision.runner import Runner
from unity_kernel_core.supervision.scheduler import ModuleRecord, Scheduler

__all__ = ['ModuleRecord', 'ModuleState', 'Supervisor', 'create']

FAILED_TOPIC = '/unity_kernel/modules/failed'
STATE_TOPIC = '/unity_kernel/modules/state'


_LEVELS = {ModuleState.ACTIVE: OK, ModuleState.INACTIVE: WARN, ModuleState.STARTING: OK,
           ModuleState.WAITING: WARN, ModuleState.RECOVERING: WARN,
           ModuleState.FAILED: ERROR, ModuleState.STOPPED: STALE,
           ModuleState.AVAILABLE: OK}


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
        self.discovery_errors: List[str] = []
        self._launched: Optional[FrozenSet[str]] = None
        """Under ``ros2 launch``: the node modules its launch file starts (first discovery)."""
        self._halt = threading.Event()
        """Set while the kernel is going down: module starts give up."""
        self.scheduler = Scheduler(self._make_runner, on_change=self._changed,
                                   on_give_up=self._gave_up, halt=self._halt)
        self.commands = Commands(self.scheduler, self.search_paths,
                                 lambda m: deployment.deployed(m, self.config))
        self._client: Optional[LifecycleClient] = None
        self._client_lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._running = False
        self._observer: Optional[Any] = None
        self._changed_files: Dict[pathlib.Path, float] = {}
        self._changed_lock = threading.Lock()
        self._services: List[Any] = []
        try:
            self._discover()
        except ConfigError:
            self.scheduler.close()
            raise
        self._create_services()
        self._start_thread()

    @property
    def records(self) -> Dict[str, ModuleRecord]:
        """Return the module records by name (owned by the scheduler's loop)."""
        return self.scheduler.records

    # -- component protocol ----------------------------------------------------------------

    def activate(self) -> None:
        """Bring the enabled modules up (asynchronously, in dependency order)."""
        self._halt.clear()
        self.scheduler.call(self._set_running)

    def _set_running(self) -> None:
        self.scheduler.resume()

    def deactivate(self) -> None:
        """Deactivate the modules in reverse order (waits for it)."""
        self._halt.set()
        self._wait(self.scheduler.call(self.scheduler.deactivate_all))

    def cleanup(self) -> None:
        """Stop every module in reverse order, then the supervisor itself."""
        self._halt.set()
        self._wait(self.scheduler.call(self.scheduler.stop_all))
        self._running = False
        if self._thread is not None:
            self._thread.join(10.0)
        self._stop_watch()
        self.scheduler.close()
        for service in self._services:
            self.node.destroy_service(service)
        self._services = []
        if self._client is not None:
            self._client.close()
            self._client = None

    def _wait(self, future: 'concurrent.futures.Future[Any]', timeout: float = 120.0) -> Any:
        if self._thread is not None and self._thread.is_alive():
            return future.result(timeout)
        return None

    def diagnostics(self) -> List[Any]:
        """Return one DiagnosticStatus per module, plus one for the supervisor."""
        out = []
        node_name = self.node.get_name()
        with self.scheduler.lock:
            records = list(self.records.values())
            problems = self.discovery_errors + sorted(set(
                self.scheduler.graph_problems.values()))
        for rec in records:
            machine = rec.machine
            values: Dict[str, object] = {'state': machine.state.value,
                                         'kind': rec.manifest.kind.value,
                                         'version': rec.manifest.version,
                                         'restarts': machine.restarts,
                                         'depends': ','.join(rec.manifest.depends)}
            if machine.failure is not None:
                values.update({'failure': machine.failure.kind.value,
                               'exit_code': '' if machine.failure.code is None
                               else machine.failure.code})
            runner = rec.runner
            if runner is not None:
                values.update(runner.describe())
            level = _LEVELS[machine.state]
            message = machine.message or machine.state.value
            if rec.reload_error:
                level = max(level, WARN)
                message = f'{message}; reload failed: {rec.reload_error}'
            out.append(status(f'{node_name}: module {rec.manifest.name}', level, message,
                              values, hardware_id=rec.manifest.name))
        out.append(status(f'{node_name}: supervisor', ERROR if problems else OK,
                          '; '.join(problems)[:2000] if problems else
                          f'{len(records)} module(s)', {'modules': len(records)},
                          hardware_id=node_name))
        return out

    def reconfigure(self, config: KernelConfig) -> None:
        """
        Take a new config (a hot reload) when its ``modules`` section changed.

        A module it enables is brought up and one it no longer enables is stopped (see
        ``Scheduler.set_manifests``); the search paths are watched anew.
        """
        if config.modules != self.config.modules:
            self.config = config
            self.scheduler.call(self._rediscover)
        self.config = config

    def list_modules(self) -> List[Dict[str, Any]]:
        """Return every known module as a dict (what ``modules list`` shows)."""
        with self.scheduler.lock:
            return [r.as_dict() for r in sorted(self.records.values(),
                                                key=lambda r: r.manifest.name)]

    # -- discovery -------------------------------------------------------------------------

    def check_deployment(self, config: KernelConfig) -> None:
        """Raise ConfigError when ``config``'s modules cannot be deployed (as configure would)."""
        base = self.context.config_path.parent if self.context.config_path else None
        deployment.resolve(config, base)

    def search_paths(self) -> List[pathlib.Path]:
        """Return the allow-listed directories manifests are read from."""
        base = self.context.config_path.parent if self.context.config_path else None
        return resolve_search_paths(self.config.modules.search_paths, base)

    def _discover(self) -> None:
        base = self.context.config_path.parent if self.context.config_path else None
        # a missing enabled module or a bad override raises ConfigError: configure fails
        found = deployment.resolve(self.config, base)
        problems = [str(i) for e in found.manifest_errors for i in e.issues]
        for line in problems:
            if line not in self.discovery_errors:  # once per problem, not per rediscovery
                self.log.error(f'manifest: {line}')
        for name in found.missing_optional:
            self.log.warning(f'optional module {name!r} not found: left out')
        self.discovery_errors = problems
        if self._launched is None:  # what the launch file started, from the same config
            self._launched = frozenset(n for n in found.enabled if found.manifests[n].launchable)
        self.scheduler.set_manifests(found.manifests, found.enabled)

    def _rediscover(self) -> None:
        try:
            self._discover()
        except ConfigError as exc:  # a reloaded config whose modules cannot be found
            self.log.error(f'modules keep their previous configuration: {exc}')
            return
        self._watch()

    # -- the scheduler's loop --------------------------------------------------------------

    def _start_thread(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._run, name='supervisor', daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last_error = ''
        while self._running:
            try:
                self.scheduler.run_once()
                self._apply_file_changes()
                last_error = ''
            except Exception as exc:  # one failed step must not end supervision
                error = f'supervision step failed: {type(exc).__name__}: {exc}'
                if error != last_error:  # a persisting error is logged once, not per step
                    self.log.error(error)
                last_error = error
                time.sleep(0.1)
        self.scheduler.drain()

    def _lifecycle_client(self) -> LifecycleClient:
        with self._client_lock:  # exactly one client node
            if self._client is None:
                self._client = LifecycleClient(self.node.context)
            return self._client

    def _make_runner(self, manifest: Manifest) -> Runner:
        if manifest.kind is ModuleKind.NODE:
            name = manifest.name
            kind = runner_class(manifest, self.spawn, self._launched or ())
            return kind(manifest, self._lifecycle_client(), self.state_dir, halt=self._halt,
                        on_transition=lambda label: self.scheduler.post_transition(name, label))
        return InProcessRunner(manifest, self.bus, self.state_dir)

    def _changed(self, rec: ModuleRecord, old: ModuleState) -> None:
        """Log and publish a module's state change (on the loop's thread, once per change)."""
        state, message = rec.machine.state, rec.machine.message
        detail = f' ({message})' if message else ''
        text = f'module {rec.manifest.name}: {state.value}{detail}'
        if state is ModuleState.FAILED:
            self.log.error(text)
        elif state is ModuleState.RECOVERING:
            self.log.warning(text)
        else:
            self.log.info(text)
        self._event(STATE_TOPIC, rec, Tier.NORMAL)

    def _gave_up(self, rec: ModuleRecord) -> None:
        self._event(FAILED_TOPIC, rec, Tier.CRITICAL)

    def _event(self, topic: str, rec: ModuleRecord, tier: Tier) -> None:
        try:
            self.bus.publish(topic, 'std_msgs/msg/String', String(data=json.dumps(
                rec.as_dict())), tier=tier, source='supervisor')
        except Exception as exc:  # the bus may be stopping; the log line stays
            self.log.warning(f'could not publish {topic}: {exc}')

    # -- operator commands (queued for the loop) -------------------------------------------

    def submit(self, command: 'ModuleCommand | str', arg: str) -> CommandOutcome:
        """Take an operator command (any thread): see ``Commands.submit``."""
        return self.commands.submit(command, arg)

    def outcome(self, outcome_id: str, wait_s: float = 0.0) -> Optional[CommandOutcome]:
        """Return the outcome of a command, waiting up to ``wait_s`` for it to finish; or None."""
        return self.commands.outcome(outcome_id, wait_s)

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
            self._changed_files[path] = time.monotonic()

    def _apply_file_changes(self, debounce_s: float = 0.3) -> None:
        now = time.monotonic()
        with self._changed_lock:
            ready = [p for p, t in self._changed_files.items() if now - t >= debounce_s]
            for p in ready:
                del self._changed_files[p]
        for path in ready:
            for rec in list(self.records.values()):
                m = rec.manifest
                if path == pathlib.Path(m.source).resolve() or path == m.entry_file():
                    if rec.runner is not None and rec.state is not ModuleState.FAILED:
                        threading.Thread(target=self._prepare_reload, args=(rec.name, m),
                                         name=f'reload-{rec.name}', daemon=True).start()

    def _prepare_reload(self, name: str, current: Manifest) -> None:
        """Load and check a module's new version off the loop; hand it to the scheduler."""
        try:
            manifest = deployment.deployed(load_manifest(current.source), self.config)
            if manifest.name != name:
                raise ModuleError(name, f'the manifest now names {manifest.name!r}; renaming a '
                                        'running module is not supported: unload it first')
            runner = self._make_runner(manifest)
            runner.load()
        except (ConfigError, ModuleError) as exc:
            error = str(exc).replace('\n', ' ')
            self.log.error(f'reload of {name} rejected, the running version stays: {error}')
            self.scheduler.call(lambda: self.scheduler.reject_reload(name, error))
            return
        self.scheduler.call(lambda: self.scheduler.reload(name, manifest, runner))

    # -- ROS services ----------------------------------------------------------------------

    def _create_services(self) -> None:
        n = self.node
        self._services = [
            callbacks.service(n, Trigger, f'~/modules/{LIST_SERVICE}', self._srv_list),
            callbacks.service(n, AddDiagnostics, f'~/modules/{OUTCOME_SERVICE}',
                              self._srv_outcome),
            *[callbacks.service(n, AddDiagnostics, f'~/modules/{command.value}',
                                self._command_service(command)) for command in ModuleCommand]]

    def _srv_list(self, request: Any, response: Any) -> Any:
        response.success = True
        response.message = json.dumps(self.list_modules())
        return response

    def _command_service(self, command: ModuleCommand) -> Callable[[Any, Any], Any]:
        def handle(request: Any, response: Any) -> Any:
            response.success, response.message = self.commands.answer(
                command, request.load_namespace)
            return response
        return handle

    def _srv_outcome(self, request: Any, response: Any) -> Any:
        response.success, response.message = self.commands.answer_outcome(
            request.load_namespace)
        return response


def create(context: KernelContext) -> Supervisor:
    """Build the supervisor component (kernel_node COMPONENT_FACTORIES entry)."""
    spawn = True
    node = context.node
    if node.has_parameter('spawn_modules'):
        spawn = bool(node.get_parameter('spawn_modules').value)
    supervisor = Supervisor(context, spawn=spawn)
    supervisor._watch()
    return supervisor
