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
The flow editor's config edits: operations on the config files' text, keeping the rest.

Pure (text in, text out; no file is touched here). An edit is a list of operations
(:func:`parse_ops` checks a request's body and says what is wrong with it). They are applied
to the documents loaded with ``ruamel.yaml`` in round-trip mode, and the new text is spliced
into the original: only the lines an operation changed differ, so comments, blank lines,
quoting and layout stay as written (:func:`splice`). Whether the result is a valid config is
not decided here: the caller validates the new text with the same parser as
``check-config`` and shows each problem on the graph node it concerns (:func:`issue_node`).

Operations (``{"op": ..., ...}``):

- ``route_topic`` ``topic``, ``tier``: make ``topic`` go to ``tier``: the rule whose pattern
  is the topic itself gets the tier, else a rule ``{pattern: topic, tier}`` is inserted just
  before the rule that matches the topic now (so it wins), or appended when none does.
- ``set_rule`` ``index``, ``values``; ``add_rule`` ``index`` (optional), ``values``;
  ``remove_rule`` ``index``; ``move_rule`` ``index``, ``to``: the topic rules (``values``:
  ``pattern``, ``tier``, ``mirror``, ``retention_maxlen``, ``retention_max_age_s``; null
  removes a key).
- ``set_qos`` ``tier``, ``values``: keys of the tier's ``qos`` (null removes a key).
- ``set_module`` ``name``, ``enabled``: add to or remove from ``modules.enabled`` (and
  ``modules.optional``).
- ``set_llm_route`` ``name``, ``values`` (``match``, ``models``), made when absent;
  ``attach_llm``/``detach_llm`` ``route``, ``pattern``; ``remove_llm_route`` ``name``: the
  LLM bridge's routes, in the bridge's own config file.

A file without ``topics`` is given the kernel's default rules first, so indexes always mean
the rules the graph shows.
"""

import dataclasses
import difflib
import io
import json
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from unity_kernel_core.bus.events import Tier
from unity_kernel_core.bus.patterns import compile_pattern, first_match
from unity_kernel_core.config.kernel_config import KernelConfig, QosSettings, TopicRule
from unity_kernel_core.errors import ConfigEditError, PatternError

MAX_OPS = 100
"""Operations in one edit."""
MAX_TEXT = 512
"""Longest string in an operation (topic names, patterns, module and model names)."""
MAX_LIST = 64
"""Longest list in an operation's values (an LLM route's patterns or models)."""
MAX_INDEX = 10_000

KERNEL = 'kernel'
LLM = 'llm'

RULE_KEYS = tuple(TopicRule.model_fields)
QOS_KEYS = tuple(QosSettings.model_fields)
LLM_ROUTE_KEYS = ('match', 'models')
"""What the editor sets of an LLM route; the route's other keys are left as written."""

_OPS: Dict[str, Tuple[str, Dict[str, str]]] = {
    # op: (file, {field: kind}); kinds: text, index, bool, values:<keys>, tier
    'route_topic': (KERNEL, {'topic': 'text', 'tier': 'text'}),
    'set_rule': (KERNEL, {'index': 'index', 'values': 'rule'}),
    'add_rule': (KERNEL, {'index': 'index?', 'values': 'rule'}),
    'remove_rule': (KERNEL, {'index': 'index'}),
    'move_rule': (KERNEL, {'index': 'index', 'to': 'index'}),
    'set_qos': (KERNEL, {'tier': 'text', 'values': 'qos'}),
    'set_module': (KERNEL, {'name': 'text', 'enabled': 'bool'}),
    'set_llm_route': (LLM, {'name': 'text', 'values': 'llm'}),
    'attach_llm': (LLM, {'route': 'text', 'pattern': 'text'}),
    'detach_llm': (LLM, {'route': 'text', 'pattern': 'text'}),
    'remove_llm_route': (LLM, {'name': 'text'}),
}
_VALUE_KEYS = {'rule': RULE_KEYS, 'qos': QOS_KEYS, 'llm': LLM_ROUTE_KEYS}

