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
Module manifests: what a module is, how to run it, what it needs, how to supervise it.

A module lives in a directory with a ``manifest.yaml``. Manifests are only read from the
configured search paths (an allow-list); each one is validated against the schema below and
every problem is reported with file, line, key and what was expected.

Trust model (docs/modules.md): the search paths say where manifests may be read *and* what
they may run. A node module's ``executable`` is either a console script of an installed
package (resolved through the package's entry points or its ament index ``lib/`` folder,
never ``PATH``) or a file inside the module's own folder after symlinks are resolved; an
in-process ``entry`` is a file inside the module's folder or a module of an installed
distribution (not the standard library, not the current directory). Anything else is
refused with the path named.
"""

import enum
import importlib.metadata
import os
import pathlib
import re
from typing import Any, Dict, List, Literal, Optional, Tuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError

from unity_kernel_core.config.documents import parse_document, read_text, validation_issues
from unity_kernel_core.config.fields import NodeName, TopicName
from unity_kernel_core.config.kernel_config import check_parameters, MODULE_NAME, Scheduling
from unity_kernel_core.errors import ConfigError, ConfigIssue, ManifestError
from unity_kernel_core.paths import resolve_path

MANIFEST_NAME = 'manifest.yaml'
_NAME = MODULE_NAME
_ENTRY = re.compile(r'^(?P<file>[A-Za-z0-9_./-]+\.py|[A-Za-z_][A-Za-z0-9_.]*):'
                    r'(?P<attr>[A-Za-z_][A-Za-z0-9_]*)$')


class ModuleKind(str, enum.Enum):
    """How a module runs."""

    NODE = 'node'
    """A ROS 2 lifecycle node in its own process, driven over its lifecycle services."""
    INPROCESS = 'inprocess'
    """A Python class inside the kernel process, on the bus (see ``module_api``)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra='forbid', frozen=True, allow_inf_nan=False)


class RestartPolicy(_Strict):
    """When and how fast a failed module is brought back."""

    policy: Literal['always', 'on-failure', 'never'] = 'on-failure'
    max_restarts: int = Field(5, ge=0, le=1000)
    window_s: float = Field(60.0, gt=0, le=86400)
    backoff_initial_s: float = Field(0.5, ge=0, le=3600)
    backoff_max_s: float = Field(30.0, ge=0, le=3600)

    @model_validator(mode='after')
    def _ordered_backoff(self) -> 'RestartPolicy':
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(f'backoff_max_s ({self.backoff_max_s}) must be >= '
                             f'backoff_initial_s ({self.backoff_initial_s})')
        return self


class HealthLimits(_Strict):
    """Deadlines the supervisor holds a module to."""

    heartbeat_period_s: float = Field(1.0, gt=0, le=3600)
    """How often the module is asked for its state (node) or checked (in-process)."""
    heartbeat_timeout_s: float = Field(5.0, gt=0, le=3600)
    """No answer within this time: the module is hung and gets restarted."""
    transition_timeout_s: float = Field(15.0, gt=0, le=3600)
    """Longest a lifecycle transition (or process start) may take."""
    max_error_rate: float = Field(0.5, ge=0, le=1)
    """In-process modules: handler error ratio above which the module is ERROR."""


class TopicUse(_Strict):
    """Topics a module publishes and subscribes (documentation and graph checks)."""

    publishes: List[TopicName] = []
    subscribes: List[TopicName] = []


