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
What a kernel config deploys: its enabled modules, found and with the config's overrides.

One place decides this for every way the modules are started: the kernel's supervisor (on
configure), ``unity-kernel check-config`` and ``up`` (before anything starts) and the launch
plan of ``launch/bringup.launch.py``. Pure: no ROS.

- An enabled module that is not found under ``modules.search_paths`` is a deployment
  error naming the module and every folder searched, unless it is in ``modules.optional``.
  One whose folder is there but whose manifest is invalid is no deployment error: the
  supervisor fails it and the modules that depend on it, and the others come up.
- ``modules.overrides.<module>`` sets parameters, restart, health and scheduling settings
  over the module's manifest; a key the manifest does not have, or a value of another type than
  the manifest's, is an error at its line of the config file.
"""

import dataclasses
import pathlib
from typing import Any, Dict, List, Optional, Set, Tuple

from pydantic import BaseModel, ValidationError

from unity_kernel_core.config.kernel_config import KernelConfig, ModuleOverride
from unity_kernel_core.errors import ConfigError, ConfigIssue, ManifestError
from unity_kernel_core.supervision.manifest import (discover, HealthLimits, Manifest,
                                                    MANIFEST_NAME, resolve_search_paths,
                                                    RestartPolicy, Scheduling)


@dataclasses.dataclass(frozen=True)
class Deployment:
    """The modules a config deploys."""

    search_paths: List[pathlib.Path]
    manifests: Dict[str, Manifest]
    """Every valid manifest found by name; the enabled ones with the config's overrides."""
    enabled: List[str]
    """The enabled modules that were found, in the config's order."""
    missing_optional: List[str]
    """Optional enabled modules that were not found (left out)."""
    manifest_errors: List[ManifestError]
    """Manifests that did not load (they do not hide the good ones)."""


def resolve(config: KernelConfig, base: Optional[pathlib.Path] = None) -> Deployment:
    """
    Find the config's modules and apply its overrides; raise ConfigError on any problem.

    ``base`` resolves search paths still relative (a config not read by ``load_config``).
    """
    try:
        roots = resolve_search_paths(config.modules.search_paths, base)
    except ManifestError as exc:
        raise ConfigError([config.issue(('modules', 'search_paths'), str(i.message))
                           for i in exc.issues]) from None
    found, manifest_errors = discover(roots)
    broken = _broken_module_folders(manifest_errors)
    issues: List[ConfigIssue] = []
    optional = set(config.modules.optional)
    missing_optional = []
    for index, name in enumerate(config.modules.enabled):
        if name in found or name in broken:
            continue  # broken: found, but its manifest is invalid: only it and its users fail
        if name in optional:
            missing_optional.append(name)
            continue
        issues.append(config.issue(('modules', 'enabled', index),
                                   _not_found(name, roots, found)))
    if issues:
        # a broken manifest may be the missing module's: say what is wrong with it too
        folders = {str(r) for r in roots}  # (a missing folder is already said above)
        issues += [i for e in manifest_errors for i in e.issues if i.source not in folders]
    manifests = dict(found)
    for name, override in config.modules.overrides.items():
        if name in found:
            manifest, problems = apply_override(found[name], override, config)
            manifests[name] = manifest
            issues += problems
    if issues:
        raise ConfigError(issues)
    enabled = [n for n in config.modules.enabled if n in found]
    return Deployment(roots, manifests, enabled, missing_optional, manifest_errors)


def deployed(manifest: Manifest, config: KernelConfig) -> Manifest:
    """Return ``manifest`` with the config's override for it (a reloaded manifest)."""
    override = config.modules.overrides.get(manifest.name)
    if override is None:
        return manifest
    result, issues = apply_override(manifest, override, config)
    if issues:
        raise ConfigError(issues)
    return result


def apply_override(manifest: Manifest, override: ModuleOverride,
                   config: KernelConfig) -> Tuple[Manifest, List[ConfigIssue]]:
    """Return the manifest with ``override`` applied, and the problems found in it."""
    where = ('modules', 'overrides', manifest.name)
    issues: List[ConfigIssue] = []
    parameters = dict(manifest.parameters)
    for key, value in override.parameters.items():
        if key not in manifest.parameters:
            known = ', '.join(sorted(manifest.parameters)) or 'none'
            issues.append(config.issue(where + ('parameters', key), (
                f'unknown parameter of module {manifest.name!r} (its manifest '
                f'{manifest.source} has: {known})')))
            continue
        converted, problem = _like(manifest.parameters[key], value)
        if problem:
            issues.append(config.issue(where + ('parameters', key), problem))
        else:
            parameters[key] = converted
    update: Dict[str, Any] = {'parameters': parameters}
    for section, model in (('restart', RestartPolicy), ('health', HealthLimits),
                           ('scheduling', Scheduling)):
        changes = getattr(override, section)
        if not changes:
            continue
        current: BaseModel = getattr(manifest, section)
        try:
            update[section] = model.model_validate({**current.model_dump(), **changes})
        except ValidationError as exc:
            for err in exc.errors():
                loc = where + (section,) + tuple(err.get('loc', ()))
                message = err.get('msg', 'invalid value').removeprefix('Value error, ')
                if err.get('type') == 'extra_forbidden':
                    message = (f'unknown key (a manifest {section} section has: '
                               f'{", ".join(model.model_fields)})')
                elif 'input' in err and not isinstance(err['input'], (dict, list)):
                    message = f'{message} (got {err["input"]!r})'
                issues.append(config.issue(loc, message))
    return manifest.model_copy(update=update), issues


def _like(default: Any, value: Any) -> Tuple[Any, str]:
    """Return ``value`` as the type of the manifest's ``default`` (int -> float), or why not."""
    def kind(v: Any) -> type:
        return bool if isinstance(v, bool) else type(v)

    if isinstance(default, list):
        if not isinstance(value, list):
            return value, f'expected a list like the manifest default {default!r}, got {value!r}'
        if not default or not value:
            return value, ''
        converted = [_like(default[0], v) for v in value]
        problems = [p for _, p in converted if p]
        return [v for v, _ in converted], problems[0] if problems else ''
    if kind(default) is float and kind(value) is int:
        return float(value), ''
    if kind(default) is not kind(value):
        return value, (f'expected a {kind(default).__name__} like the manifest default '
                       f'{default!r}, got {value!r}')
    return value, ''


def _broken_module_folders(errors: List[ManifestError]) -> Set[str]:
    """Return the folder names of modules whose ``manifest.yaml`` exists but did not load."""
    return {pathlib.Path(issue.source).parent.name for error in errors
            for issue in error.issues[:1] if pathlib.Path(issue.source).name == MANIFEST_NAME}


def _not_found(name: str, roots: List[pathlib.Path], found: Dict[str, Manifest]) -> str:
    folders = []
    for root in roots:
        if not root.is_dir():
            folders.append(f'{root} (no such folder)')
        else:
            here = sorted(n for n, m in found.items() if m.directory.parent == root)
            folders.append(f'{root} (has: {", ".join(here) or "no modules"})')
    searched = '; '.join(folders) or 'no folder: modules.search_paths is empty'
    return (f'enabled module {name!r} not found (no {name}/{MANIFEST_NAME}); searched: '
            f'{searched}. Add its folder to modules.search_paths, or list it in '
            'modules.optional to run without it')
