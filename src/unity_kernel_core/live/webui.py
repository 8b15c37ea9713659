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
The dashboard's event-flow editor and live plots: their routes and what feeds them.

The dashboard server hands these routes over after its own access checks (token, and for
POST the ``X-Unity-Live`` header); this module answers them:

- ``GET /flows``: the editor's page; ``GET /app/<file>``: its built scripts and styles
  (``static/app/``, made from ``web/`` by ``make web``); ``GET /favicon.ico``; ``GET /theme.css``
  (both pages' colours and header).
- ``GET /api/flow``: the running graph (``flow_graph``), the files it comes from, whether
  the kernel runs what the file says, and what the editor may set.
- ``POST /api/flow/check`` ``{"ops": [...]}``: the graph as the operations would make it,
  with every problem the config parser finds on the node it concerns; nothing is written.
- ``POST /api/flow/apply`` ``{"ops": [...], "base": {"kernel": sha, "llm": sha}}``: the same
  check, then the files are written (``config_files``; the kernel's watcher reloads the
  kernel config; the LLM bridge is restarted when its file changed; a module switched on or
  off gets the supervisor's ``enable`` or ``disable`` at once, its outcome and id in the
  answer's ``modules``); refused (422) with the problems when the check finds any, (409) when
  a file changed since it was read.
- ``POST /api/flow/undo``: the files as they were before the last apply, byte for byte.
- ``GET /api/samples?since=T``: the live plots' rows after time ``T`` (``samples``).

Validation is the config's own: the kernel file with ``config.kernel_config.parse_config``
(and, when the supervisor offers it, the modules it deploys), as ``check-config`` does; the
LLM bridge's file with the bridge's parser, imported by name (the kernel core does not
depend on the bridge package).
"""

import difflib
import importlib
import json
import logging
import os
import pathlib
import re
import threading
import time
import typing
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from unity_kernel_core.bus.events import Event, Tier
from unity_kernel_core.common.credentials import redact_url
from unity_kernel_core.component import KernelContext
from unity_kernel_core.config.documents import parse_document
from unity_kernel_core.config.kernel_config import KernelConfig, parse_config, QosSettings
from unity_kernel_core.errors import ConfigEditError, ConfigError, ConfigIssue
from unity_kernel_core.live import config_edit
from unity_kernel_core.live.actions import ModuleActions
from unity_kernel_core.live.config_files import ConfigFiles, read_file
from unity_kernel_core.live.delivery import Rates
from unity_kernel_core.live.flow_graph import build_graph, kernel_view, LLM_MODULE
from unity_kernel_core.live.samples import sample_row, SampleRing, TopicCounter
from unity_kernel_core.live.state import find_peer, ModuleOperations
from unity_kernel_core.module_commands import ModuleCommand
from unity_kernel_core.paths import resolve_path, share_dir

_LOG = logging.getLogger('unity_kernel.live.webui')

STATIC = pathlib.Path(__file__).resolve().parent / 'static'
APP = STATIC / 'app'
"""The editor's and the plots' built scripts (``make web``; not in git)."""
LLM_PARSER = 'unity_llm_bridge.config:parse_bridge_config'
"""The LLM bridge's config parser, imported by name when the bridge package is installed."""
LLM_CONFIG_PARAMETER = 'config_file'
"""The llm_bridge module's parameter naming its config file (empty: the shipped one)."""
IN_FORCE_SECTIONS = ('topics', 'exclude', 'tiers', 'modules')
"""What the editor changes; the kernel runs the file when these match the file's."""
MAX_DIFF_LINES = 400
POST_PATHS = ('/api/flow/check', '/api/flow/apply', '/api/flow/undo')
#: What ``WebUi.get`` answers: these paths, and every path under these prefixes.
GET_PATHS = ('/flows', '/favicon.ico', '/favicon.svg', '/theme.css', '/api/samples',
             '/api/flow')
GET_PREFIXES = ('/app/',)

Response = Tuple[int, str, bytes]
_ASSET = re.compile(r'^/app/(?P<name>[a-z0-9_-]+\.(?:js|css|map))$')
_TYPES = {'.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
          '.map': 'application/json', '.html': 'text/html; charset=utf-8',
          '.svg': 'image/svg+xml'}


def _json(code: int, value: Any) -> Response:
    return code, 'application/json', json.dumps(value).encode()


def _qos_choices() -> Dict[str, List[Any]]:
    """Return the allowed values of each QoS key that has a fixed set (from the schema)."""
    out = {}
    for key, field in QosSettings.model_fields.items():
        args = typing.get_args(field.annotation)
        if args and all(isinstance(a, str) for a in args):
            out[key] = list(args)
    return out


class ProcessMeter:
    """The kernel process's CPU share (since the last reading) and resident memory."""

    MIN_INTERVAL_S = 0.5
    """A CPU share over less time than this is noise (the first reading is left out)."""

    def __init__(self) -> None:
        import psutil
        self._process = psutil.Process()
        self._cpu = self._process.cpu_times()
        self._at = time.monotonic()

    def read(self) -> Dict[str, float]:
        """Return ``cpu_percent`` (100 = one core) since the last reading, and ``rss_mb``."""
        out = {'rss_mb': round(self._process.memory_info().rss / 1e6, 1)}
        now, cpu = time.monotonic(), self._process.cpu_times()
        if now - self._at >= self.MIN_INTERVAL_S:
            used = (cpu.user + cpu.system) - (self._cpu.user + self._cpu.system)
            out['cpu_percent'] = round(100.0 * used / (now - self._at), 1)
            self._cpu, self._at = cpu, now
        return out


class WebUi:
    """The editor's and the plots' routes, fed by the live view."""

    def __init__(self, *, config: Callable[[], KernelConfig],
                 config_path: Optional[pathlib.Path],
                 modules: Callable[[], Optional[ModuleOperations]],
                 handlers: Callable[[], Sequence[Tuple[str, str, Optional[List[str]]]]],
                 ros_topics: Callable[[], Dict[str, Tuple[List[str], List[str]]]],
                 deployment_check: Callable[[], Optional[Callable[[KernelConfig], None]]]
                 = lambda: None,
                 window_s: float = 600.0, period_s: float = 1.0,
                 actions: Optional[ModuleActions] = None) -> None:
        self._config = config
        self._config_path = config_path
        self._modules = modules
        self.actions = actions if actions is not None else ModuleActions(modules)
        """Where the module commands of an apply go (the dashboard's, to read them back)."""
        self._handlers = handlers
        self._ros_topics = ros_topics
        self._deployment_check = deployment_check
        self.samples = SampleRing(window_s=window_s, period_s=period_s)
        self.counter = TopicCounter()
        self._tier_rates = Rates()
        self.files = ConfigFiles()
        self._meter = ProcessMeter()
        self._lock = threading.Lock()
        self._topics: Dict[str, Dict[str, Any]] = {}
        self._tiers: List[Dict[str, Any]] = []
        self._mirror_state: Dict[str, Any] = {}
        self._t0 = time.time()

    # -- feeding ---------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Count one bus event for the per-topic rates (on the bus's worker threads)."""
        self.counter.count(event.topic)

    def sample(self, state: Mapping[str, Any]) -> None:
        """
        Take one row of the plots from a state snapshot, at most once per period.

        Called by the live view's refresh thread; it also refreshes the topics the graph
        shows (the ROS graph's topics with their types and subscribers, and the bus's).
        """
        now = time.time()
        if not self.samples.due(now):
            return
        rates = self.counter.rates(time.monotonic())
        try:
            found = self._ros_topics()
        except Exception:  # the graph may be gone while the kernel stops: keep the last
            _LOG.debug('webui: listing the ROS graph failed', exc_info=True)
            found = None
        with self._lock:
            if found is not None:
                topics: Dict[str, Dict[str, Any]] = {
                    name: {'types': types, 'subscribers': subs, 'source': 'dds'}
                    for name, (types, subs) in found.items()}
                for name in rates:
                    if name not in topics and name.startswith('/'):
                        topics[name] = {'types': [], 'subscribers': [], 'source': 'bus'}
                self._topics = topics
            for name, info in self._topics.items():
                info['rate'] = rates.get(name, 0.0)
            self._tiers = list(state.get('tiers') or [])
            self._mirror_state = dict(state.get('mirror') or {})
        self.samples.add(now, sample_row(state, rates, self._meter.read(), self._tier_rates,
                                         time.monotonic()))

    # -- routes ----------------------------------------------------------------------------

    def get(self, path: str, query: Mapping[str, str]) -> Optional[Response]:
        """Answer a GET of ours, or return None (not one of these routes)."""
        if path == '/flows':
            return 200, _TYPES['.html'], (STATIC / 'flows.html').read_bytes()
        if path in ('/favicon.ico', '/favicon.svg'):
            return 200, _TYPES['.svg'], (STATIC / 'favicon.svg').read_bytes()
        if path == '/theme.css':
            return 200, _TYPES['.css'], (STATIC / 'theme.css').read_bytes()
        asset = _ASSET.match(path)
        if asset is not None:
            file = APP / asset.group('name')
            if not file.is_file():
                return _json(404, {'error': f'{path} is not built: run `make web` (docs/'
                                            'live_view.md, "The editor\'s build")'})
            return 200, _TYPES[file.suffix], file.read_bytes()
        if path == '/api/samples':
            since = query.get('since') or ''
            try:
                since_s = float(since) if since else None
            except ValueError:
                return _json(400, {'error': f'since: expected a number, got {since[:40]!r}'})
            return _json(200, self.samples.columns(since_s))
        if path == '/api/flow':
            return _json(200, self.flow())
        return None

    def post(self, path: str, body: Any) -> Response:
        """Answer a POST of ``POST_PATHS`` (the dashboard checked the caller first)."""
        try:
            if path == '/api/flow/undo':
                return self._undo(body)
            ops = config_edit.parse_ops(body)
            base = body.get('base')
            base = {} if base is None else base
            if not isinstance(base, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in base.items()):
                raise ConfigEditError('"base" must map a file role to its SHA-256')
            return self._edit(ops, base, write=path == '/api/flow/apply')
        except ConfigEditError as exc:
            return _json(409 if exc.conflict else 400, {'ok': False, 'error': str(exc)})

    # -- the graph -------------------------------------------------------------------------

    def _paths(self) -> Dict[str, pathlib.Path]:
        out = {}
        if self._config_path is not None:
            out[config_edit.KERNEL] = self._config_path
        llm = self._llm_path()
        if llm is not None:
            out[config_edit.LLM] = llm
        return out

    def _llm_path(self) -> Optional[pathlib.Path]:
        """Return the LLM bridge's config file: its module parameter, else the shipped one."""
        config = self._config()
        override = config.modules.overrides.get(LLM_MODULE)
        raw = override.parameters.get(LLM_CONFIG_PARAMETER) if override is not None else None
        base = self._config_path.parent if self._config_path is not None else None
        try:
            if isinstance(raw, str) and raw:
                return resolve_path(raw, base)
            return share_dir() / 'config' / 'llm_bridge.yaml'
        except FileNotFoundError:
            return None

    def _observed(self) -> Dict[str, Any]:
        modules = self._modules()
        with self._lock:
            return {'topics': {k: dict(v) for k, v in self._topics.items()},
                    'tiers': list(self._tiers), 'mirror': dict(self._mirror_state),
                    'modules': modules.list_modules() if modules is not None else [],
                    'handlers': list(self._handlers())}

    def _read(self, role: str, path: pathlib.Path) -> Dict[str, Any]:
        """Return what the page shows of a file: path, sha, editable (or why not)."""
        try:
            state = read_file(path)
            text = state.text
        except ConfigEditError as exc:
            return {'path': str(path), 'sha': None, 'editable': False, 'why': str(exc)}
        try:
            data, _ = parse_document(text, str(path))
        except ConfigError as exc:
            return {'path': str(path), 'sha': state.sha, 'editable': False,
                    'why': f'the file does not parse: {exc.issues[0]}'}
        return {'path': str(path), 'sha': state.sha, 'editable': True, 'why': None,
                'text': text, 'data': data}

    def flow(self) -> Dict[str, Any]:
        """Return the running graph, its files and what the editor may set."""
        config = self._config()
        observed = self._observed()
        files = {role: self._read(role, path) for role, path in self._paths().items()}
        kernel_file = files.get(config_edit.KERNEL)
        if kernel_file is not None and kernel_file.get('editable'):
            kernel_file['in_force'] = self._in_force(config, kernel_file['text'])
        llm_data = (files.get(config_edit.LLM) or {}).get('data')
        graph = build_graph(kernel_view(config.model_dump(mode='json')),
                            llm=llm_data, **observed)
        return {'graph': graph, 'files': _public(files), 'choices': self._choices(llm_data),
                'undo': [str(p) for p in self.files.undo_available(self._paths())]}

    def _in_force(self, config: KernelConfig, text: str) -> Optional[bool]:
        """Tell whether the kernel runs what the file says of the editor's sections."""
        assert self._config_path is not None
        try:
            written = parse_config(text, str(self._config_path), os.environ,
                                   base=self._config_path.parent)
        except ConfigError:
            return False
        return all(getattr(written, k) == getattr(config, k) for k in IN_FORCE_SECTIONS)

    @staticmethod
    def _choices(llm: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
        models = llm.get('models') if isinstance(llm, Mapping) else None
        return {'tiers': [t.name for t in Tier], 'qos': _qos_choices(),
                'qos_keys': list(config_edit.QOS_KEYS), 'rule_keys': list(config_edit.RULE_KEYS),
                'models': sorted(str(m) for m in models) if isinstance(models, Mapping)
                else []}

    # -- edits -----------------------------------------------------------------------------

    def _edit(self, ops: List[config_edit.Op], base: Mapping[str, str],
              write: bool) -> Response:
        paths = self._paths()
        if config_edit.KERNEL not in paths:
            raise ConfigEditError('the kernel runs on its built-in defaults: there is no '
                                  'config file to edit (start it with --config FILE)')
        files = {}
        docs = {}
        for role in config_edit.files_touched(ops) + [config_edit.KERNEL]:
            if role in files or role not in paths:
                continue
            found = self._read(role, paths[role])
            if not found['editable']:
                raise ConfigEditError(found['why'])
            files[role] = found
            docs[role] = config_edit.load(found['text'], str(paths[role]).endswith('.json'))
        notes = config_edit.apply_ops(docs, ops)
        texts = {role: config_edit.render(doc, _same(str(paths[role])))
                 for role, doc in docs.items()}
        changed = {role: text for role, text in texts.items() if text != files[role]['text']}
        issues = self._validate(texts, paths)
        by_node: Dict[str, List[str]] = {}
        for role, issue in issues:
            data = docs[role].data
            by_node.setdefault(config_edit.issue_node(role, issue.path, data), []).append(
                str(issue))
        observed = self._observed()
        llm_doc = docs.get(config_edit.LLM)
        llm_data = llm_doc.data if llm_doc is not None else \
            (self._read(config_edit.LLM, paths[config_edit.LLM]).get('data')
             if config_edit.LLM in paths else None)
        graph = build_graph(kernel_view(docs[config_edit.KERNEL].data), llm=llm_data,
                            issues=by_node, **observed)
        result = {'ok': not issues, 'notes': notes, 'issues': [str(i) for _, i in issues],
                  'graph': _plain(graph), 'changed': sorted(changed),
                  'diff': {role: _diff(files[role]['text'], text, str(paths[role]))
                           for role, text in changed.items()}}
        if not write:
            return _json(200, result)
        if issues:
            return _json(422, {**result, 'error': f'{len(issues)} problem(s): nothing '
                                                  'written'})
        if not changed:
            return _json(200, {**result, 'written': [], 'restart': None})
        written = self.files.apply(paths, changed, {k: v for k, v in base.items()
                                                    if k in changed})
        _LOG.info('flow editor: wrote %s (%s)', ', '.join(map(str, written)),
                  '; '.join(notes) or 'edited')
        restart = self._restart_bridge() if config_edit.LLM in changed else None
        return _json(200, {**result, 'written': [str(p) for p in written],
                           'restart': restart, 'modules': self._switch_modules(ops)})

    def _undo(self, body: Any) -> Response:
        if body not in (None, {}):
            raise ConfigEditError('undo takes an empty body')
        paths = self._paths()
        restored = self.files.undo(paths)
        _LOG.info('flow editor: undo restored %s', ', '.join(map(str, restored)))
        restart = self._restart_bridge() if paths.get(config_edit.LLM) in restored else None
        return _json(200, {'ok': True, 'restored': [str(p) for p in restored],
                           'restart': restart})

    def _switch_modules(self, ops: List[config_edit.Op]) -> List[Dict[str, Any]]:
        """
        Enable or disable at once the modules the edit switched in ``modules.enabled``.

        The supervisor's ``enable``/``disable`` commands make it so now; the reloaded file
        says the same (whichever comes first does it, the other finds it done). Return each
        command's outcome with its id, which ``POST /api/modules/outcome`` answers for.
        """
        out = []
        for op in ops:
            if op['op'] != 'set_module':
                continue
            command = ModuleCommand.ENABLE if op['enabled'] else ModuleCommand.DISABLE
            outcome = self.actions.submit(command.value, op['name'])
            if outcome is not None:
                out.append(outcome)
        return out

    def _restart_bridge(self) -> Optional[str]:
        """Restart the LLM bridge so that it reads its new routes (when it is enabled)."""
        modules = self._modules()
        if modules is None:
            return None
        bridge = next((m for m in modules.list_modules() if m.get('name') == LLM_MODULE), None)
        if bridge is None or not bridge.get('enabled'):
            return f'{LLM_MODULE} is not enabled: its routes apply when it starts'
        outcome = self.actions.submit(ModuleCommand.RESTART.value, LLM_MODULE)
        if outcome is None:
            return None
        return outcome['message'] if outcome['success'] else \
            f'restart refused: {outcome["message"]}'

    def _validate(self, texts: Mapping[str, str], paths: Mapping[str, pathlib.Path]
                  ) -> List[Tuple[str, ConfigIssue]]:
        issues: List[Tuple[str, ConfigIssue]] = []
        kernel = paths[config_edit.KERNEL]
        try:
            config = parse_config(texts[config_edit.KERNEL], str(kernel), os.environ,
                                  base=kernel.parent)
            check = self._deployment_check()
            if check is not None:
                check(config)
        except ConfigError as exc:
            issues.extend((config_edit.KERNEL, i) for i in exc.issues)
        if config_edit.LLM in texts:
            parser = _llm_parser()
            if parser is not None:
                try:
                    parser(texts[config_edit.LLM], str(paths[config_edit.LLM]))
                except ConfigError as exc:
                    issues.extend((config_edit.LLM, i) for i in exc.issues)
        return issues


def create_webui(context: KernelContext, config: Callable[[], KernelConfig],
                 modules: Callable[[], Optional[ModuleOperations]],
                 actions: Optional[ModuleActions] = None) -> WebUi:
    """Return the WebUi of a live view: the kernel's bus and ROS graph, its peers by name."""
    node = context.node

    def handlers() -> List[Tuple[str, str, Optional[List[str]]]]:
        return [(s.name, s.pattern, None if s.tiers is None else [t.name for t in s.tiers])
                for s in context.bus.subscriptions]

    def ros_topics() -> Dict[str, Tuple[List[str], List[str]]]:
        return {name: (list(types), sorted({_node_name(i) for i in
                                            node.get_subscriptions_info_by_topic(name)}))
                for name, types in node.get_topic_names_and_types()}

    def deployment_check() -> Optional[Callable[[KernelConfig], None]]:
        peer = find_peer(context.components, 'supervisor', 'check_deployment')
        return None if peer is None else peer.check_deployment

    return WebUi(config=config, config_path=context.config_path, modules=modules,
                 handlers=handlers, ros_topics=ros_topics, deployment_check=deployment_check,
                 actions=actions)


def _node_name(info: Any) -> str:
    return f'{info.node_namespace.rstrip("/")}/{info.node_name}'


def _llm_parser() -> Optional[Callable[[str, str], Any]]:
    module, _, name = LLM_PARSER.partition(':')
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        return None


def _same(source: str) -> Callable[[str, str], bool]:
    """Return a test of whether two texts of ``source`` load to the same data."""
    def load(text: str) -> Any:
        try:
            return parse_document(text, source)[0]
        except ConfigError:
            return object()  # equal to nothing
    return lambda a, b: load(a) == load(b)


_URL = re.compile(r'[^\s\'"]+://[^\s\'"]+')


def _diff(old: str, new: str, name: str) -> str:
    """Return the unified diff the page shows, every URL in it redacted (a Redis password)."""
    lines = [_URL.sub(lambda found: redact_url(found.group(0)), line)
             for line in difflib.unified_diff(old.splitlines(keepends=True),
                                              new.splitlines(keepends=True), name, name, n=1)]
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + [f'... ({len(lines) - MAX_DIFF_LINES} more lines)\n']
    return ''.join(lines)


def _public(files: Mapping[str, Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Return the files without their text and data (the page needs path, sha, state)."""
    return {role: {k: v for k, v in found.items() if k not in ('text', 'data')}
            for role, found in files.items()}


def _plain(value: Any) -> Any:
    """Return ``value`` as plain JSON types (round-trip YAML scalars become str/int/float)."""
    return json.loads(json.dumps(value, default=str))