class Manifest(_Strict):
    """One module's manifest (``manifest.yaml``)."""

    name: str = Field(pattern=_NAME)
    version: str = Field(pattern=r'^\d+\.\d+\.\d+([.+-][0-9A-Za-z.+-]+)?$')
    kind: ModuleKind
    description: str = ''
    executable: Optional[str] = None
    """Node modules: a console script of the unity_kernel package, or a path (relative to
    the manifest) of an executable or a ``.py`` file."""
    node_name: Optional[NodeName] = None
    namespace: str = '/'
    entry: Optional[str] = None
    """In-process modules: ``file.py:Class`` (relative to the manifest) or ``pkg.mod:Class``."""
    depends: List[str] = []
    parameters: Dict[str, Any] = {}
    topics: TopicUse = TopicUse()
    restart: RestartPolicy = RestartPolicy()
    health: HealthLimits = HealthLimits()
    scheduling: Scheduling = Scheduling()
    """Node modules: the nice value or real-time policy of the module's process."""
    directory: pathlib.Path = Field(pathlib.Path('.'), exclude=True)
    """Where the manifest was found (set by the loader, not written in the file)."""
    source: str = Field('<string>', exclude=True)

    @field_validator('depends')
    @classmethod
    def _dependency_names(cls, value: List[str]) -> List[str]:
        seen = set()
        for name in value:
            if not isinstance(name, str) or not re.match(_NAME, name):
                raise ValueError(f'dependency {name!r} is not a module name ([a-z][a-z0-9_]*)')
            if name in seen:
                raise ValueError(f'dependency {name!r} is listed twice')
            seen.add(name)
        return value

    @field_validator('parameters')
    @classmethod
    def _scalar_parameters(cls, value: Dict[str, Any]) -> Dict[str, Any]:
        return check_parameters(value)

    @field_validator('namespace')
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not re.match(r'^/([A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*)?$', value):
            raise ValueError(f"namespace {value!r} must be '/' or like '/robot1'")
        return value

    @model_validator(mode='after')
    def _kind_fields(self) -> 'Manifest':
        if self.name in self.depends:
            raise ValueError(f'module {self.name!r} depends on itself')
        if self.kind is ModuleKind.NODE:
            if not self.executable:
                raise ValueError("a 'node' module needs 'executable' (a console script or "
                                 'a path relative to the manifest)')
            if self.entry:
                raise ValueError("'entry' is for 'inprocess' modules; a 'node' module uses "
                                 "'executable'")
        else:
            if not self.entry:
                raise ValueError("an 'inprocess' module needs 'entry' ('file.py:Class' or "
                                 "'package.module:Class')")
            if not _ENTRY.match(self.entry):
                raise ValueError(f"entry {self.entry!r}: expected 'file.py:Class' or "
                                 "'package.module:Class'")
            if self.executable:
                raise ValueError("'executable' is for 'node' modules; an 'inprocess' module "
                                 "uses 'entry'")
            if not self.scheduling.is_default:
                raise ValueError("'scheduling' is for 'node' modules; an 'inprocess' module "
                                 "runs on the kernel's bus workers")
        return self

    # -- derived ---------------------------------------------------------------------------

    @property
    def ros_node_name(self) -> str:
        """Return the ROS node name (``node_name``, default the module name)."""
        return self.node_name or self.name

    @property
    def fully_qualified_node_name(self) -> str:
        """Return ``/namespace/node``."""
        ns = self.namespace.rstrip('/')
        return f'{ns}/{self.ros_node_name}'

    def entry_parts(self) -> Tuple[str, str]:
        """Return (file path or module name, class name) of an in-process module."""
        assert self.entry is not None
        match = _ENTRY.match(self.entry)
        assert match is not None
        return match.group('file'), match.group('attr')

    def entry_file(self) -> Optional[pathlib.Path]:
        """Return the source file of an in-process module given as ``file.py:Class``."""
        if self.entry is None:
            return None
        target, _ = self.entry_parts()
        if target.endswith('.py'):
            return self.module_file(target)
        return None

    def module_file(self, relative: str) -> pathlib.Path:
        """
        Return ``relative`` resolved inside the module's folder (symlinks followed).

        Raise ModuleFileError naming the path when it lies anywhere else: an absolute path,
        ``..`` or a symlink leading out of the folder.
        """
        return module_file(self.directory, relative)

    def executable_is_path(self) -> bool:
        """Tell whether ``executable`` names a file (else it is a console script name)."""
        exe = self.executable or ''
        return '/' in exe or exe.endswith('.py')

    @property
    def launchable(self) -> bool:
        """Tell whether ``ros2 launch`` can start it: a node module run by a console script."""
        return self.kind is ModuleKind.NODE and not self.executable_is_path()


class ModuleFileError(ValueError):
    """A manifest names a file outside its module's folder (refused by the trust model)."""


def module_file(directory: pathlib.Path, relative: str) -> pathlib.Path:
    """Resolve ``relative`` against ``directory``; refuse it unless it stays inside."""
    base = pathlib.Path(directory).resolve()
    if '\0' in relative:  # the OS takes no NUL in a name (resolve would raise ValueError)
        raise ModuleFileError(f'{relative!r}: a path cannot hold a NUL character')
    try:
        path = (base / relative).resolve()
    except (RuntimeError, OSError) as exc:  # a symlink loop, a name too long
        raise ModuleFileError(f'{relative!r} cannot be resolved in the module folder {base}: '
                              f'{exc}') from None
    if path != base and base not in path.parents:
        raise ModuleFileError(f'{relative!r} resolves to {path}, outside the module folder '
                              f'{base}: only files inside it (or installed console scripts) '
                              'may run')
    return path


