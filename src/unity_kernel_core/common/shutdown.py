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


def stop_budget(shutdown_timeout_s: float) -> float:
    """
    Return how long a component may take to stop within ``shutdown_timeout_s``.

    80 % of it (the rest is for the node's own teardown after its components), and at least
    0.1 s, so a component always gets one try at what it must finish (draining, a last batch).
    """
    return max(0.1, shutdown_timeout_s * 0.8)
