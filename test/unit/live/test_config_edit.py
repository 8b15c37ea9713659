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

"""The flow editor's config edit model: operations on the text, keeping everything else."""

import difflib
import json
import pathlib

import pytest
import yaml

from unity_kernel_core.config.kernel_config import parse_config
from unity_kernel_core.errors import ConfigEditError, ConfigError
from unity_kernel_core.live import config_edit as ce

ROOT = pathlib.Path(__file__).resolve().parents[3]
SHIPPED = (ROOT / 'config' / 'kernel.yaml').read_text()
LLM = (ROOT / 'config' / 'llm_bridge.yaml').read_text()


def _same(a, b):
    return yaml.safe_load(a) == yaml.safe_load(b)


def _edit(text, ops, role='kernel', is_json=False):
    doc = ce.load(text, is_json)
    notes = ce.apply_ops({role: doc}, ce.parse_ops({'ops': ops}))
    return ce.render(doc, _same), notes


def _changed_lines(old, new):
    return [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(),
                                                  lineterm='', n=0)
            if line[:1] in '+-' and not line.startswith(('+++', '---'))]


def test_an_edit_changes_only_its_lines_and_keeps_comments_and_layout():
    new, notes = _edit(SHIPPED, [{'op': 'set_qos', 'tier': 'HIGH', 'values': {'depth': 20}}])
    assert _changed_lines(SHIPPED, new) == [
        '-    qos: {reliability: best_effort, history: keep_last, depth: 10}   # sensor_data '
        'style',
        '+    qos: {reliability: best_effort, history: keep_last, depth: 20}   # sensor_data '
        'style']
    assert notes == []


def test_routing_a_topic_inserts_a_rule_before_the_one_that_matches_it_now():
    new, notes = _edit(SHIPPED, [{'op': 'route_topic', 'topic': '/robot/bumper',
                                  'tier': 'CRITICAL'}])
    config = parse_config(new)
    assert [r.pattern for r in config.topics] == [
        '/safety/**', '/sensors/**', '/robot/bumper', '/**']
    assert config.tier_for('/robot/bumper').name == 'CRITICAL'
    assert _changed_lines(SHIPPED, new) == ['+  - {pattern: /robot/bumper, tier: CRITICAL}']
    assert notes == ['new rule 2: /robot/bumper -> CRITICAL']
    # routing it again changes that rule instead of adding one
    again, notes = _edit(new, [{'op': 'route_topic', 'topic': '/robot/bumper',
                                'tier': 'LOW'}])
    assert _changed_lines(new, again) == ['-  - {pattern: /robot/bumper, tier: CRITICAL}',
                                          '+  - {pattern: /robot/bumper, tier: LOW}']
    assert notes == ['rule 2 (/robot/bumper) now goes to LOW']


def test_a_file_without_rules_gets_the_defaults_first_so_indexes_mean_what_is_drawn():
    new, _ = _edit('kernel: {node_name: k}\n',
                   [{'op': 'set_rule', 'index': 1, 'values': {'mirror': False}}])
    config = parse_config(new)
    assert [(r.pattern, r.tier.name, r.mirror) for r in config.topics] == [
        ('/safety/**', 'CRITICAL', True), ('/sensors/**', 'HIGH', False),
        ('/**', 'NORMAL', True)]
    assert config.topics[1].retention_maxlen == 300


def test_rules_are_added_removed_moved_and_keys_removed_with_null():
    text = 'topics:\n  - {pattern: /a, tier: LOW, mirror: false}\n  - {pattern: /b, tier: HIGH}\n'
    new, _ = _edit(text, [
        {'op': 'add_rule', 'index': 0, 'values': {'pattern': '/c', 'tier': 'DEFERRED'}},
        {'op': 'move_rule', 'index': 2, 'to': 0},
        {'op': 'set_rule', 'index': 2, 'values': {'mirror': None}},
        {'op': 'remove_rule', 'index': 1}])
    assert yaml.safe_load(new)['topics'] == [{'pattern': '/b', 'tier': 'HIGH'},
                                             {'pattern': '/a', 'tier': 'LOW'}]


