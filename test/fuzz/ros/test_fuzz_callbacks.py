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
Fuzz: CDR bytes into the guarded subscription path of every message type the package takes.

Whatever arrives (random bytes, a valid message cut short, a valid message with bytes
flipped), the subscription's handler returns: a message that decodes reaches the callback
equal to what was sent, anything else is one counted error.
"""

import logging

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from hypothesis import given, strategies as st
from lifecycle_msgs.msg import State, TransitionEvent
from rclpy.serialization import serialize_message
from sensor_msgs.msg import JoyFeedback, JoyFeedbackArray
from std_msgs.msg import String

from unity_kernel_core.ros import callbacks

QUIET = logging.getLogger('test.fuzz.callbacks')
QUIET.propagate = False
QUIET.addHandler(logging.NullHandler())

# ROS strings are UTF-8 C strings: a NUL ends them, a lone surrogate cannot be sent
chars = st.characters(blacklist_characters='\x00', blacklist_categories=('Cs',))
texts = st.text(chars, max_size=30)
MESSAGES = {
    # the live view's /diagnostics
    DiagnosticArray: st.builds(lambda s: DiagnosticArray(status=s), st.lists(st.builds(
        lambda level, name, message, values: DiagnosticStatus(
            level=bytes([level]), name=name, message=message,
            values=[KeyValue(key=k, value=v) for k, v in values]),
        st.integers(0, 255), texts, texts, st.lists(st.tuples(texts, texts), max_size=3)),
        max_size=3)),
    # the supervisor's watch of each module's lifecycle
    TransitionEvent: st.builds(lambda a, b, label: TransitionEvent(
        start_state=State(id=a, label=label), goal_state=State(id=b, label=label)),
        st.integers(0, 255), st.integers(0, 255), texts),
    # the haptic node's feedback commands
    JoyFeedbackArray: st.builds(lambda items: JoyFeedbackArray(array=[
        JoyFeedback(type=t, id=i, intensity=x) for t, i, x in items]),
        st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255),
                           st.floats(width=32, allow_nan=True)), max_size=4)),
    # the LLM bridge's requests and routed events
    String: st.builds(String, data=st.text(chars, max_size=200)),
}


class Node:

    def create_subscription(self, msg_type, topic, callback, qos, **kwargs):
        self.handler = callback
        return callback


@st.composite
def cdr(draw):
    msg_type = draw(st.sampled_from(sorted(MESSAGES, key=lambda t: t.__name__)))
    message = draw(MESSAGES[msg_type])
    data = bytearray(serialize_message(message))
    how = draw(st.sampled_from(['valid', 'cut', 'flip', 'random']))
    if how == 'cut':
        data = data[:draw(st.integers(0, max(0, len(data) - 1)))]
    elif how == 'flip' and data:
        for _ in range(draw(st.integers(1, 4))):
            index = draw(st.integers(0, len(data) - 1))
            data[index] = draw(st.integers(0, 255))
    elif how == 'random':
        data = bytearray(draw(st.binary(max_size=256)))
    return msg_type, message, how, bytes(data)


@given(cdr())
def test_any_cdr_reaches_the_callback_as_a_message_or_is_one_counted_error(case):
    msg_type, message, how, data = case
    errors, node, got = callbacks.CallbackErrors(QUIET), Node(), []
    callbacks.subscribe(node, msg_type, '/fuzz', got.append, 10, errors=errors)
    assert node.handler(data) is None
    assert len(got) + errors.total == 1
    if how == 'valid':  # equal field by field (repr: NaN too; CDR padding bytes may differ)
        assert got and repr(got[0]) == repr(message)
