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

"""The share of the shutdown timeout a component may spend stopping."""

from unity_kernel_core.common.shutdown import stop_budget


def test_a_component_gets_most_of_the_shutdown_timeout_and_never_nothing():
    assert stop_budget(10.0) == 8.0
    assert stop_budget(0.05) == 0.1
    assert stop_budget(0.0) == 0.1
