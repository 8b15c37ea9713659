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

"""Kernel configs, a kernel start and stream readers shared by the audit trail tests."""

import support

from unity_kernel_core.audit.record import AuditRecord

TALKER = str(support.ROOT / 'test' / 'nodes' / 'talker.py')


def write_config(tmp_path, url, extra=''):
    path = tmp_path / 'kernel.yaml'
    path.write_text(f'kernel: {{discovery_period_s: 0.2, diagnostics_period_s: 0.2, '
                    f'state_dir: {tmp_path / "state"}}}\n'
                    f'redis: {{url: "{url}", flush_interval_ms: 5, reconnect_interval_ms: 200}}\n'
                    + extra)
    return path


def start_kernel(processes, ros_env, tmp_path, config, log='kernel.log'):
    return support.start_kernel(processes, ros_env, tmp_path, config, log=log,
                                wait='active: mapping topics')


def records(client, topic):
    return [AuditRecord.from_entry(i, f) for i, f in client.xrange(f'unity:topic:{topic}')]


def mirror_values(array):
    for status in array.status:
        if status.name.endswith(': mirror'):
            return {kv.key: kv.value for kv in status.values}
    return None


def mirror_statuses(diagnostics):
    """Return the mirror's diagnostic values received so far, oldest first."""
    return [v for v in map(mirror_values, list(diagnostics)) if v]
