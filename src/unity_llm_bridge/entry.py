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

"""The LLM bridge's console script: signals are caught before the node's module is imported."""

from unity_kernel_core.ros.startup import launch


def llm_bridge() -> int:
    """Run the LLM bridge node (console script ``llm_bridge``)."""
    return launch('unity_llm_bridge.node')
