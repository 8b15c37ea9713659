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