Op = Dict[str, Any]


def parse_ops(body: Any) -> List[Op]:
    """
    Return the operations of a request body ``{"ops": [...]}``, checked field by field.

    Raise ConfigEditError saying what is wrong (an unknown operation or field, a wrong
    type, too many or too long). Whether the values make a valid config is the schema's
    question, asked of the edited file.
    """
    if not isinstance(body, dict):
        raise ConfigEditError('expected a JSON object {"ops": [...]}')
    unknown = sorted(set(body) - {'ops', 'base'})
    if unknown:
        raise ConfigEditError(f'unknown key(s) {", ".join(map(repr, unknown))}: expected '
                              '"ops" and optionally "base"')
    ops = body.get('ops')
    if not isinstance(ops, list):
        raise ConfigEditError('"ops" must be a list of operations')
    if len(ops) > MAX_OPS:
        raise ConfigEditError(f'too many operations ({len(ops)}; at most {MAX_OPS})')
    return [_parse_op(i, op) for i, op in enumerate(ops)]


def _parse_op(i: int, op: Any) -> Op:
    where = f'ops[{i}]'
    if not isinstance(op, dict) or not isinstance(op.get('op'), str):
        raise ConfigEditError(f'{where}: expected an object with "op"')
    kind = op['op']
    if kind not in _OPS:
        raise ConfigEditError(f'{where}: unknown op {kind[:40]!r} (one of '
                              f'{", ".join(sorted(_OPS))})')
    fields = _OPS[kind][1]
    extra = sorted(set(op) - set(fields) - {'op'})
    if extra:
        raise ConfigEditError(f'{where}: {kind} takes {", ".join(sorted(fields))}; not '
                              f'{", ".join(repr(e[:40]) for e in extra)}')
    out: Op = {'op': kind}
    for name, field_kind in fields.items():
        optional = field_kind.endswith('?')
        field_kind = field_kind.rstrip('?')
        if name not in op:
            if optional:
                continue
            raise ConfigEditError(f'{where}: {kind} needs "{name}"')
        out[name] = _check_field(f'{where}.{name}', field_kind, op[name])
    return out


def _check_field(where: str, kind: str, value: Any) -> Any:
    if kind == 'text':
        return _text(where, value)
    if kind == 'index':
        if isinstance(value, bool) or not isinstance(value, int) or not \
                0 <= value <= MAX_INDEX:
            raise ConfigEditError(f'{where}: expected an index 0..{MAX_INDEX}')
        return value
    if kind == 'bool':
        if not isinstance(value, bool):
            raise ConfigEditError(f'{where}: expected true or false')
        return value
    keys = _VALUE_KEYS[kind]
    if not isinstance(value, dict):
        raise ConfigEditError(f'{where}: expected an object with some of {", ".join(keys)}')
    out = {}
    for key, item in value.items():
        if key not in keys:
            raise ConfigEditError(f'{where}: unknown key {str(key)[:40]!r} (one of '
                                  f'{", ".join(keys)})')
        out[key] = _plain(f'{where}.{key}', item)
    return out


