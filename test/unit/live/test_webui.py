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

"""The flow editor's routes over real files, with a stand-in supervisor (no ROS, no network)."""

import json
import pathlib

from live_support import StandInSupervisor
import pytest

from unity_kernel_core.config.kernel_config import load_config
from unity_kernel_core.errors import ConfigError
from unity_kernel_core.live.webui import WebUi
from unity_kernel_core.module_commands import OutcomeStatus

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture
def setup(tmp_path):
    llm = tmp_path / 'llm.yaml'
    llm.write_text((ROOT / 'config' / 'llm_bridge.yaml').read_text())
    kernel = tmp_path / 'kernel.yaml'
    kernel.write_text(
        '# my robot\n'
        f'modules:\n  search_paths: [{ROOT / "modules"}]\n  enabled: [heartbeat, llm_bridge]\n'
        f'  overrides:\n    llm_bridge: {{parameters: {{config_file: {llm}}}}}\n')
    config = {'now': load_config(kernel)}
    modules = StandInSupervisor([
        {'name': 'llm_bridge', 'kind': 'node', 'state': 'active', 'enabled': True},
        {'name': 'heartbeat', 'kind': 'inprocess', 'state': 'active', 'enabled': True}])
    checked = []

    def deployment_check():
        return checked.append

    ui = WebUi(config=lambda: config['now'], config_path=kernel, modules=lambda: modules,
               handlers=lambda: [], deployment_check=deployment_check,
               ros_topics=lambda: {'/robot/bumper': (['std_msgs/msg/String'], [])})
    ui.sample({'tiers': [], 'mirror': {'enabled': False}})
    return ui, kernel, llm, config, modules, checked


def _post(ui, path, body):
    code, content_type, data = ui.post(path, body)
    assert content_type == 'application/json'
    return code, json.loads(data)


def test_the_flow_names_the_files_and_whether_the_kernel_runs_them(setup):
    ui, kernel, llm, config, _, _ = setup
    flow = ui.flow()
    assert flow['files']['kernel']['path'] == str(kernel)
    assert flow['files']['kernel']['in_force'] is True
    assert flow['files']['llm']['path'] == str(llm)
    assert 'text' not in flow['files']['kernel']
    assert flow['choices']['tiers'][0] == 'CRITICAL'
    assert flow['choices']['qos']['reliability'] == ['reliable', 'best_effort']
    assert 'topic:/robot/bumper' in {n['id'] for n in flow['graph']['nodes']}
    assert flow['undo'] == []


def test_apply_writes_validated_files_restarts_the_bridge_and_undo_restores(setup):
    ui, kernel, llm, config, modules, checked = setup
    before = kernel.read_bytes(), llm.read_bytes()
    base = {role: f['sha'] for role, f in ui.flow()['files'].items()}
    ops = [{'op': 'route_topic', 'topic': '/robot/bumper', 'tier': 'CRITICAL'},
           {'op': 'attach_llm', 'route': 'chat', 'pattern': '/robot/bumper'}]
    code, checked_only = _post(ui, '/api/flow/check', {'ops': ops})
    assert code == 200 and checked_only['ok'] and checked_only['changed'] == ['kernel', 'llm']
    assert kernel.read_bytes() == before[0]  # a check writes nothing
    code, answer = _post(ui, '/api/flow/apply', {'ops': ops, 'base': base})
    assert code == 200, answer
    assert answer['written'] == [str(kernel), str(llm)]
    assert answer['restart'] == 'restart of llm_bridge scheduled'
    assert modules.calls == [('restart', 'llm_bridge')]
    assert kernel.read_text().startswith('# my robot\n')
    assert '/robot/bumper' in llm.read_text()
    assert checked, 'the modules the config deploys were checked'
    assert ui.flow()['files']['kernel']['in_force'] is False  # until the kernel reloads
    config['now'] = load_config(kernel)
    assert ui.flow()['files']['kernel']['in_force'] is True
    code, answer = _post(ui, '/api/flow/undo', {})
    assert code == 200 and answer['restored'] == [str(kernel), str(llm)]
    assert (kernel.read_bytes(), llm.read_bytes()) == before


