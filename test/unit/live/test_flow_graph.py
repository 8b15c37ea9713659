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

"""The event-flow graph: topics -> rules -> tiers -> handlers, from plain data."""

import json

from unity_kernel_core.config.kernel_config import KernelConfig
from unity_kernel_core.live.flow_graph import build_graph, kernel_view

TOPICS = {
    '/safety/estop': {'types': ['std_msgs/msg/Bool'], 'rate': 2.0, 'subscribers': []},
    '/sensors/camera/image_raw': {'types': ['sensor_msgs/msg/Image'], 'rate': 10.0,
                                  'subscribers': ['/viewer']},
    '/speech/command': {'types': ['std_msgs/msg/String'], 'subscribers': ['/llm_bridge']},
    '/examples/heartbeat': {'types': [], 'source': 'bus'},
    '/rosout': {'types': ['rcl_interfaces/msg/Log'], 'subscribers': []},
    '/cmd': {'types': ['std_msgs/msg/String'], 'subscribers': ['/robot/driver']},
}
MODULES = [{'name': 'monitor', 'kind': 'inprocess', 'state': 'active'},
           {'name': 'driver', 'kind': 'node', 'state': 'active'},
           {'name': 'llm_bridge', 'kind': 'node', 'state': 'inactive'}]
LLM = {'models': {'local': {}, 'backup': {}},
       'routes': [{'name': 'commands', 'match': ['/speech/**'], 'models': ['local', 'backup']},
                  {'name': 'broken', 'match': ['bad pattern'], 'models': []}, 'junk']}


def _graph(data=None, **kw):
    kernel = kernel_view(data if data is not None else
                         KernelConfig().model_dump(mode='json'))
    args = {'topics': TOPICS, 'modules': MODULES,
            'handlers': [('module:monitor.on_beat', '/examples/**', None),
                         ('live_view', '/**', None)],
            'llm': LLM, 'mirror': {'enabled': True, 'connected': True}}
    args.update(kw)
    return build_graph(kernel, **args)


def _edges(graph):
    return {(e['source'], e['target'], e['kind']) for e in graph['edges']}


def _node(graph, node_id):
    return next(n for n in graph['nodes'] if n['id'] == node_id)


def test_topics_flow_through_their_first_rule_to_its_tier_and_the_mirror():
    graph = _graph()
    edges = _edges(graph)
    assert ('topic:/safety/estop', 'rule:0', 'rule') in edges
    assert ('rule:0', 'tier:CRITICAL', 'tier') in edges
    assert ('topic:/sensors/camera/image_raw', 'rule:1', 'rule') in edges
    assert ('rule:1', 'tier:HIGH', 'tier') in edges
    assert {('rule:0', 'mirror', 'mirror'), ('rule:1', 'mirror', 'mirror')} <= edges
    estop = _node(graph, 'topic:/safety/estop')['data']
    assert estop['tier'] == 'CRITICAL' and estop['rate'] == 2.0 and estop['rule'] == 0
    json.dumps(graph)  # JSON all the way


def test_an_excluded_topic_is_drawn_without_a_rule():
    graph = _graph()
    rosout = _node(graph, 'topic:/rosout')['data']
    assert rosout['excluded'] and rosout['rule'] is None
    assert not [e for e in graph['edges'] if e['source'] == 'topic:/rosout']


def test_handlers_in_process_on_their_tier_node_modules_over_dds_and_llm_routes():
    edges = _edges(_graph())
    assert ('tier:NORMAL', 'module:monitor', 'bus') in edges
    assert ('topic:/cmd', 'module:driver', 'dds') in edges
    assert ('topic:/speech/command', 'llm:commands', 'dds') in edges
    # the bridge is drawn as its routes, not as a subscriber of its topics
    assert not [e for e in edges if e[1] == 'module:llm_bridge']
    # a live-view subscription is not a module
    assert not [e for e in edges if 'live_view' in e[1]]


def test_llm_routes_carry_their_chain_and_junk_is_skipped():
    graph = _graph()
    route = _node(graph, 'llm:commands')['data']
    assert route['models'] == ['local', 'backup'] and route['match'] == ['/speech/**']
    assert route['known_models'] == ['backup', 'local'] and route['bridge'] == 'inactive'
    assert _node(graph, 'llm:broken')['data']['match'] == ['bad pattern']
    assert not [e for e in graph['edges'] if e['target'] == 'llm:broken']


def test_a_config_as_written_is_drawn_with_the_defaults_for_what_it_leaves_out():
    data = {'topics': [{'pattern': '/cmd', 'tier': 'critical', 'mirror': False},
                       {'pattern': '/bad//pattern', 'tier': 'HIGH'},
                       {'pattern': '/**', 'tier': 'URGENT'}, 'junk'],
            'tiers': {'high': {'qos': {'depth': 3}}}, 'modules': {'enabled': ['driver', 'x']},
            'redis': {'enabled': True}}
    graph = _graph(data)
    edges = _edges(graph)
    assert ('topic:/cmd', 'rule:0', 'rule') in edges
    assert ('rule:0', 'tier:CRITICAL', 'tier') in edges
    assert ('rule:0', 'mirror', 'mirror') not in edges  # mirror: false
    assert not [e for e in edges if e[0] == 'rule:2' and e[2] == 'tier']  # unknown tier
    assert _node(graph, 'rule:0')['data']['tier'] == 'CRITICAL'
    assert _node(graph, 'rule:3')['data'] == {'index': 3, 'invalid': "'junk'", 'issues': []}
    high = _node(graph, 'tier:HIGH')['data']['qos']
    assert high['depth'] == 3 and high['reliability'] == 'best_effort'
    assert _node(graph, 'module:driver')['data']['enabled'] is True
    assert _node(graph, 'module:monitor')['data']['enabled'] is False
    assert _node(graph, 'module:x')['data']['known'] is False


def test_problems_are_on_their_nodes_and_the_rest_in_the_banner():
    graph = _graph(issues={'tier:HIGH': ['k.yaml:3: tiers.HIGH.qos.depth: too small'],
                           'config:kernel': ['k.yaml:1: redis.url: bad']})
    assert _node(graph, 'tier:HIGH')['data']['issues'] == [
        'k.yaml:3: tiers.HIGH.qos.depth: too small']
    assert graph['issues'] == ['k.yaml:1: redis.url: bad']


def test_without_a_mirror_there_are_no_mirror_edges():
    graph = _graph(mirror=None)
    assert not [e for e in graph['edges'] if e['target'] == 'mirror']
    off = _graph({'redis': {'enabled': False}})
    assert not [e for e in off['edges'] if e['target'] == 'mirror']
    assert _node(off, 'mirror')['data']['enabled'] is False