def _text(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise ConfigEditError(f'{where}: expected a non-empty string of at most {MAX_TEXT} '
                              'characters')
    return value


def _plain(where: str, value: Any) -> Any:
    """Return a JSON scalar, or a short list of strings; the schema checks the rest."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if value != value or value in (float('inf'), float('-inf')):
            raise ConfigEditError(f'{where}: expected a finite number')
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise ConfigEditError(f'{where}: longer than {MAX_TEXT} characters')
        return value
    if isinstance(value, list) and len(value) <= MAX_LIST:
        return [_text(f'{where}[{i}]', v) for i, v in enumerate(value)]
    raise ConfigEditError(f'{where}: expected a number, a string, true/false, null or a list '
                          f'of at most {MAX_LIST} strings')


def files_touched(ops: Sequence[Op]) -> List[str]:
    """Return which files (``kernel``, ``llm``) the operations change."""
    return sorted({_OPS[op['op']][0] for op in ops})


# -- documents ------------------------------------------------------------------------------

@dataclasses.dataclass
class Document:
    """One config file's text and its round-trip tree (a mapping at the top)."""

    text: str
    data: Any
    json: bool
    yaml: Optional[YAML] = None
    json_indent: 'int | str | None' = 2

    def dump(self) -> str:
        """Return the tree as text, in the file's own style."""
        if self.json:
            return json.dumps(self.data, indent=self.json_indent) + '\n'
        assert self.yaml is not None
        out = io.StringIO()
        self.yaml.dump(self.data, out)
        return out.getvalue()


def _yaml(mapping: int, sequence: int, offset: int) -> YAML:
    y = YAML(typ='rt')
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    y.representer.add_representer(type(None), lambda r, _d: r.represent_scalar(
        'tag:yaml.org,2002:null', 'null'))
    return y


_INDENTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (2, 4, 0))


def load(text: str, is_json: bool) -> Document:
    """
    Load a config file's text for editing (JSON as JSON, else YAML in round-trip mode).

    The indentation is the one of ``_INDENTS`` whose dump of the unchanged tree is closest
    to the text. Raise ConfigEditError when the text does not load or is not a mapping
    (the caller parses it with the kernel's bounded reader first).
    """
    if not text.strip():
        if is_json:
            return Document(text, {}, True)
        return Document(text, CommentedMap(), False, _yaml(2, 4, 2))
    try:
        if is_json:
            data = json.loads(text)
            doc = min((Document(text, data, True, None, indent)
                       for indent in (2, 4, '\t', None)),
                      key=lambda d: _distance(text, d.dump()))
        else:
            best: Optional[Tuple[int, YAML, Any]] = None
            for indent in _INDENTS:
                y = _yaml(*indent)
                data = y.load(text)
                doc = Document(text, data, False, y)
                if not isinstance(data, dict):
                    break
                distance = _distance(text, doc.dump())
                if best is None or distance < best[0]:
                    best = (distance, y, data)
                if distance == 0:
                    break
            if best is not None:
                doc = Document(text, best[2], False, best[1])
    except (YAMLError, ValueError) as exc:
        raise ConfigEditError(f'the file does not load for editing: {exc}') from None
    if not isinstance(doc.data, dict):
        raise ConfigEditError('the file is not a mapping at the top level')
    return doc


def _distance(a: str, b: str) -> int:
    """Return how many lines differ between two texts."""
    matcher = difflib.SequenceMatcher(None, a.splitlines(), b.splitlines(), autojunk=False)
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes()
               if tag != 'equal')


def splice(original: str, base: str, edited: str) -> str:
    """
    Return ``original`` with the changes from ``base`` to ``edited`` (a three-way merge).

    ``base`` is the library's dump of the unchanged tree, ``edited`` its dump after the
    operations; ``original`` differs from ``base`` only in layout the library does not keep.
    Where an operation's change and such a layout difference touch the same lines, the
    edited lines win.
    """
    base_l = base.splitlines(keepends=True)
    ours = _changes(base_l, original.splitlines(keepends=True))
    theirs = _changes(base_l, edited.splitlines(keepends=True))
    out: List[str] = []
    pos = 0
    a = b = 0
    while a < len(ours) or b < len(theirs):
        starts = [c[0] for c in (ours[a:a + 1] + theirs[b:b + 1])]
        start = min(starts)
        end = start
        group_a: List[Tuple[int, int, List[str]]] = []
        group_b: List[Tuple[int, int, List[str]]] = []
        grew = True
        while grew:
            grew = False
            if a < len(ours) and ours[a][0] <= end:
                end = max(end, ours[a][1])
                group_a.append(ours[a])
                a += 1
                grew = True
            if b < len(theirs) and theirs[b][0] <= end:
                end = max(end, theirs[b][1])
                group_b.append(theirs[b])
                b += 1
                grew = True
        out.extend(base_l[pos:start])
        out.extend(_patched(base_l, start, end, group_b if group_b else group_a))
        pos = end
    out.extend(base_l[pos:])
    return ''.join(out)


