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
Module dependency order: a topological sort in levels, with cycles and gaps named.

Pure Python. ``levels`` returns groups of modules: every module's dependencies are in an
earlier group, and the modules of one group are independent of each other, so they may be
brought up concurrently. Shutdown runs the groups in reverse. ``partition`` does the same for
the modules that can start and names, per module, why each of the others cannot.
"""

from typing import Dict, Iterable, List, Mapping, Sequence, Set, Tuple

from unity_kernel_core.errors import ModuleGraphError


def _find_cycle(graph: Mapping[str, Sequence[str]], nodes: Iterable[str]) -> List[str]:
    """Return one dependency cycle among ``nodes`` as [a, b, ..., a]."""
    remaining = set(nodes)
    for start in sorted(remaining):
        path: List[str] = []
        index: Dict[str, int] = {}
        node = start
        while node not in index:
            index[node] = len(path)
            path.append(node)
            node = next(d for d in sorted(graph[node]) if d in remaining)
        return path[index[node]:] + [node]
    return []


def _missing_message(name: str, missing: Sequence[str]) -> str:
    return (f'module {name!r} depends on {", ".join(map(repr, missing))}, which '
            f'{"is" if len(missing) == 1 else "are"} not available')


def partition(graph: Mapping[str, Sequence[str]]
              ) -> Tuple[List[List[str]], Dict[str, Tuple[str, str]]]:
    """
    Split modules into those that can start (in ``levels``) and those that cannot.

    Return ``(levels, problems)``: ``problems`` maps each module that cannot start to
    ``(kind, message)``, kind ``missing`` (a dependency that is not available, or that cannot
    start itself) or ``cycle`` (it is in a dependency cycle, or depends on one).
    """
    out, problems, _cycles = _partition(graph)
    return out, problems


def _partition(graph: Mapping[str, Sequence[str]]
               ) -> Tuple[List[List[str]], Dict[str, Tuple[str, str]], List[List[str]]]:
    """Return ``partition``'s answer and the cycles found, each as [a, b, ..., a]."""
    cycles: List[List[str]] = []
    problems: Dict[str, Tuple[str, str]] = {}
    for name in sorted(graph):
        missing = sorted(set(graph[name]) - set(graph))
        if missing:
            problems[name] = ('missing', _missing_message(name, missing))

    def spread() -> None:
        changed = True
        while changed:
            changed = False
            for name in sorted(graph):
                if name in problems:
                    continue
                bad = sorted(d for d in graph[name] if d in problems)
                if bad:
                    kind = problems[bad[0]][0]
                    problems[name] = (kind, f'module {name!r} depends on {bad[0]!r}, which '
                                            f'cannot start ({problems[bad[0]][1]})')
                    changed = True
    spread()
    pending: Dict[str, Set[str]] = {n: set(d) for n, d in graph.items() if n not in problems}
    done: Set[str] = set()
    out: List[List[str]] = []
    while pending:
        ready = sorted(n for n, deps in pending.items() if deps <= done)
        if not ready:
            cycle = _find_cycle(graph, pending)
            cycles.append(cycle)
            text = 'dependency cycle: ' + ' -> '.join(cycle)
            for name in cycle[:-1]:
                problems[name] = ('cycle', text)
            spread()
            pending = {n: d for n, d in pending.items() if n not in problems}
            continue
        out.append(ready)
        done.update(ready)
        for n in ready:
            del pending[n]
    return out, problems, cycles


def levels(graph: Mapping[str, Sequence[str]]) -> List[List[str]]:
    """
    Order modules so that dependencies come first; return them in independent groups.

    ``graph`` maps each module to the modules it depends on. Raises ModuleGraphError naming
    the missing module and who needs it, or the modules of a cycle (``a -> b -> a``).
    Within a group, names are sorted, so the order is deterministic.
    """
    for name in sorted(graph):
        missing = sorted(set(graph[name]) - set(graph))
        if missing:
            raise ModuleGraphError(_missing_message(name, missing), [name, *missing])
    out, _problems, cycles = _partition(graph)
    if cycles:
        raise ModuleGraphError('dependency cycle: ' + ' -> '.join(cycles[0]), cycles[0][:-1])
    return out


def order(graph: Mapping[str, Sequence[str]]) -> List[str]:
    """Flatten ``levels`` into one start sequence, dependencies first."""
    return [n for group in levels(graph) for n in group]


def dependents(graph: Mapping[str, Sequence[str]], name: str) -> List[str]:
    """Return every module that depends on ``name``, directly or not, in start order."""
    result: Set[str] = set()
    frontier = [name]
    while frontier:
        current = frontier.pop()
        for other, deps in graph.items():
            if current in deps and other not in result:
                result.add(other)
                frontier.append(other)
    try:
        flat = order(graph)
    except ModuleGraphError:
        flat = sorted(graph)
    return [n for n in flat if n in result]