def installed_module(name: str) -> Optional[str]:
    """
    Return the distribution that provides the top-level package of module ``name``, or None.

    The in-process trust rule for ``package.module:Class`` entries: only code of an installed
    distribution (not the standard library, not a folder that happens to be on sys.path).
    """
    top = name.split('.', 1)[0]
    dists = importlib.metadata.packages_distributions().get(top)
    return dists[0] if dists else None


def console_script_packages(name: str) -> List[str]:
    """Return the installed distributions that declare console script ``name``."""
    found = []
    for ep in importlib.metadata.entry_points(group='console_scripts', name=name):
        dist = getattr(ep, 'dist', None)
        found.append(dist.name if dist is not None else ep.value)
    return found


def parse_manifest(text: str, source: str, directory: pathlib.Path) -> Manifest:
    """Validate manifest text; raise ManifestError listing every problem with its line."""
    try:
        data, lines = parse_document(text, source)
    except ConfigError as exc:
        raise ManifestError(exc.issues) from None
    for private in ('directory', 'source'):
        if private in data:
            raise ManifestError([ConfigIssue(source, lines.get((private,)), private,
                                             'unknown key (not in the schema; check its '
                                             'spelling)')])
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(validation_issues(exc, source, lines)) from None
    manifest = manifest.model_copy(update={'directory': directory, 'source': source})
    key = 'executable' if manifest.executable else 'entry'
    try:
        if manifest.executable and manifest.executable_is_path():
            manifest.module_file(manifest.executable)
        manifest.entry_file()
    except ModuleFileError as exc:
        raise ManifestError([ConfigIssue(source, lines.get((key,)), key, str(exc))]) from None
    return manifest


def load_manifest(path: 'str | os.PathLike[str]') -> Manifest:
    """Load a ``manifest.yaml`` (or a module directory holding one)."""
    p = pathlib.Path(path).expanduser()
    if p.is_dir():
        p = p / MANIFEST_NAME
    try:
        text = read_text(p)
    except ConfigError as exc:
        raise ManifestError(exc.issues) from None
    return parse_manifest(text, str(p), p.parent.resolve())


def discover(search_paths: List[pathlib.Path]) -> Tuple[Dict[str, Manifest], List[ManifestError]]:
    """
    Find the modules under the search paths: ``<path>/<module>/manifest.yaml``.

    Returns the valid manifests by name and the errors of the invalid ones (a bad manifest
    does not hide the good ones). A name found twice is an error naming both files; the
    first one found (search path order) is kept.
    """
    found: Dict[str, Manifest] = {}
    errors: List[ManifestError] = []
    for root in search_paths:
        root = pathlib.Path(root).expanduser()
        if not root.is_dir():
            errors.append(ManifestError([ConfigIssue(str(root), None, '',
                                                     'module search path is not a directory')]))
            continue
        candidates = [root / MANIFEST_NAME] if (root / MANIFEST_NAME).is_file() else \
            sorted(root.glob(f'*/{MANIFEST_NAME}'))
        for path in candidates:
            try:
                manifest = load_manifest(path)
            except ManifestError as exc:
                errors.append(exc)
                continue
            if manifest.name in found:
                errors.append(ManifestError([ConfigIssue(
                    str(path), None, 'name', f'module {manifest.name!r} is already defined in '
                    f'{found[manifest.name].source}; this one is ignored')]))
                continue
            found[manifest.name] = manifest
    return found, errors


def resolve_search_paths(paths: List[str], base: Optional[pathlib.Path]) -> List[pathlib.Path]:
    """
    Resolve configured search paths (``paths.resolve_path``): relative ones against ``base``.

    ``load_config`` has already resolved the paths of a config file; this covers configs
    built otherwise. A ``package://`` URL of a package that is not installed is an error.
    """
    out = []
    for raw in paths:
        try:
            out.append(resolve_path(raw, base))
        except FileNotFoundError as exc:
            raise ManifestError([ConfigIssue(raw, None, '', str(exc))]) from None
    return out
