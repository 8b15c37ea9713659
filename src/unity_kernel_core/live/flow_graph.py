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
The event-flow graph the editor draws: topics, topic rules, tiers, handlers, the mirror.

Pure: built from plain data (a config as loaded from its file, with the kernel's defaults for
what it leaves out, so an edit that does not validate yet is still drawn), what the kernel
observes (topics with type, rate and subscribers; tier counters; modules; the bus's
handlers) and the problems found, each shown on the node it concerns.

Nodes (``id``: what):

- ``topic:<name>``: a topic on the ROS graph or the bus, with its types and events/s;
- ``rule:<i>``: the i-th topic rule (pattern, tier, mirror, retention);
- ``tier:<NAME>``: a priority tier with its counters and its subscriptions' QoS;
- ``module:<name>``: a module (in-process or node), enabled in the config or not;
- ``llm:<route>``: an LLM bridge route (its topic patterns and model chain);
- ``mirror``: the audit mirror.

Edges: topic → rule (the first matching rule of a topic the intake takes: not excluded),
rule → tier, rule → mirror (rules whose events are mirrored), tier → in-process module (the
bus hands it the tier's events on its topics), topic → node module (it subscribes over DDS)
and topic → LLM route (a route pattern matches the topic).
"""

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from unity_kernel_core.bus.events import Tier
from unity_kernel_core.bus.patterns import any_match, compile_pattern, first_match
from unity_kernel_core.config.kernel_config import KernelConfig
from unity_kernel_core.errors import PatternError

LLM_MODULE = 'llm_bridge'
"""The module serving the LLM routes (drawn as its routes, not as a subscriber)."""
HANDLER_PREFIX = 'module:'
"""Bus subscriptions of in-process modules are named ``module:<name>.<method>``."""

Node = Dict[str, Any]
Edge = Dict[str, Any]


def kernel_view(data: Mapping[str, Any]) -> Dict[str, Any]:
    """
    Return what the graph needs of a kernel config's data, the defaults filling the gaps.

    ``data`` is a config as written (a file's mapping, possibly invalid) or a validated
    config's JSON dump. Returns ``topics`` (rules as written), ``exclude``, ``tiers`` (name
    to settings with ``qos``), ``enabled`` (module names) and ``mirror`` (redis on/off).
    """
    defaults: Dict[str, Any] = KernelConfig().model_dump(mode='json')
    topics = data.get('topics')
    exclude = data.get('exclude')
    written_tiers: Mapping[Any, Any] = _mapping(data.get('tiers'))
    tiers: Dict[str, Dict[str, Any]] = {}
    for name, base in defaults['tiers'].items():
        given = next((v for k, v in written_tiers.items()
                      if isinstance(k, str) and k.upper() == name), None)
        merged = dict(base)
        if isinstance(given, Mapping):
            merged.update(given)
            if isinstance(given.get('qos'), Mapping):
                merged['qos'] = {**base['qos'], **given['qos']}
            elif 'qos' in given:
                merged['qos'] = base['qos']
        tiers[name] = merged
    modules = _mapping(data.get('modules'))
    enabled = _list(modules.get('enabled'))
    redis = _mapping(data.get('redis'))
    return {'topics': topics if isinstance(topics, list) else defaults['topics'],
            'exclude': exclude if isinstance(exclude, list) else defaults['exclude'],
            'tiers': tiers, 'enabled': [n for n in enabled if isinstance(n, str)],
            'mirror': redis.get('enabled', True) is not False}


def _mapping(value: Any) -> Mapping[Any, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> List[Any]:
    return value if isinstance(value, list) else []


def _valid(patterns: Sequence[Tuple[Any, Any]]) -> List[Tuple[str, Any]]:
    """Return the (pattern, value) pairs whose pattern compiles (the schema names the rest)."""
    out = []
    for pattern, value in patterns:
        try:
            compile_pattern(pattern)
        except PatternError:
            continue
        out.append((pattern, value))
    return out


def _tier_name(value: Any) -> Optional[str]:
    try:
        return Tier.parse(value).name if isinstance(value, (str, int)) and \
            not isinstance(value, bool) else None
    except ValueError:
        return None


def build_graph(kernel: Mapping[str, Any], *, topics: Mapping[str, Mapping[str, Any]],
                tiers: Sequence[Mapping[str, Any]] = (),
                modules: Sequence[Mapping[str, Any]] = (),
                handlers: Sequence[Tuple[str, str, Optional[Sequence[str]]]] = (),
                llm: Optional[Mapping[str, Any]] = None,
                mirror: Optional[Mapping[str, Any]] = None,
                issues: Optional[Mapping[str, Sequence[str]]] = None) -> Dict[str, Any]:
    """
    Return ``{'nodes': [...], 'edges': [...], 'issues': [...]}`` for the editor.

    ``kernel`` is :func:`kernel_view`'s result; ``topics`` maps a name to ``types``, ``rate``
    (events/s), ``subscribers`` (ROS node names) and ``source`` (``dds`` or ``bus``);
    ``tiers`` are the live state's tier rows; ``modules`` the supervisor's list;
    ``handlers`` the bus's module subscriptions as (name, pattern, tiers or None); ``llm``
    the bridge's config data (None: no bridge config); ``issues`` problems by node id.
    Problems on no node of the graph are returned in ``issues``, for the page's banner.
    """
    issues = issues or {}
    nodes: List[Node] = []
    edges: List[Edge] = []
    rules = kernel['topics']
    exclude = [p for p in kernel['exclude'] if isinstance(p, str)]
    exclude_valid = [p for p, _ in _valid([(p, None) for p in exclude])]
    indexed = _valid([(r.get('pattern'), i) for i, r in enumerate(rules)
                      if isinstance(r, Mapping) and isinstance(r.get('pattern'), str)])
    stats = {row.get('tier'): row for row in tiers}
    by_name = {str(m.get('name')): m for m in modules}

    def edge(source: str, target: str, kind: str) -> None:
        edges.append({'id': f'{source}->{target}', 'source': source, 'target': target,
                      'kind': kind})

    # topics, and which rule and tier each goes to
    topic_tier: Dict[str, str] = {}
    for name in sorted(topics):
        info = topics[name]
        excluded = any_match(exclude_valid, name)
        rule = first_match(indexed, name)
        tier = None
        if rule is not None:
            tier = _tier_name(rules[rule].get('tier'))
        if not excluded and rule is not None:
            edge(f'topic:{name}', f'rule:{rule}', 'rule')
            if tier is not None:
                topic_tier[name] = tier
        nodes.append({'id': f'topic:{name}', 'kind': 'topic', 'data': {
            'name': name, 'types': list(info.get('types') or []),
            'rate': info.get('rate', 0.0), 'source': info.get('source', 'dds'),
            'excluded': excluded, 'rule': None if excluded else rule,
            'tier': None if excluded else tier}})

    # rules -> tiers, mirror
    for index, rule in enumerate(rules):
        rule_data = dict(rule) if isinstance(rule, Mapping) else {'invalid': repr(rule)[:80]}
        tier = _tier_name(rule_data.get('tier'))
        if tier is not None:
            rule_data['tier'] = tier
        nodes.append({'id': f'rule:{index}', 'kind': 'rule',
                      'data': {'index': index, **_jsonable(rule_data)}})
        if tier is not None:
            edge(f'rule:{index}', f'tier:{tier}', 'tier')
        if kernel['mirror'] and rule_data.get('mirror', True) is not False:
            edge(f'rule:{index}', 'mirror', 'mirror')

    for each in Tier:
        settings = kernel['tiers'].get(each.name, {})
        row = stats.get(each.name, {})
        nodes.append({'id': f'tier:{each.name}', 'kind': 'tier', 'data': {
            'name': each.name, 'qos': _jsonable(settings.get('qos') or {}),
            'overflow': settings.get('overflow'), 'workers': settings.get('workers'),
            **{k: row.get(k) for k in ('events_per_s', 'drops_per_s', 'depth', 'capacity',
                                       'published', 'dropped')}}})

    # handlers: in-process modules on the bus, node modules over DDS, LLM routes
    for name in sorted(set(by_name) | set(kernel['enabled'])):
        known = by_name.get(name, {})
        nodes.append({'id': f'module:{name}', 'kind': 'module', 'data': {
            'name': name, 'kind': known.get('kind'), 'state': known.get('state'),
            'enabled': name in kernel['enabled'], 'known': name in by_name}})
    seen = set()
    for handler, pattern, handler_tiers in handlers:
        owner = handler[len(HANDLER_PREFIX):].split('.', 1)[0] \
            if handler.startswith(HANDLER_PREFIX) else ''
        if owner not in by_name or not _valid([(pattern, None)]):
            continue
        for topic, tier_name in topic_tier.items():
            if (handler_tiers is None or tier_name in handler_tiers) and \
                    any_match([pattern], topic) and (tier_name, owner) not in seen:
                seen.add((tier_name, owner))
                edge(f'tier:{tier_name}', f'module:{owner}', 'bus')
    for topic in sorted(topics):
        for subscriber in topics[topic].get('subscribers') or []:
            owner = str(subscriber).rstrip('/').rsplit('/', 1)[-1]
            if _mapping(by_name.get(owner)).get('kind') == 'node' and owner != LLM_MODULE:
                edge(f'topic:{topic}', f'module:{owner}', 'dds')
    if llm is not None:
        _llm_nodes(llm, topics, by_name.get(LLM_MODULE), nodes, edge)

    if mirror is not None:
        nodes.append({'id': 'mirror', 'kind': 'mirror', 'data': {
            'enabled': kernel['mirror'] and bool(mirror.get('enabled', True)),
            **{k: mirror.get(k) for k in ('connected', 'written', 'journaled',
                                          'journal_pending', 'queue_depth', 'url')}}})
    else:
        edges[:] = [e for e in edges if e['target'] != 'mirror']

    ids = {n['id'] for n in nodes}
    for node in nodes:
        node['data']['issues'] = list(issues.get(node['id'], []))
    stray = [text for node_id, found in sorted(issues.items()) if node_id not in ids
             for text in found]
    edges = [e for e in edges if e['source'] in ids and e['target'] in ids]
    return {'nodes': nodes, 'edges': edges, 'issues': stray}


def _llm_nodes(llm: Mapping[str, Any], topics: Mapping[str, Any],
               bridge: Optional[Mapping[str, Any]], nodes: List[Node], edge: Any) -> None:
    routes = _list(llm.get('routes'))
    models = _mapping(llm.get('models'))
    for route in routes:
        if not isinstance(route, Mapping) or not isinstance(route.get('name'), str):
            continue
        name = route['name']
        match = [p for p in _list(route.get('match')) if isinstance(p, str)]
        chain = [m for m in _list(route.get('models')) if isinstance(m, str)]
        nodes.append({'id': f'llm:{name}', 'kind': 'llm', 'data': {
            'name': name, 'match': match, 'models': chain,
            'known_models': sorted(str(m) for m in models),
            'output': route.get('output', 'text'),
            'bridge': None if bridge is None else bridge.get('state')}})
        valid = [p for p, _ in _valid([(p, None) for p in match])]
        for topic in sorted(topics):
            if valid and any_match(valid, topic):
                edge(f'topic:{topic}', f'llm:{name}', 'dds')


def _jsonable(value: Any) -> Any:
    """Return ``value`` with only JSON types (a round-trip YAML tree's own types unwrapped)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value if not isinstance(value, str) else str(value)
    return str(value)
