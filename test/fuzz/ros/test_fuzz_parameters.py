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
Fuzz: ``ros2 param set`` on every node kind, any value of any type, in any state.

rclpy calls the node's parameter gate (``ParameterTable.gate``, then the node's own
``check_parameter``) from its parameter service; an exception there would leave the caller
without an answer, so the gate answers every request: accepted, or refused with a reason.
"""

import collections
import math

from hypothesis import example, given, strategies as st
from rcl_interfaces.msg import SetParametersResult

from unity_kernel_core.kernel.node import parameters as kernel_parameters
from unity_kernel_core.ros.parameters import Applies, CONFIGURED, ParameterTable
from unity_llm_bridge.node import PARAMETERS as BRIDGE
from unity_sensors.audio.node import parameters as audio_parameters
from unity_sensors.camera.node import CameraNode, PARAMETERS as CAMERA
from unity_sensors.haptic.node import PARAMETERS as HAPTIC
from unity_sensors.sensor_node import common_parameters

Param = collections.namedtuple('Param', 'name value')
TABLES = {
    'kernel': ParameterTable(kernel_parameters()),
    'camera': ParameterTable(common_parameters('camera', 5.0) + CAMERA),
    'audio': ParameterTable(common_parameters('audio', 2.0) + audio_parameters()),
    'haptic': ParameterTable(common_parameters('haptic', 2.0) + HAPTIC),
    'llm_bridge': ParameterTable(BRIDGE),
}
STATES = ['unconfigured', 'inactive', 'active', 'finalized']
any_value = st.one_of(
    st.booleans(), st.integers(-2 ** 63, 2 ** 63 - 1), st.floats(), st.text(max_size=20),
    st.binary(max_size=8), st.lists(st.booleans(), max_size=3),
    st.lists(st.integers(-2 ** 63, 2 ** 63 - 1), max_size=3), st.lists(st.floats(), max_size=3),
    st.lists(st.text(max_size=5), max_size=3), st.none())


class CameraStandIn:
    """What ``CameraNode.check_parameter`` asks of its node: the other current values."""

    def __init__(self, values):
        self.values = values

    def get_parameter(self, name):
        return Param(name, self.values.get(name, 0))


@st.composite
def requests(draw):
    kind = draw(st.sampled_from(sorted(TABLES)))
    names = sorted(TABLES[kind].specs) + ['not_declared']
    params = draw(st.lists(st.builds(Param, st.sampled_from(names), any_value), min_size=1,
                           max_size=3))
    return kind, params, draw(st.sampled_from(STATES))


@given(requests())
@example(('kernel', [Param('diagnostics_period_s', 'often')], 'active'))
@example(('haptic', [Param('baud', float('nan'))], 'unconfigured'))
@example(('camera', [Param('fps', [1.0])], 'active'))
def test_every_set_parameters_request_gets_an_answer(request):
    kind, params, state = request
    table = TABLES[kind]
    result = table.gate(params, state, lambda name: name in table.specs)
    assert isinstance(result, SetParametersResult)
    if not result.successful:
        assert result.reason.split(':')[0] in {p.name for p in params}
    for param in params:
        spec = table.specs.get(param.name)
        if spec is not None and spec.applies is Applies.CONFIGURE and state in CONFIGURED:
            assert not result.successful  # read at configure: never changed under the node
        if spec is not None and spec.check is not None and isinstance(param.value, float) \
                and not math.isfinite(param.value) and len(params) == 1:
            assert not result.successful or spec.check(param.value) is None
    if kind == 'camera':  # and the camera's own cross-checks, as its gate calls them
        for param in params:
            reason = CameraNode.check_parameter(CameraStandIn({'width': 640, 'height': 480}),
                                                param)
            assert reason is None or isinstance(reason, str)
