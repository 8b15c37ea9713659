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
Read YAML/JSON documents and turn schema violations into issues with file and line.

Shared by the kernel config and module manifests, so that every file a user edits reports
problems the same way: ``path:line: key.path: what was expected (got ...)``.
"""

import json
import os
import pathlib
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from pydantic import ValidationError
import yaml

from unity_kernel_core.errors import ConfigError, ConfigIssue

LineIndex = Dict[Tuple[Any, ...], int]


def _line_index(node: Any, path: Tuple[Any, ...], out: LineIndex) -> None:
    """Record the 1-based line of every key path in a composed YAML node tree."""
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            _line_index(value_node, path + (key,), out)
            out[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, path + (i,), out)


def read_text(path: 'str | os.PathLike[str]') -> str:
    """Read a UTF-8 text file; raise ConfigError saying plainly why it cannot be read."""
    p = pathlib.Path(path).expanduser()
    try:
        return p.read_text(encoding='utf-8')
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(str(p), None, '', 'file not found')]) from None
    except IsADirectoryError:
        raise ConfigError([ConfigIssue(str(p), None, '', 'is a directory, expected a '
                                       'YAML or JSON file')]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigIssue(str(p), None, '',
                                       f'not UTF-8 text ({exc.reason})')]) from None
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(p), None, '', f'cannot read: {exc.strerror}')]) \
            from None


def parse_document(text: str, source: str) -> Tuple[Dict[str, Any], LineIndex]:
    """
    Parse YAML (or JSON when ``source`` ends in .json) into a mapping plus its line index.

    An empty document is an empty mapping; anything but a mapping at the top is an error.
    """
    lines: LineIndex = {}
    try:
        if source.endswith('.json'):
            data = json.loads(text) if text.strip() else {}
        else:
            data = yaml.safe_load(text)
        node = yaml.compose(text) if text.strip() else None
        if node is not None:
            _line_index(node, (), lines)
    except json.JSONDecodeError as exc:
        raise ConfigError([ConfigIssue(source, exc.lineno, '',
                                       f'invalid JSON: {exc.msg} (column {exc.colno})')]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, 'problem', None) or str(exc)
        raise ConfigError([ConfigIssue(source, line, '', f'invalid YAML: {problem}')]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(source, 1, '', 'expected a mapping at the top level, '
                                       f'got {type(data).__name__}')])
    return data, lines


def _default_key(parts: Tuple[Any, ...]) -> Tuple[str, ...]:
    return tuple(str(p) for p in parts)


def lookup_line(lines: LineIndex, loc: Tuple[Any, ...],
                norm_key: Callable[[Tuple[Any, ...]], Tuple[str, ...]] = _default_key
                ) -> Optional[int]:
    """Find the line of the deepest existing prefix of ``loc``."""
    norm = {norm_key(k): v for k, v in lines.items()}
    for end in range(len(loc), -1, -1):
        key = norm_key(loc[:end])
        if key in norm:
            return norm[key]
    return None


def format_loc(loc: Tuple[Any, ...]) -> str:
    """Format a pydantic location as ``a.b[2].c``."""
    parts: List[str] = []
    for p in loc:
        if isinstance(p, int) and not hasattr(p, 'name'):
            parts.append(f'[{p}]')
        else:
            parts.append(('.' if parts else '') + str(getattr(p, 'name', p)))
    return ''.join(parts)


def validation_issues(exc: ValidationError, source: str, lines: LineIndex, *,
                      fix_loc: Callable[[Tuple[Any, ...]], Tuple[Any, ...]] = lambda loc: loc,
                      norm_key: Callable[[Tuple[Any, ...]], Tuple[str, ...]] = _default_key,
                      where: Callable[[Tuple[Any, ...]], Optional[str]] = lambda loc: None
                      ) -> List[ConfigIssue]:
    """
    Turn a pydantic ValidationError into issues naming the line, key path and expectation.

    ``where(loc)`` may name another source for a location (an environment variable).
    """
    issues = []
    for err in exc.errors():
        loc = fix_loc(tuple(err.get('loc', ())))
        message = err.get('msg', 'invalid value')
        if message.startswith('Value error, '):
            message = message[len('Value error, '):]
        if err.get('type') == 'extra_forbidden':
            message = 'unknown key (not in the schema; check its spelling)'
        elif 'input' in err and err.get('type') not in ('missing',):
            shown = repr(err['input'])
            if len(shown) <= 60 and not isinstance(err['input'], (dict, list)):
                message = f'{message} (got {shown})'
        other = where(loc)
        line = None if other else lookup_line(lines, loc, norm_key)
        issues.append(ConfigIssue(other or source, line, format_loc(loc), message))
    return issues


def mapping_or_empty(value: Any) -> Mapping[str, Any]:
    """Return ``value`` when it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}
