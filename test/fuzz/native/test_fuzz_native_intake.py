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
Fuzz: the native intake's subscribe call with any topic, type name, tier and QoS.

Names come from the ROS graph (any process on the domain can make a topic), the QoS from the
config and the publishers: each call subscribes, or raises ValueError/TypeError/RuntimeError
with rcl's reason; the native thread lives on and the intake closes cleanly.
"""

from hypothesis import given, HealthCheck, settings, strategies as st
import pytest
import rclpy
from std_msgs.msg import String

from unity_kernel_core import native

pytestmark = pytest.mark.skipif(native.rcl() is None, reason=native.why_not())

qos = st.tuples(st.booleans(), st.integers(-1, 200000), st.booleans(), st.booleans(),
                st.integers(0, 2 ** 64 - 1), st.integers(-5, 2 ** 40))


# Each example starts servers or subscriptions: 3 in 10 of the profile's examples.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture],
          max_examples=max(1, settings.default.max_examples * 3 // 10))
@given(data=st.data())
def test_any_subscribe_call_subscribes_or_says_why(rclpy_context, data):
    core = native.core()
    node = rclpy.create_node('fuzz_intake', context=rclpy_context,
                             start_parameter_services=False)
    String.__class__.__import_type_support__()
    handoffs = tuple(core.Handoff(1, 10, 1 << 16) for _ in range(5))
    intake = native.rcl().Intake(context=rclpy_context.handle.pointer,
                                 node=node.handle.pointer, producer=core.Producer(),
                                 handoffs=handoffs, max_message_bytes=1 << 20)
    try:
        for _ in range(data.draw(st.integers(1, 4))):
            topic = data.draw(st.one_of(st.text(max_size=80),
                                        st.from_regex(r'/[a-z_]{1,10}(/[a-z_]{1,10}){0,3}',
                                                      fullmatch=True)))
            type_name = data.draw(st.text(max_size=40))
            tier = data.draw(st.integers(-2, 7))
            support = data.draw(st.sampled_from([String._TYPE_SUPPORT, None, 'x']))
            try:
                index = intake.add(topic, type_name or 'x', support, tier, data.draw(qos),
                                   data.draw(st.booleans()), data.draw(st.booleans()))
            except (ValueError, TypeError, RuntimeError, OverflowError):
                continue
            assert intake.set_flags(index, True, False)
            assert intake.remove(index)
        assert isinstance(intake.stats()['taken'], int)
        assert all(isinstance(note, str) for note in intake.notes())
    finally:
        intake.close()
        node.destroy_node()