def test_modules_are_enabled_and_disabled_in_the_list():
    new, _ = _edit(SHIPPED, [{'op': 'set_module', 'name': 'llm_bridge', 'enabled': True},
                             {'op': 'set_module', 'name': 'monitor', 'enabled': False}])
    assert _changed_lines(SHIPPED, new) == ['-  enabled: [heartbeat, monitor, camera]',
                                            '+  enabled: [heartbeat, camera, llm_bridge]']
    new, _ = _edit('modules: {enabled: [a], optional: [a]}\n',
                   [{'op': 'set_module', 'name': 'a', 'enabled': False}])
    assert yaml.safe_load(new) == {'modules': {'enabled': [], 'optional': []}}


def test_qos_of_a_tier_the_file_does_not_name_is_added():
    new, _ = _edit('tiers:\n  high: {workers: 3}\n', [
        {'op': 'set_qos', 'tier': 'HIGH', 'values': {'depth': 5}},
        {'op': 'set_qos', 'tier': 'LOW', 'values': {'reliability': 'best_effort'}}])
    assert yaml.safe_load(new) == {'tiers': {'high': {'workers': 3, 'qos': {'depth': 5}},
                                             'LOW': {'qos': {'reliability': 'best_effort'}}}}
    config = parse_config(new)
    assert config.tiers[config.tier_for('/sensors/x')].qos.depth == 5


def test_llm_routes_are_attached_detached_made_and_removed_in_the_bridge_file():
    new, _ = _edit(LLM, [{'op': 'attach_llm', 'route': 'chat', 'pattern': '/robot/voice'},
                         {'op': 'set_llm_route', 'name': 'commands',
                          'values': {'models': ['ollama']}}], role='llm')
    assert _changed_lines(LLM, new) == [
        '-    match: [/llm/chat/**]', '+    match: [/llm/chat/**, /robot/voice]',
        '-    models: [local, ollama]', '+    models: [ollama]']
    made, _ = _edit(new, [{'op': 'set_llm_route', 'name': 'bumps',
                           'values': {'match': ['/robot/bumper'], 'models': ['local']}},
                          {'op': 'detach_llm', 'route': 'chat', 'pattern': '/robot/voice'},
                          {'op': 'remove_llm_route', 'name': 'commands'}], role='llm')
    routes = yaml.safe_load(made)['routes']
    assert [(r['name'], r['match'], r['models']) for r in routes] == [
        ('chat', ['/llm/chat/**'], ['local', 'ollama']),
        ('bumps', ['/robot/bumper'], ['local'])]
    with pytest.raises(ConfigEditError, match="no LLM route 'nope'"):
        _edit(LLM, [{'op': 'attach_llm', 'route': 'nope', 'pattern': '/x'}], role='llm')


def test_json_files_stay_json():
    text = json.dumps({'topics': [{'pattern': '/a', 'tier': 'LOW'}]}, indent=4) + '\n'
    new, _ = _edit(text, [{'op': 'set_rule', 'index': 0, 'values': {'tier': 'HIGH'}}],
                   is_json=True)
    assert json.loads(new) == {'topics': [{'pattern': '/a', 'tier': 'HIGH'}]}
    assert _changed_lines(text, new) == ['-            "tier": "LOW"',
                                         '+            "tier": "HIGH"']


def test_an_invalid_value_is_written_and_left_to_the_schema_to_name():
    new, _ = _edit(SHIPPED, [{'op': 'set_qos', 'tier': 'HIGH', 'values': {'depth': 0}}])
    with pytest.raises(ConfigError) as caught:
        parse_config(new, 'kernel.yaml')
    issue = caught.value.issues[0]
    assert issue.path == 'tiers.HIGH.qos.depth'
    assert ce.issue_node('kernel', issue.path, yaml.safe_load(new)) == 'tier:HIGH'


