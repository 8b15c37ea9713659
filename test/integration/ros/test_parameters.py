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
Parameters mean what they say: live, refused with a reason, or read-only, and described so.

Live ones apply at once, bad values are refused with a reason, read-only ones are refused,
and ``describe`` tells which is which.

Driven as ``ros2 param`` does it: the nodes' parameter services, from an rclpy probe node.
"""

import json
import sys
import textwrap
import time

from diagnostic_msgs.msg import DiagnosticArray
import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import DescribeParameters, SetParameters
import support

from unity_kernel_core.ros.parameters import Applies, ParameterTable, ParamSpec

pytestmark = pytest.mark.ros


def value(v) -> ParameterValue:
    if isinstance(v, bool):
        return ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=v)
    if isinstance(v, float):
        return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=v)
    if isinstance(v, int):
        return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=v)
    return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=v)


def set_param(probe, node, name, v):
    request = SetParameters.Request(parameters=[Parameter(name=name, value=value(v))])
    return probe._call(SetParameters, f'/{node}/set_parameters', request).results[0]


def describe(probe, node, *names):
    request = DescribeParameters.Request(names=list(names))
    return {d.name: d for d in probe._call(DescribeParameters, f'/{node}/describe_parameters',
                                           request).descriptors}


def test_a_table_refuses_by_spec_and_checks_start_values_without_ros():
    table = ParameterTable([
        ParamSpec('period', 1.0, 'A period.', Applies.LIVE,
                  lambda v: None if v > 0 else 'must be > 0'),
        ParamSpec('device', 'x', 'A device.', Applies.CONFIGURE),
        ParamSpec('start', False, 'At start.', Applies.START)])

    class P:

        def __init__(self, name, value):
            self.name, self.value = name, value

    declared = {'period', 'device', 'start'}.__contains__
    assert table.gate([P('period', 2.0)], 'active', declared).successful
    refused = table.gate([P('period', -1.0)], 'active', declared)
    assert not refused.successful and refused.reason == 'period: must be > 0'
    busy = table.gate([P('device', 'y')], 'active', declared)
    assert not busy.successful and 'is read at configure' in busy.reason
    assert table.gate([P('device', 'y')], 'unconfigured', declared).successful
    assert table.gate([P('period', -1.0)], 'active', lambda n: False).successful  # declaring
    assert table.specs['start'].descriptor().read_only
    assert not table.specs['period'].descriptor().read_only
    assert table.start_issues({'period': 0.0}) == ['period must be > 0']


def kernel_diagnostics(received, since):
    return [m for m in received[since:] for s in m.status if s.name == 'unity_kernel: kernel']


def test_kernel_parameters_apply_live_refuse_bad_values_and_describe_the_truth(
        processes, ros_env, tmp_path, probe):
    config = tmp_path / 'kernel.yaml'
    config.write_text(textwrap.dedent(f"""\
        kernel: {{state_dir: {tmp_path / 'state'}, diagnostics_period_s: 2.0}}
        redis: {{enabled: false}}
        """))
    diagnostics = probe.collect('/diagnostics', DiagnosticArray)
    kernel = processes.start(
        [sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args',
         '-p', f'config_file:={config}', '-p', 'autostart:=true'], ros_env,
        tmp_path / 'kernel.log')
    support.wait_for(lambda: probe.get_state('unity_kernel') == 'active', 60,
                     message='kernel active')
    support.wait_for(lambda: kernel_diagnostics(diagnostics, 0), 10, message='a report')
    mark = len(diagnostics)
    time.sleep(3.0)
    assert len(kernel_diagnostics(diagnostics, mark)) <= 2  # every 2 s, from the config

    result = set_param(probe, 'unity_kernel', 'diagnostics_period_s', 0.2)
    assert result.successful, result.reason
    time.sleep(0.5)
    mark = len(diagnostics)
    time.sleep(2.0)
    assert len(kernel_diagnostics(diagnostics, mark)) >= 6  # every 0.2 s, at once

    refused = set_param(probe, 'unity_kernel', 'diagnostics_period_s', -1.0)
    assert not refused.successful
    assert refused.reason == ('diagnostics_period_s: must be in (0, 3600] s or 0 (the '
                              "config's value), got -1.0")
    assert not set_param(probe, 'unity_kernel', 'discovery_period_s', 61.0).successful
    assert set_param(probe, 'unity_kernel', 'discovery_period_s', 0.3).successful
    assert not set_param(probe, 'unity_kernel', 'log_level', 'loud').successful
    assert set_param(probe, 'unity_kernel', 'log_level', 'debug').successful
    read_only = set_param(probe, 'unity_kernel', 'config_file', '/nonexistent.yaml')
    assert not read_only.successful and 'read-only' in read_only.reason
    assert not set_param(probe, 'unity_kernel', 'spawn_modules', False).successful

    described = describe(probe, 'unity_kernel', 'config_file', 'autostart', 'spawn_modules',
                         'diagnostics_period_s', 'discovery_period_s', 'log_level')
    assert {n for n, d in described.items() if d.read_only} == {
        'config_file', 'autostart', 'spawn_modules'}
    assert 'hot-reloaded' in described['config_file'].description
    assert 'cleanup + configure' in described['config_file'].description
    assert 'Applies at once' in described['diagnostics_period_s'].description
    assert described['log_level'].additional_constraints == 'debug, info, warn, error, fatal'
    out = kernel.output()
    assert 'diagnostics every 0.2 s, discovery every 0.5 s' in out, out[-3000:]


def test_bridge_and_sensor_parameters_say_when_they_apply(processes, ros_env, tmp_path, probe):
    llm = tmp_path / 'llm.yaml'
    llm.write_text(json.dumps({'models': {'m': {'api': 'openai', 'model': 'x',
                                                'base_url': 'http://127.0.0.1:9/v1'}},
                               'routes': [{'name': 'chat', 'match': ['/llm/chat/**'],
                                           'models': ['m']}]}))
    processes.start([sys.executable, '-m', 'unity_llm_bridge.node', '--ros-args', '-p',
                     f'config_file:={llm}'], ros_env, tmp_path / 'bridge.log')
    processes.start([sys.executable, '-m', 'unity_sensors.camera.node', '--ros-args', '-p',
                     'autostart:=true'], ros_env, tmp_path / 'camera.log')
    support.wait_for(lambda: probe.get_state('camera') == 'active', 60, message='camera')
    support.wait_for(lambda: probe.get_state('llm_bridge') == 'unconfigured', 60,
                     message='bridge')
    bridge = describe(probe, 'llm_bridge', 'config_file', 'autostart')
    assert all(d.read_only for d in bridge.values())
    assert not set_param(probe, 'llm_bridge', 'config_file', '/elsewhere.yaml').successful

    camera = describe(probe, 'camera', 'fps', 'source', 'autostart', 'diagnostics_period_s')
    assert [n for n, d in camera.items() if d.read_only] == ['autostart']
    assert 'Applies at once' in camera['fps'].description
    assert 'Read at configure' in camera['source'].description
    assert set_param(probe, 'camera', 'fps', 5.0).successful  # live, as before
    bad = set_param(probe, 'camera', 'fps', 5000.0)
    assert not bad.successful and 'fps must be 0 (native) .. 1000' in bad.reason
    busy = set_param(probe, 'camera', 'source', 'dir:/tmp')
    assert not busy.successful and 'is read at configure; the node is active' in busy.reason
    assert not set_param(probe, 'camera', 'diagnostics_period_s', 0.0).successful
    assert set_param(probe, 'camera', 'diagnostics_period_s', 0.5).successful
