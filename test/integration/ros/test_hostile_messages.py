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
Malformed CDR from any node on the domain ends no process of the package.

Each topic a node subscribes to gets bytes that are not a message of its type; the node keeps
running and doing its job, and counts the errors (``callback_errors`` on ``/diagnostics``).
"""

import signal
import textwrap

from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import TransitionEvent
from sensor_msgs.msg import JoyFeedbackArray
import sensor_support
from supervision_support import list_modules, node_module
import support

GARBAGE = [b'\x00\x01\x00\x00' + b'\xff' * 40, b'\x00\x01\x00\x00', b'',
           b'\x00\x01\x00\x00' + b'\x7f\xff\xff\xff' * 4]


def values_of(array, suffix):
    for status in array.status:
        if status.name.endswith(suffix):
            return status, {kv.key: kv.value for kv in status.values}
    return None, None


def latest(reports, suffix):
    for array in reversed(list(reports)):
        status, values = values_of(array, suffix)
        if status is not None:
            return status, values
    return None, None


def test_malformed_diagnostics_and_transition_events_do_not_end_the_kernel(
        processes, ros_env, tmp_path, probe):
    mods = tmp_path / 'mods'
    node_module(mods, 'alpha')
    config = tmp_path / 'kernel.yaml'
    config.write_text(textwrap.dedent(f"""\
        kernel: {{diagnostics_period_s: 0.3, state_dir: {tmp_path / 'state'}}}
        redis: {{enabled: false}}
        modules: {{search_paths: [{mods}], enabled: [alpha]}}
        live: {{foxglove_port: {support.free_port()}, dashboard_port: {support.free_port()}}}
        """))
    reports = probe.collect('/diagnostics', DiagnosticArray)
    kernel = support.start_kernel(processes, ros_env, tmp_path, config,
                                  wait='active: mapping topics')
    support.wait_for(lambda: list_modules(probe).get('alpha', {}).get('state') == 'active',
                     30, message='module alpha active')
    # the live view subscribes to /diagnostics; the supervisor to each module's transitions
    support.publish_garbage(probe.node, DiagnosticArray, '/diagnostics', GARBAGE)
    support.publish_garbage(probe.node, TransitionEvent, '/alpha/transition_event', GARBAGE)

    def counted():
        _status, values = latest(reports, ': kernel')
        return values is not None and int(values['callback_errors']) >= 2
    support.wait_for(counted, 15, message='callback errors on /diagnostics')
    assert kernel.proc.poll() is None, kernel.output()
    _status, values = latest(reports, ': kernel')
    assert int(values['callback_errors']) <= 2 * len(GARBAGE)
    assert list_modules(probe)['alpha']['state'] == 'active'
    assert 'callback subscription /diagnostics failed (RMWError' in kernel.output()
    assert 'callback subscription /alpha/transition_event failed (RMWError' in kernel.output()
    kernel.signal(signal.SIGINT)
    assert kernel.wait(30) == 0


def test_malformed_feedback_does_not_end_the_haptic_node(processes, ros_env, tmp_path, probe):
    node = sensor_support.start_node(processes, ros_env, tmp_path, 'unity_sensors.haptic.node',
                                     'driver:=simulated')
    reports = probe.collect('/diagnostics', DiagnosticArray)
    assert sensor_support.bring_up(probe, 'haptic')
    support.publish_garbage(probe.node, JoyFeedbackArray, '/safety/haptic/feedback', GARBAGE)

    def counted():
        _status, values = latest(reports, ': haptic')
        return values is not None and int(values['callback_errors']) >= 1
    support.wait_for(counted, 15, message='callback errors on /diagnostics')
    assert node.proc.poll() is None, node.output()
    assert sensor_support.state(probe, 'haptic') == 'active'