@pytest.mark.parametrize('body, message', [
    ([], 'expected a JSON object'),
    ({'ops': 'x'}, '"ops" must be a list'),
    ({'ops': [], 'extra': 1}, "unknown key(s) 'extra'"),
    ({'ops': [{'op': 'explode'}]}, "unknown op 'explode'"),
    ({'ops': [{'op': 'remove_rule'}]}, 'remove_rule needs "index"'),
    ({'ops': [{'op': 'remove_rule', 'index': -1}]}, 'expected an index'),
    ({'ops': [{'op': 'remove_rule', 'index': True}]}, 'expected an index'),
    ({'ops': [{'op': 'remove_rule', 'index': 0, 'x': 1}]}, "not 'x'"),
    ({'ops': [{'op': 'set_qos', 'tier': 'HIGH', 'values': {'speed': 1}}]}, "unknown key 'speed'"),
    ({'ops': [{'op': 'set_rule', 'index': 0, 'values': {'pattern': {'a': 1}}}]},
     'expected a number, a string'),
    ({'ops': [{'op': 'set_rule', 'index': 0, 'values': {'pattern': float('nan')}}]},
     'finite number'),
    ({'ops': [{'op': 'route_topic', 'topic': 'x' * 600, 'tier': 'LOW'}]}, 'at most 512'),
    ({'ops': [{'op': 'set_module', 'name': 'a', 'enabled': 'yes'}]}, 'expected true or false'),
    ({'ops': [{'op': 'remove_rule', 'index': 0}] * 101}, 'too many operations'),
])
def test_bad_requests_are_refused_saying_what_is_wrong(body, message):
    with pytest.raises(ConfigEditError) as caught:
        ce.parse_ops(body)
    assert message in str(caught.value)


def test_operations_that_do_not_fit_the_file_are_refused():
    with pytest.raises(ConfigEditError, match='no topic rule 9'):
        _edit(SHIPPED, [{'op': 'remove_rule', 'index': 9}])
    with pytest.raises(ConfigEditError, match='not a mapping at the top'):
        ce.load('- a\n- b\n', False)
    doc = ce.load(SHIPPED, False)
    with pytest.raises(ConfigEditError, match="LLM bridge's config file is not known"):
        ce.apply_ops({'kernel': doc}, ce.parse_ops(
            {'ops': [{'op': 'attach_llm', 'route': 'a', 'pattern': '/b'}]}))


def test_problems_map_to_the_nodes_they_concern():
    data = {'modules': {'enabled': ['camera', 'llm_bridge']}}
    llm = {'routes': [{'name': 'chat'}]}
    assert ce.issue_node('kernel', 'topics[3].pattern', data) == 'rule:3'
    assert ce.issue_node('kernel', 'tiers.critical.qos', data) == 'tier:CRITICAL'
    assert ce.issue_node('kernel', 'modules.enabled[1]', data) == 'module:llm_bridge'
    assert ce.issue_node('kernel', 'modules.overrides.camera', data) == 'module:camera'
    assert ce.issue_node('kernel', 'redis.url', data) == 'config:kernel'
    assert ce.issue_node('llm', 'routes[0].models[1]', llm) == 'llm:chat'
    assert ce.issue_node('llm', 'routes[5]', llm) == 'config:llm'
    assert ce.issue_node('llm', 'models.local', llm) == 'config:llm'


def test_splice_keeps_what_the_library_would_change_and_takes_the_edits():
    original = 'a: null   # keep\nb: 1\nc: 2\n'
    base = 'a:        # keep\nb: 1\nc: 2\n'
    edited = 'a:        # keep\nb: 1\nc: 3\nd: 4\n'
    assert ce.splice(original, base, edited) == 'a: null   # keep\nb: 1\nc: 3\nd: 4\n'
    # an edit on a line the library rewrote: the edit wins there
    assert ce.splice(original, base, 'a: 5\nb: 1\nc: 2\n') == 'a: 5\nb: 1\nc: 2\n'
