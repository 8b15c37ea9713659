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

"""Every subscription, timer, service and executor turn of src/ goes through ros.callbacks."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
GUARDED = ROOT / 'src' / 'unity_kernel_core' / 'ros' / 'callbacks.py'
UNGUARDED = {'create_subscription', 'create_timer', 'create_service', 'spin_once', 'spin'}


def unguarded_calls(root):
    for path in sorted(root.rglob('*.py')):
        if path == GUARDED:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in UNGUARDED
                    and not (isinstance(node.func.value, ast.Name)
                             and node.func.value.id == 'callbacks')):
                yield f'{path.relative_to(root)}:{node.lineno}: .{node.func.attr}()'


@pytest.mark.linter
def test_no_callback_is_made_or_spun_outside_the_guarded_path():
    found = list(unguarded_calls(ROOT / 'src'))
    assert not found, ('use unity_kernel_core.ros.callbacks (subscribe, timer, service, '
                       'spin_once) instead:\n' + '\n'.join(found))


@pytest.mark.linter
def test_the_check_finds_an_unguarded_subscription(tmp_path):
    (tmp_path / 'bad.py').write_text('node.create_subscription(T, "/x", cb, 10)\n')
    assert list(unguarded_calls(tmp_path)) == ['bad.py:1: .create_subscription()']