def _changes(base: List[str], other: List[str]) -> List[Tuple[int, int, List[str]]]:
    matcher = difflib.SequenceMatcher(None, base, other, autojunk=False)
    return [(i1, i2, other[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes()
            if tag != 'equal']


def _patched(base: List[str], start: int, end: int,
             changes: List[Tuple[int, int, List[str]]]) -> List[str]:
    out: List[str] = []
    pos = start
    for i1, i2, lines in changes:
        out.extend(base[pos:i1])
        out.extend(lines)
        pos = i2
    out.extend(base[pos:end])
    return out


def render(doc: Document, same: Callable[[str, str], bool]) -> str:
    """
    Return the edited document's text: spliced into the original when that means the same.

    ``same(a, b)`` tells whether two texts load to the same data; when the splice would
    not (it never should), the library's whole dump is used instead.
    """
    edited = doc.dump()
    if doc.json:
        base = Document(doc.text, json.loads(doc.text), True, None, doc.json_indent).dump() \
            if doc.text.strip() else ''
    else:
        assert doc.yaml is not None
        base = Document(doc.text, doc.yaml.load(doc.text) if doc.text.strip()
                        else CommentedMap(), False, doc.yaml).dump()
    merged = splice(doc.text, base, edited)
    return merged if same(merged, edited) else edited


# -- operations -----------------------------------------------------------------------------

def apply_ops(docs: Mapping[str, Document], ops: Sequence[Op]) -> List[str]:
    """
    Apply ``ops`` to the documents (``kernel``, ``llm``) in place; return notes for the user.

    Raise ConfigEditError when an operation cannot be applied (an index out of range, an
    LLM route that does not exist, an LLM edit without the bridge's file).
    """
    notes: List[str] = []
    for i, op in enumerate(ops):
        target = _OPS[op['op']][0]
        doc = docs.get(target)
        if doc is None:
            raise ConfigEditError(f'ops[{i}]: {op["op"]}: the LLM bridge\'s config file is '
                                  'not known (the llm_bridge module is not found)')
        try:
            note = _APPLY[op['op']](doc, op)
        except ConfigEditError as exc:
            raise ConfigEditError(f'ops[{i}]: {op["op"]}: {exc}') from None
        if note:
            notes.append(note)
    return notes


def _new_map(doc: Document, items: Sequence[Tuple[str, Any]], flow: bool) -> Any:
    if doc.json:
        return dict(items)
    out = CommentedMap(items)
    if flow:
        out.fa.set_flow_style()
    return out


def _new_seq(doc: Document, items: Sequence[Any]) -> Any:
    if doc.json:
        return list(items)
    out = CommentedSeq(items)
    out.fa.set_flow_style()
    return out


def _section(doc: Document, key: str, flow: bool = False) -> Any:
    data = doc.data
    if not isinstance(data.get(key), dict):
        if data.get(key) is not None:
            raise ConfigEditError(f'{key} is not a mapping in the file')
        data[key] = _new_map(doc, [], flow)
    return data[key]


def _rules(doc: Document) -> Any:
    """Return the file's topic rules, writing the kernel's defaults first when absent."""
    data = doc.data
    if data.get('topics') is None:
        defaults = []
        for rule in KernelConfig().topics:
            items = [(k, v) for k, v in rule.model_dump(mode='json').items()
                     if k in ('pattern', 'tier') or v != TopicRule.model_fields[k].default]
            defaults.append(_new_map(doc, items, flow=True))
        seq = _new_seq(doc, defaults)
        if not doc.json:
            seq.fa.set_block_style()
        data['topics'] = seq
    rules = data['topics']
    if not isinstance(rules, list):
        raise ConfigEditError('topics is not a list in the file')
    return rules


def _rule_at(rules: Any, index: int) -> Any:
    if index >= len(rules):
        raise ConfigEditError(f'no topic rule {index} (there are {len(rules)})')
    rule = rules[index]
    if not isinstance(rule, dict):
        raise ConfigEditError(f'topics[{index}] is not a mapping in the file')
    return rule


def _set_values(target: Any, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def _route_topic(doc: Document, op: Op) -> Optional[str]:
    rules = _rules(doc)
    topic, tier = op['topic'], op['tier']
    indexed = []
    for index, rule in enumerate(rules):
        pattern = rule.get('pattern') if isinstance(rule, dict) else None
        if isinstance(pattern, str):
            indexed.append((pattern, index))
    try:
        found = first_match(_valid_patterns(indexed), topic)
    except PatternError:
        found = None
    if found is not None and rules[found].get('pattern') == topic:
        rules[found]['tier'] = tier
        return f'rule {found} ({topic}) now goes to {tier}'
    at = len(rules) if found is None else found
    rules.insert(at, _new_map(doc, [('pattern', topic), ('tier', tier)], flow=True))
    return f'new rule {at}: {topic} -> {tier}'


def _valid_patterns(indexed: Sequence[Tuple[str, int]]) -> List[Tuple[str, int]]:
    out = []
    for pattern, index in indexed:
        try:
            compile_pattern(pattern)
        except PatternError:
            continue
        out.append((pattern, index))
    return out


def _set_rule(doc: Document, op: Op) -> None:
    _set_values(_rule_at(_rules(doc), op['index']), op['values'])


def _add_rule(doc: Document, op: Op) -> None:
    rules = _rules(doc)
    index = min(op.get('index', len(rules)), len(rules))
    values = op['values']
    items = [(k, values[k]) for k in RULE_KEYS if values.get(k) is not None]
    rules.insert(index, _new_map(doc, items, flow=True))


def _remove_rule(doc: Document, op: Op) -> None:
    rules = _rules(doc)
    _rule_at(rules, op['index'])
    del rules[op['index']]


def _move_rule(doc: Document, op: Op) -> None:
    rules = _rules(doc)
    rule = _rule_at(rules, op['index'])
    if op['to'] >= len(rules):
        raise ConfigEditError(f'cannot move to {op["to"]} (there are {len(rules)} rules)')
    del rules[op['index']]
    rules.insert(op['to'], rule)


def _tier_key(tiers: Mapping[Any, Any], tier: str) -> str:
    """Return the key naming ``tier`` in the file's ``tiers`` (any case), or its name."""
    for key in tiers:
        if isinstance(key, str) and key.upper() == tier.upper():
            return key
    try:
        return Tier.parse(tier).name
    except ValueError as exc:
        raise ConfigEditError(str(exc)) from None


def _set_qos(doc: Document, op: Op) -> None:
    tiers = _section(doc, 'tiers')
    key = _tier_key(tiers, op['tier'])
    if not isinstance(tiers.get(key), dict):
        tiers[key] = _new_map(doc, [], flow=False)
    settings = tiers[key]
    if not isinstance(settings.get('qos'), dict):
        settings['qos'] = _new_map(doc, [], flow=True)
    _set_values(settings['qos'], op['values'])


def _set_module(doc: Document, op: Op) -> None:
    modules = _section(doc, 'modules')
    name, enabled = op['name'], op['enabled']
    for key in ('enabled', 'optional'):
        if modules.get(key) is None:
            if key == 'optional' or not enabled:
                continue
            modules[key] = _new_seq(doc, [])
        names = modules[key]
        if not isinstance(names, list):
            raise ConfigEditError(f'modules.{key} is not a list in the file')
        if enabled and key == 'enabled' and name not in names:
            names.append(name)
        elif not enabled:
            while name in names:
                names.remove(name)


def _llm_routes(doc: Document) -> Any:
    data = doc.data
    if data.get('routes') is None:
        data['routes'] = [] if doc.json else CommentedSeq()
    routes = data['routes']
    if not isinstance(routes, list):
        raise ConfigEditError("routes is not a list in the LLM bridge's file")
    return routes


def _llm_route(doc: Document, name: str) -> Any:
    for route in _llm_routes(doc):
        if isinstance(route, dict) and route.get('name') == name:
            return route
    raise ConfigEditError(f'no LLM route {name!r}')


def _set_llm_route(doc: Document, op: Op) -> None:
    routes = _llm_routes(doc)
    values = op['values']
    try:
        route = _llm_route(doc, op['name'])
    except ConfigEditError:
        items = [('name', op['name'])] + [(k, _new_seq(doc, values.get(k) or []))
                                          for k in LLM_ROUTE_KEYS]
        routes.append(_new_map(doc, items, flow=False))
        return
    _set_values(route, {k: (_new_seq(doc, v) if isinstance(v, list) else v)
                        for k, v in values.items()})


def _attach_llm(doc: Document, op: Op) -> None:
    route = _llm_route(doc, op['route'])
    match = route.get('match')
    if not isinstance(match, list):
        route['match'] = match = _new_seq(doc, [])
    if op['pattern'] not in match:
        match.append(op['pattern'])


def _detach_llm(doc: Document, op: Op) -> None:
    route = _llm_route(doc, op['route'])
    match = route.get('match')
    if isinstance(match, list):
        while op['pattern'] in match:
            match.remove(op['pattern'])


def _remove_llm_route(doc: Document, op: Op) -> None:
    routes = _llm_routes(doc)
    route = _llm_route(doc, op['name'])
    routes.remove(route)


_APPLY: Dict[str, Callable[[Document, Op], Optional[str]]] = {
    'route_topic': _route_topic, 'set_rule': _set_rule, 'add_rule': _add_rule,
    'remove_rule': _remove_rule, 'move_rule': _move_rule, 'set_qos': _set_qos,
    'set_module': _set_module, 'set_llm_route': _set_llm_route, 'attach_llm': _attach_llm,
    'detach_llm': _detach_llm, 'remove_llm_route': _remove_llm_route,
}


# -- problems on nodes ----------------------------------------------------------------------

_INDEXED = re.compile(r'^(?P<key>[A-Za-z_]+)\[(?P<index>\d+)\]')


def issue_node(file: str, path: str, data: Mapping[str, Any]) -> str:
    """
    Return the id of the graph node a problem at key ``path`` of ``file`` concerns.

    ``topics[2]...`` is ``rule:2``; ``tiers.HIGH...`` is ``tier:HIGH``;
    ``modules.enabled[1]`` and ``modules.overrides.<name>`` the module's node; the LLM
    bridge's ``routes[0]...`` the route's node; anything else the file's own node
    (``config:kernel`` or ``config:llm``).
    """
    fallback = f'config:{file}'
    if file == LLM:
        found = _INDEXED.match(path)
        if found and found.group('key') == 'routes':
            route = _item(data.get('routes'), int(found.group('index')))
            name = route.get('name') if isinstance(route, dict) else None
            return f'llm:{name}' if isinstance(name, str) else fallback
        return fallback
    found = _INDEXED.match(path)
    if found and found.group('key') == 'topics':
        return f'rule:{found.group("index")}'
    parts = path.split('.')
    if parts[0] == 'tiers' and len(parts) > 1:
        try:
            return f'tier:{Tier.parse(parts[1].split("[")[0]).name}'
        except ValueError:
            return fallback
    if parts[0] == 'modules' and len(parts) > 1:
        listed = _INDEXED.match(parts[1])
        modules = data['modules'] if isinstance(data.get('modules'), dict) else {}
        if listed and listed.group('key') in ('enabled', 'optional'):
            name = _item(modules.get(listed.group('key')), int(listed.group('index')))
            return f'module:{name}' if isinstance(name, str) else fallback
        if parts[1] == 'overrides' and len(parts) > 2:
            return f'module:{parts[2]}'
    return fallback


def _item(values: Any, index: int) -> Any:
    return values[index] if isinstance(values, list) and index < len(values) else None
