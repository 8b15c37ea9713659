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
from typing import Any, Callable, Dict, List, Optional, Tuple

from pydantic import ValidationError
import yaml

from unity_kernel_core.common import files
from unity_kernel_core.errors import ConfigError, ConfigIssue

LineIndex = Dict[Tuple[Any, ...], int]

MAX_DOCUMENT_BYTES = 1024 * 1024
"""A config, manifest or settings file larger than this is refused (1 MiB)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings/sequences accepted in a document (or a JSON message)."""
MAX_NODES = 100_000
"""Most values a document may stand for once its YAML aliases are expanded."""


class _Loader(yaml.SafeLoader):
    """A safe loader that refuses documents nested deeper than ``MAX_DEPTH`` as it composes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(
                    None, None, f'nested deeper than {MAX_DEPTH} levels', mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_scalar(self, node: Any) -> Any:
        value = super().construct_scalar(node)
        if isinstance(value, str):
            try:
                value.encode('utf-8')
            except UnicodeEncodeError:  # "\ud800": no consumer (ROS, HTTP, Redis) takes it
                raise yaml.constructor.ConstructorError(
                    None, None, 'a string holds an unpaired surrogate (\\ud800-\\udfff)',
                    node.start_mark) from None
        return value

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError) as exc:
            # a scalar YAML cannot build (2026-02-30, an int of 5000 digits): name its line
            raise yaml.constructor.ConstructorError(
                None, None, f'invalid value: {exc}', node.start_mark) from None


class _Walk:
    """Index the lines of a composed node graph within bounds; find duplicate keys."""

    def __init__(self, source: str, out: LineIndex) -> None:
        self.source = source
        self.out = out
        self.nodes = 0
        self.issues: List[ConfigIssue] = []

    def node(self, node: Any, path: Tuple[Any, ...], depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ConfigError([ConfigIssue(
                self.source, node.start_mark.line + 1, '',
                f'document stands for more than {MAX_NODES} values once its aliases are '
                'expanded (alias bomb?)')])
        if depth > MAX_DEPTH:
            raise ConfigError([ConfigIssue(
                self.source, node.start_mark.line + 1, '',
                f'nested deeper than {MAX_DEPTH} levels once aliases are expanded '
                '(a recursive alias?)')])
        self.out.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: Dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = _key_of(key_node)
                line = key_node.start_mark.line + 1
                if key in seen and key != '<<':
                    self.issues.append(ConfigIssue(
                        self.source, line, format_loc(path + (key,)),
                        f'duplicate key {key!r} (first given on line {seen[key]})'))
                seen.setdefault(key, line)
                self.node(value_node, path + (key,), depth + 1)
                self.out[path + (key,)] = seen[key]
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.node(item, path + (i,), depth + 1)


def _key_of(node: Any) -> Any:
    """Return a hashable stand-in for a mapping key node (its text when it is a scalar)."""
    if isinstance(node, yaml.ScalarNode):
        return node.value
    return f'<{node.id} key on line {node.start_mark.line + 1}>'


def _line_index(node: Any, path: Tuple[Any, ...], out: LineIndex,
                source: str = '<document>') -> List[ConfigIssue]:
    """Record the 1-based line of every key path; return the duplicate-key issues found."""
    walk = _Walk(source, out)
    walk.node(node, path, 0)
    return walk.issues


def read_text(path: 'str | os.PathLike[str]', max_bytes: int = MAX_DOCUMENT_BYTES) -> str:
    """Read a YAML or JSON document's text (:func:`unity_kernel_core.common.files.read_text`)."""
    return files.read_text(path, max_bytes, what='a YAML or JSON file')


def json_depth_problem(text: 'str | bytes', max_depth: int = MAX_DEPTH) -> Optional[str]:
    """
    Return why JSON ``text`` is nested too deeply to parse safely, or None.

    Counts brackets outside strings without recursion, so a hostile ``[[[[...`` costs one
    pass over the text instead of a RecursionError inside ``json.loads``.
    """
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    depth = 0
    line = 1
    in_string = escaped = False
    for ch in text:
        if ch == '\n':
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif ch == '\\':
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in '[{':
            depth += 1
            if depth > max_depth:
                return f'nested deeper than {max_depth} levels (line {line})'
        elif ch in ']}':
            depth -= 1
    return None


class JsonError(ValueError):
    """Untrusted JSON refused: invalid, too large, too deep, or with a duplicate key."""

    def __init__(self, message: str, line: Optional[int] = None) -> None:
        super().__init__(message)
        self.line = line


def _no_constant(name: str) -> Any:
    raise JsonError(f'invalid JSON: {name} is not a JSON number')


def _line_of(problem: str) -> Optional[int]:
    digits = problem.rsplit('(line ', 1)[-1].rstrip(')')
    return int(digits) if digits.isdigit() else None


