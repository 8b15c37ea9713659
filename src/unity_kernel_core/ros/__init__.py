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
The ROS edge shared by every node of the package.

Owns: the one lifecycle node base (state label, teardown, signals, ``main()``), parameter
specs (live, at configure, read-only), message types and the CDR codec the bus is given,
message definitions, logging to ``/rosout``, diagnostics entries, helper nodes with their own
executor.

Shared by the kernel, the sensors and the LLM bridge. Imports rclpy and ``errors``; must not
import the bus, config, intake, audit or supervision.
"""