def test_a_module_switched_in_the_editor_gets_its_command_and_an_outcome_to_follow(setup):
    ui, kernel, _, _, modules, _ = setup
    base = {role: f['sha'] for role, f in ui.flow()['files'].items()}
    code, answer = _post(ui, '/api/flow/apply', {
        'ops': [{'op': 'set_module', 'name': 'heartbeat', 'enabled': False}], 'base': base})
    assert code == 200, answer
    assert 'heartbeat' not in kernel.read_text().split('enabled:')[1].splitlines()[0]
    assert modules.calls == [('disable', 'heartbeat')]
    [outcome] = answer['modules']
    assert outcome == {'success': True, 'id': outcome['id'], 'command': 'disable',
                       'target': 'heartbeat', 'status': 'scheduled',
                       'message': 'disable of heartbeat scheduled'}
    # the page reads it back by its id through the dashboard (the same commands' book)
    modules.settle(outcome['id'], OutcomeStatus.DONE, 'heartbeat is stopped (disabled)')
    assert ui.actions.outcome(outcome['id'])['status'] == 'done'


def test_an_invalid_edit_is_refused_with_its_problems_on_their_nodes(setup):
    ui, kernel, _, _, _, _ = setup
    before = kernel.read_bytes()
    ops = [{'op': 'set_rule', 'index': 0, 'values': {'pattern': '/a//b'}},
           {'op': 'set_llm_route', 'name': 'chat', 'values': {'models': ['nope']}}]
    code, answer = _post(ui, '/api/flow/apply', {'ops': ops})
    assert code == 422 and not answer['ok'] and kernel.read_bytes() == before
    by_node = {n['id']: n['data']['issues'] for n in answer['graph']['nodes']
               if n['data']['issues']}
    assert set(by_node) == {'rule:0', 'llm:chat'}
    assert "empty name segment '//'" in by_node['rule:0'][0]
    assert "unknown model 'nope'" in by_node['llm:chat'][0]


def test_a_stale_base_and_an_empty_undo_are_conflicts_bad_requests_are_400(setup):
    ui, kernel, _, _, _, _ = setup
    code, answer = _post(ui, '/api/flow/apply', {
        'ops': [{'op': 'set_module', 'name': 'heartbeat', 'enabled': False}],
        'base': {'kernel': '0' * 64}})
    assert code == 409 and 'changed on disk' in answer['error']
    assert _post(ui, '/api/flow/undo', {})[0] == 409
    assert _post(ui, '/api/flow/undo', {'x': 1})[0] == 400
    assert _post(ui, '/api/flow/check', {'ops': [{'op': 'explode'}]})[0] == 400
    assert _post(ui, '/api/flow/check', {'ops': [], 'base': []})[0] == 400


def test_the_diff_shown_never_holds_a_password(setup):
    ui, kernel, _, _, _, _ = setup
    kernel.write_text(kernel.read_text() + 'redis: {url: "redis://bob:s3cret@db:6379/0"}\n')
    code, answer = _post(ui, '/api/flow/check', {'ops': [
        {'op': 'set_qos', 'tier': 'HIGH', 'values': {'depth': 5}}]})
    assert code == 200 and 'redis://bob:***@db:6379/0' in answer['diff']['kernel']
    assert 's3cret' not in json.dumps(answer)


def test_a_deployment_problem_is_a_problem_of_the_edit(setup):
    ui, _, _, _, _, _ = setup

    def refuse(config):
        from unity_kernel_core.errors import ConfigIssue
        raise ConfigError([ConfigIssue('k.yaml', 3, 'modules.enabled[0]', 'not found')])

    ui._deployment_check = lambda: refuse
    code, answer = _post(ui, '/api/flow/check', {'ops': [
        {'op': 'set_module', 'name': 'ghost', 'enabled': True}]})
    assert code == 200 and answer['issues'] == ['k.yaml:3: modules.enabled[0]: not found']


def test_assets_are_only_the_built_files_by_name(setup):
    ui = setup[0]
    assert ui.get('/app/../webui.py', {}) is None
    assert ui.get('/app/x.py', {}) is None
    code, _, body = ui.get('/app/nothing-here.js', {})
    assert code == 404 and b'make web' in body
    assert ui.get('/favicon.ico', {})[1] == 'image/svg+xml'
    code, content_type, body = ui.get('/theme.css', {})
    assert code == 200 and content_type.startswith('text/css') and b'--accent' in body
    assert ui.get('/flows', {})[0] == 200
    assert ui.get('/api/samples', {'since': 'soon'})[0] == 400
    code, _, body = ui.get('/api/samples', {})
    assert code == 200 and len(json.loads(body)['t']) == 1
