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

"""The lifecycle base keeps ``state_label`` in step with every transition; no node assigns it."""

import logging

import pytest
from rclpy.lifecycle import TransitionCallbackReturn

from unity_kernel_core.ros.lifecycle_base import ManagedLifecycleNode

SUCCESS = TransitionCallbackReturn.SUCCESS
FAILURE = TransitionCallbackReturn.FAILURE


class Plain(ManagedLifecycleNode):
    """Overrides nothing: the base's and rclpy's callbacks alone."""


class Picky(ManagedLifecycleNode):
    """Configure fails once; activate calls the base and then fails when told to."""

    def __init__(self, **kwargs):
        super().__init__('picky', **kwargs)
        self.configure_ok = False
        self.activate_ok = True
        self.labels_seen = []

    def on_configure(self, state):
        self.labels_seen.append(self.state_label)  # the label of the state it starts from
        return SUCCESS if self.configure_ok else FAILURE

    def on_activate(self, state):
        result = super().on_activate(state)  # nested: the outermost outcome decides
        return result if self.activate_ok else FAILURE

    def on_deactivate(self, state):
        raise RuntimeError('deactivate blew up')


class Stricter(Picky):
    """A subclass of a subclass, overriding configure again over super()."""

    def on_configure(self, state):
        return super().on_configure(state)


def test_the_base_sets_the_label_of_every_transition(rclpy_context):
    node = Plain('plain', context=rclpy_context)
    try:
        assert node.state_label == 'unconfigured'
        assert node.trigger_configure() == SUCCESS and node.state_label == 'inactive'
        assert node.trigger_activate() == SUCCESS and node.state_label == 'active'
        assert node.trigger_deactivate() == SUCCESS and node.state_label == 'inactive'
        assert node.trigger_cleanup() == SUCCESS and node.state_label == 'unconfigured'
        assert node.trigger_shutdown() == SUCCESS and node.state_label == 'finalized'
    finally:
        node.destroy_node()


@pytest.mark.parametrize('kind', [Picky, Stricter])
def test_a_failed_or_raising_transition_leaves_the_label_as_the_state_is(rclpy_context, kind):
    node = kind(context=rclpy_context)
    try:
        assert node.trigger_configure() == FAILURE and node.state_label == 'unconfigured'
        node.configure_ok = True
        assert node.trigger_configure() == SUCCESS and node.state_label == 'inactive'
        assert node.labels_seen == ['unconfigured', 'unconfigured']
        node.activate_ok = False
        assert node.trigger_activate() == FAILURE and node.state_label == 'inactive'
        node.activate_ok = True
        assert node.trigger_activate() == SUCCESS and node.state_label == 'active'
        # an exception is an error: the base's on_error tears down to unconfigured
        assert node.trigger_deactivate() == TransitionCallbackReturn.ERROR
        assert node.state_label == 'unconfigured'
    finally:
        node.destroy_node()


def test_a_raising_transition_is_counted_and_logged_not_swallowed(rclpy_context):
    """Regression: rclpy turned the exception into ERROR without a word (its own TODO)."""
    from unity_kernel_core.ros import callbacks
    node = Picky(context=rclpy_context)
    records = []

    class Keep(logging.Handler):

        def emit(self, record):
            records.append(record)
    handler = Keep()
    callbacks._LOG.addHandler(handler)
    before = callbacks.ERRORS.counts().get('transition on_deactivate', 0)
    try:
        node.configure_ok = True
        assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
        assert node.trigger_deactivate() == TransitionCallbackReturn.ERROR
        assert callbacks.ERRORS.counts()['transition on_deactivate'] == before + 1
        if before == 0:
            assert 'deactivate blew up' in records[0].getMessage()
    finally:
        callbacks._LOG.removeHandler(handler)
        node.destroy_node()


def test_a_check_that_raises_still_answers_the_set_parameters_request(rclpy_context):
    """Regression: a check given what it could not read raised: the caller got no answer."""
    from rclpy.parameter import Parameter

    from unity_kernel_core.ros.parameters import Applies, in_range, ParamSpec

    class Checked(ManagedLifecycleNode):

        def __init__(self, **kwargs):
            super().__init__('checked', **kwargs)
            self.declare_specs([ParamSpec('period', 1.0, 'A period.', Applies.LIVE,
                                          in_range(0, 10)),
                                ParamSpec('device', 'x', 'Anything.', Applies.LIVE,
                                          in_range(0, 10), dynamic_typing=True)])

        def check_parameter(self, param):
            if param.value == 'boom':
                raise KeyError(param.name)
            return None

    node = Checked(context=rclpy_context)
    try:
        [word] = node.set_parameters([Parameter('device', value='fast')])
        assert not word.successful
        assert word.reason == ("device: 'fast' is not a value it takes (could not convert "
                               "string to float: 'fast')")
        [boom] = node.set_parameters([Parameter('device', value='boom')])
        assert not boom.successful
        [fine] = node.set_parameters([Parameter('period', value=2.0)])
        assert fine.successful
    finally:
        node.destroy_node()


def test_a_start_value_of_the_wrong_type_is_a_parameter_start_error(rclpy_context):
    from rclpy.parameter import Parameter

    from unity_kernel_core.ros.parameters import ParamSpec, ParameterStartError

    class Typed(ManagedLifecycleNode):

        def __init__(self, **kwargs):
            super().__init__('typed', **kwargs)
            self.declare_specs([ParamSpec('autostart', False, 'At start.')])

    why = "'autostart' to 'maybe'.*expecting type 'BOOL' \\(as its default False\\)"
    with pytest.raises(ParameterStartError, match=why):
        Typed(context=rclpy_context, parameter_overrides=[Parameter('autostart', value='maybe')])