def _reject_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonError(f'duplicate key {key!r}')
        out[key] = value
    return out


def loads_json(text: 'str | bytes', max_bytes: int = MAX_DOCUMENT_BYTES,
               max_depth: int = MAX_DEPTH, duplicates: bool = False) -> Any:
    """
    Parse JSON from an untrusted source within size and depth limits.

    Raise JsonError (a ValueError) naming the problem: too large, too deep, a duplicate key,
    invalid JSON (with line and column), or a number out of range. ``duplicates`` lets a
    repeated key pass (the last one wins), for salvaging an id from a refused request.
    """
    if len(text) > max_bytes:
        raise JsonError(f'{len(text)} bytes: larger than the limit of {max_bytes} bytes')
    problem = json_depth_problem(text, max_depth)
    if problem is not None:
        raise JsonError(problem, _line_of(problem))
    try:
        data = json.loads(text, object_pairs_hook=None if duplicates else _reject_duplicates,
                          parse_constant=_no_constant)
        # a lone surrogate (\ud800) decodes, but no UTF-8 consumer (a ROS string, HTTP,
        # Redis) can take it later: refuse it here, where the input is named
        json.dumps(data, ensure_ascii=False).encode('utf-8')
        return data
    except UnicodeEncodeError:
        raise JsonError('invalid JSON: a string holds an unpaired surrogate (\\ud800-\\udfff)') \
            from None
    except JsonError:
        raise
    except json.JSONDecodeError as exc:
        raise JsonError(f'invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})',
                        exc.lineno) from None
    except RecursionError:  # depth is checked above; belt and braces
        raise JsonError(f'nested deeper than {max_depth} levels') from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer with 5000 digits
        raise JsonError(f'invalid JSON: {exc}') from None


def _compose(text: str, source: str, lines: LineIndex) -> Any:
    """Compose YAML text into a node graph within bounds, indexing lines; return the node."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            duplicates = _line_index(node, (), lines, source)
            if duplicates:
                raise ConfigError(duplicates)
        return loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def parse_document(text: str, source: str) -> Tuple[Dict[str, Any], LineIndex]:
    """
    Parse YAML (or JSON when ``source`` ends in .json) into a mapping plus its line index.

    An empty document is an empty mapping; anything but a mapping at the top is an error.
    Bounded: at most ``MAX_DOCUMENT_BYTES``, ``MAX_DEPTH`` levels and ``MAX_NODES`` values
    with aliases expanded; a key given twice in one mapping is an error naming both lines.
    """
    lines: LineIndex = {}
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ConfigError([ConfigIssue(source, None, '', f'larger than the limit of '
                                       f'{MAX_DOCUMENT_BYTES} bytes')])
    data: Any
    try:
        if source.endswith('.json'):
            problem = json_depth_problem(text)
            if problem is not None:
                raise JsonError(problem, _line_of(problem))
            try:  # line numbers and duplicate keys with both lines: JSON is (nearly) YAML
                _compose(text, source, lines)
            except (yaml.YAMLError, ValueError, OverflowError, TypeError):
                pass
            data = loads_json(text) if text.strip() else None
        else:
            data = _compose(text, source, lines)
    except JsonError as exc:
        raise ConfigError([ConfigIssue(source, exc.line, '', str(exc))]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        line = mark.line + 1 if mark is not None else None
        position = getattr(exc, 'position', None)  # a ReaderError: a character YAML refuses
        if line is None and isinstance(position, int):
            line = text.count('\n', 0, position) + 1
        problem = getattr(exc, 'problem', None) or getattr(exc, 'reason', None) or str(exc)
        problem = ' '.join(str(problem).split())
        raise ConfigError([ConfigIssue(source, line, '', f'invalid YAML: {problem}')]) from None
    except RecursionError:
        raise ConfigError([ConfigIssue(source, None, '',
                                       f'nested deeper than {MAX_DEPTH} levels')]) from None
    except (ValueError, OverflowError, TypeError) as exc:
        # a scalar YAML cannot build: a date like 2026-02-30, an int of 5000 digits
        raise ConfigError([ConfigIssue(source, None, '', f'invalid value: {exc}')]) from None
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
        elif 'input' in err and err.get('type') not in ('missing',) and \
                not _secret(loc):
            shown = repr(err['input'])
            if len(shown) <= 60 and not isinstance(err['input'], (dict, list)):
                message = f'{message} (got {shown})'
        other = where(loc)
        line = None if other else lookup_line(lines, loc, norm_key)
        issues.append(ConfigIssue(other or source, line, format_loc(loc), message))
    return issues


def _secret(loc: Tuple[Any, ...]) -> bool:
    """Tell whether a value at ``loc`` may hold a secret (never echoed in an error)."""
    last = str(loc[-1]).lower() if loc else ''
    return any(word in last for word in ('url', 'password', 'secret', 'key', 'token'))
