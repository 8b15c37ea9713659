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
The kernel configuration: schema, loading, env overrides, hot reload.

Owns: the YAML/JSON document reader shared by every config of the package (kernel config,
manifests, sensor and bridge settings) and the kernel config schema. May import ``common``
and ``bus`` (tiers, patterns); must not import intake, audit, supervision, the node or ROS.
"""
