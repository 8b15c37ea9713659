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
``modules.enabled`` edited in the watched config file of a real kernel (a hot reload).

A module the file adds is brought up, a module it removes is stopped, with or without the
``enable``/``disable`` command the flow editor sends beside the edit, whichever comes first.
"""

import os

import pytest
from supervision_support import (events_of, inprocess_module, kernel_config, module_states,
                                 start_kernel)
import support

pytestmark = pytest.mark.ros

RELOADED = 'config reloaded from'


def modules(env, *args):
    return support.cli(env, 'modules', *args)


def edit(tmp_path, mods, enabled):
    """Save the config with ``enabled`` as an editor does (a new file renamed over it)."""
    config = tmp_path / 'kernel.yaml'
    text = config.read_text()
    kernel_config(tmp_path / 'draft', mods, enabled)
    new = (tmp_path / 'draft' / 'kernel.yaml').read_text().replace(
        str(tmp_path / 'draft' / 'state'), str(tmp_path / 'state'))
    assert new != text
    os.replace(tmp_path / 'draft' / 'kernel.yaml', config)


def reloads(kernel):
    return kernel.output().count(RELOADED)


def test_a_hot_reload_brings_newly_enabled_modules_up_and_stops_those_it_disables(
        processes, ros_env, tmp_path, probe):
    marker = tmp_path / 'marks.txt'
    mods = tmp_path / 'modules'
    (tmp_path / 'draft').mkdir()
    inprocess_module(mods, 'alpha', marker)
    inprocess_module(mods, 'beta', marker)
    kernel = start_kernel(processes, ros_env, tmp_path, kernel_config(tmp_path, mods, ['alpha']))
    support.wait_for(lambda: module_states(probe) == {'alpha': 'active', 'beta': 'available'},
                     60, message='alpha active, beta available')

    # the file alone: beta joins, alpha leaves
    edit(tmp_path, mods, ['beta'])
    support.wait_for(lambda: module_states(probe) == {'alpha': 'stopped', 'beta': 'active'},
                     30, message='alpha stopped and beta active after the edit')
    assert events_of(marker, 'alpha', 'deactivated') == [['alpha', 'deactivated', 'v1']]
    # and alpha comes back by the file alone (stopped, not only available)
    edit(tmp_path, mods, ['alpha', 'beta'])
    support.wait_for(lambda: module_states(probe) == {'alpha': 'active', 'beta': 'active'},
                     30, message='alpha back after the edit')
    assert len(events_of(marker, 'alpha', 'activated')) == 2

    # the editor's way, the reload first, then the command: each done once it holds
    seen = reloads(kernel)
    edit(tmp_path, mods, ['beta'])
    support.wait_for(lambda: reloads(kernel) > seen, 30, message='the reload')
    disabled = modules(ros_env, 'disable', 'alpha')
    assert (disabled.returncode, disabled.stdout) == (
        0, 'disable alpha: done: alpha is not enabled (stopped)\n'), disabled.stderr
    seen = reloads(kernel)
    edit(tmp_path, mods, ['alpha', 'beta'])
    support.wait_for(lambda: reloads(kernel) > seen, 30, message='the reload')
    enabled = modules(ros_env, 'enable', 'alpha')  # done once active (maybe already)
    assert enabled.returncode == 0, enabled.stderr
    assert enabled.stdout in ('enable alpha: done: alpha is active\n',
                              'enable alpha: done: alpha is already enabled (active)\n')
    assert len(events_of(marker, 'alpha', 'activated')) == 3

    # the command first, then the reload: the reload finds it done and changes nothing
    disabled = modules(ros_env, 'disable', 'alpha')
    assert disabled.returncode == 0, disabled.stderr
    seen = reloads(kernel)
    edit(tmp_path, mods, ['beta'])
    support.wait_for(lambda: reloads(kernel) > seen, 30, message='the reload')
    enabled = modules(ros_env, 'enable', 'alpha')
    assert (enabled.returncode, enabled.stdout) == (
        0, 'enable alpha: done: alpha is active\n'), enabled.stderr
    seen = reloads(kernel)
    edit(tmp_path, mods, ['alpha', 'beta'])
    support.wait_for(lambda: reloads(kernel) > seen, 30, message='the reload')
    assert module_states(probe) == {'alpha': 'active', 'beta': 'active'}
    assert len(events_of(marker, 'alpha', 'activated')) == 4
    assert len(events_of(marker, 'alpha', 'deactivated')) == 3
