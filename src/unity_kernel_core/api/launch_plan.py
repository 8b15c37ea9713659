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
What ``launch/bringup.launch.py`` starts besides the kernel: the config's node modules.

Under ``ros2 launch`` the launch system owns the module processes (with respawn), and the
kernel only drives their lifecycles (``spawn_modules:=false``). This module turns a config
into the list of nodes to launch, so that the launch file stays a thin loop over it.
"""

import dataclasses
import os
import shlex
from typing import Any, Dict, List

from unity_kernel_core.config.kernel_config import load_config
from unity_kernel_core.errors import ConfigError, ConfigIssue
from unity_kernel_core.supervision import deployment, module_graph, scheduling


@dataclasses.dataclass(frozen=True)
class LaunchedNode:
    """One node module as the launch file starts it."""

    module: str
    executable: str
    name: str
    namespace: str
    parameters: Dict[str, Any]
    """The manifest's parameters with the config's ``modules.overrides`` applied."""
    prefix: str = ''
    """The launch prefix that applies the manifest's ``scheduling`` ('' when none): the
    same command prefix the kernel's node runner uses (``supervision.scheduling``)."""


def node_modules(config_path: 'str | os.PathLike[str] | None') -> List[LaunchedNode]:
    """
    Return the enabled node modules of a config, dependencies first.

    The modules and their parameters are the ones the kernel itself would run
    (``deployment.resolve``): a missing enabled module or a bad override raises ConfigError,
    so that ``ros2 launch`` stops with the problem instead of running without the module.
    Only console-script executables can be launched by package (``Manifest.launchable``); a
    module whose executable is a path is left out here, and the kernel starts that one
    itself (``supervision.node_runner.runner_class``), as it does a module loaded or enabled
    at run time.
    """
    found = deployment.resolve(load_config(config_path))
    enabled = {n: found.manifests[n] for n in found.enabled}
    ordered = module_graph.order({n: [d for d in m.depends if d in enabled]
                                  for n, m in enabled.items()})
    out = []
    for name in ordered:
        m = enabled[name]
        if not m.launchable:
            continue
        out.append(LaunchedNode(module=name, executable=m.executable or '', name=m.ros_node_name,
                                namespace=m.namespace, parameters=dict(m.parameters),
                                prefix=shlex.join(scheduling.prefix(m))))
    return out


AUTOSTART_WORDS = {'true': True, 'false': False}
"""What ``autostart:=`` may be (launch_ros reads the word as YAML: other words stay text)."""


def autostart_argument(text: str) -> bool:
    """
    Return the launch file's ``autostart:=`` argument; ConfigError for anything else.

    Checked before the modules are launched, so a typo (``autostart:=ture``) stops ``ros2
    launch`` with the reason instead of a kernel that refuses the text at start, again at
    every respawn.
    """
    value = AUTOSTART_WORDS.get(text.strip().lower())
    if value is None:
        raise ConfigError([ConfigIssue('autostart', None, '', f'{text!r}: expected true or '
                                       'false')])
    return value
