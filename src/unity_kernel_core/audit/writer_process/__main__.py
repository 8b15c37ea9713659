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
"""Run the audit writer process: ``python -m unity_kernel_core.audit.writer_process``."""

import os
import sys

from unity_kernel_core.audit.writer_process.process import main

code = main()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)  # the thread reading stdin may still be blocked in it
