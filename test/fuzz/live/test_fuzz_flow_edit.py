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
Fuzz: any request body of the flow editor's POSTs is answered with a status and a reason.

``/api/flow/check``, ``/api/flow/apply`` and ``/api/flow/undo`` take whatever JSON the
dashboard decoded (within its size and depth bounds); the answer is always one of 200, 400,
409 or 422 with a JSON body, never an exception, and whatever is written to the config file
is a config the kernel's parser accepts. ``/api/samples?since=`` takes any text.
"""

import json
import pathlib
import shutil
import tempfile

from hypothesis import given, strategies as st
from live_support import StandInSupervisor

from unity_kernel_core.config.kernel_config import load_config, parse_config
from unity_kernel_core.live import config_edit
from unity_kernel_core.live.webui import WebUi

ROOT = pathlib.Path(__file__).resolve().parents[3]
WORK = pathlib.Path(tempfile.mkdtemp(prefix='fuzz-flow-edit-'))
KERNEL = WORK / 'kernel.yaml'
LLM = WORK / 'llm.yaml'
shutil.copy(ROOT / 'config' / 'llm_bridge.yaml', LLM)
KERNEL.write_text(
    (ROOT / 'config' / 'kernel.yaml').read_text()
    .replace('search_paths: [package://unity_kernel/modules]',
             f'search_paths: [{ROOT / "modules"}]')
    .replace('enabled: [heartbeat, monitor, camera]', 'enabled: [heartbeat, llm_bridge]')
    .replace('overrides: {}',
             f'overrides: {{llm_bridge: {{parameters: {{config_file: {LLM}}}}}}}'))
ORIGINAL = (KERNEL.read_bytes(), LLM.read_bytes())
CONFIG = load_config(KERNEL)


MODULES = StandInSupervisor([{'name': 'llm_bridge', 'kind': 'node', 'state': 'active',
                              'enabled': True}])


UI = WebUi(config=lambda: CONFIG, config_path=KERNEL, modules=lambda: MODULES,
           handlers=lambda: [('module:monitor.on_beat', '/examples/**', None)],
           ros_topics=lambda: {'/robot/bumper': (['std_msgs/msg/String'], [])})

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 2 ** 40), st.floats(),
                    st.text(max_size=30), st.sampled_from(['/robot/bumper', 'CRITICAL', 'chat',
                                                           '/**', 'llm_bridge', 'HIGH']))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=16)
keys = st.sampled_from(['topic', 'tier', 'index', 'to', 'values', 'name', 'enabled', 'route',
                        'pattern'] + list(config_edit.RULE_KEYS) + list(config_edit.QOS_KEYS))
ops = st.builds(lambda op, fields: {'op': op, **fields},
                st.sampled_from(sorted(config_edit._OPS) + ['explode']),
                st.dictionaries(keys, json_values, max_size=4))
bodies = st.one_of(json_values, st.builds(lambda o, b: {'ops': o, 'base': b},
                                          st.lists(ops, max_size=5),
                                          st.one_of(st.none(), json_values)))


def _restore():
    KERNEL.write_bytes(ORIGINAL[0])
    LLM.write_bytes(ORIGINAL[1])


@given(st.sampled_from(['/api/flow/check', '/api/flow/apply', '/api/flow/undo']), bodies)
def test_any_body_is_answered_with_a_status_and_a_reason(path, body):
    _restore()
    code, content_type, data = UI.post(path, body)
    assert content_type == 'application/json'
    answer = json.loads(data)
    assert code in (200, 400, 409, 422), (code, answer)
    if code != 200:
        assert answer.get('error'), answer
    # whatever was written is a config the kernel accepts
    parse_config(KERNEL.read_text(), str(KERNEL), base=WORK)


@given(st.text(max_size=40))
def test_any_since_is_a_number_or_a_400(since):
    code, _type, data = UI.get('/api/samples', {'since': since})
    assert code in (200, 400)
    assert isinstance(json.loads(data), dict)
