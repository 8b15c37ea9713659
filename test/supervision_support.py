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

"""Module folders, kernel configs and probes shared by the supervision tests."""

import json
import shutil
import textwrap

from std_srvs.srv import Trigger
import support

MODULE_NODE = str(support.ROOT / 'test' / 'nodes' / 'lifecycle_module.py')


def node_module(root, name, depends=(), marker=None, heartbeat_period_s=0.3, **params):
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    shutil.copy(MODULE_NODE, d / 'lifecycle_module.py')  # a module runs only its own files
    parameters = {'marker': str(marker)} if marker else {}
    parameters.update(params)
    (d / 'manifest.yaml').write_text(textwrap.dedent(f"""\
        name: {name}
        version: 1.0.0
        kind: node
        executable: lifecycle_module.py
        depends: {json.dumps(list(depends))}
        parameters: {json.dumps(parameters)}
        restart: {{max_restarts: 3, window_s: 60, backoff_initial_s: 0.2, backoff_max_s: 1}}
        health: {{heartbeat_period_s: {heartbeat_period_s}, heartbeat_timeout_s: 1.5,
                  transition_timeout_s: 20}}
        """))
    return d


INPROCESS_SOURCE = """
from unity_kernel_core.supervision.module_api import Module, on_event, periodic


class Counter(Module):
    VERSION = 'VERSION_TAG'

    def on_configure(self):
        self.marker = self.context.parameters['marker']

    def on_activate(self):
        with open(self.marker, 'a') as f:
            f.write(f'{self.context.name} activated {self.VERSION}\\n')

    def on_deactivate(self):
        with open(self.marker, 'a') as f:
            f.write(f'{self.context.name} deactivated {self.VERSION}\\n')
"""


def inprocess_module(root, name, marker, depends=(), version='v1'):
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    (d / 'counter.py').write_text(INPROCESS_SOURCE.replace('VERSION_TAG', version))
    (d / 'manifest.yaml').write_text(textwrap.dedent(f"""\
        name: {name}
        version: 1.0.0
        kind: inprocess
        entry: counter.py:Counter
        depends: {json.dumps(list(depends))}
        parameters: {{marker: {json.dumps(str(marker))}}}
        """))
    return d


def kernel_config(tmp_path, modules_dir, enabled):
    path = tmp_path / 'kernel.yaml'
    path.write_text(textwrap.dedent(f"""\
        kernel:
          diagnostics_period_s: 0.5
          state_dir: {tmp_path / 'state'}
        redis:
          enabled: false
        modules:
          search_paths: [{modules_dir}]
          enabled: {json.dumps(enabled)}
        """))
    return path


def start_kernel(processes, ros_env, tmp_path, config):
    return support.start_kernel(processes, ros_env, tmp_path, config)


def marks(marker):
    if not marker.exists():
        return []
    return [line.split() for line in marker.read_text().splitlines() if line.strip()]


def events_of(marker, name, what):
    return [m for m in marks(marker) if m[0] == name and m[1] == what]


def list_modules(probe):
    result = probe._call(Trigger, '/unity_kernel/modules/list', Trigger.Request())
    assert result.success
    return {m['name']: m for m in json.loads(result.message)}


def module_states(probe):
    return {n: m['state'] for n, m in list_modules(probe).items()}
