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

"""The layers of src/ as import-linter contracts (``.importlinter``): kept, and really checked."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = ROOT / '.importlinter'


def lint_imports(src: pathlib.Path) -> subprocess.CompletedProcess:
    """Run lint-imports with ``.importlinter`` over the packages under ``src``."""
    env = dict(os.environ, PYTHONPATH=str(src))
    return subprocess.run(
        [sys.executable, '-c', 'import sys; from importlinter.cli import lint_imports_command; '
         'sys.exit(lint_imports_command())', '--no-cache', '--no-logo', str(CONFIG)],
        cwd=src, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.linter
def test_import_contracts_are_kept():
    result = lint_imports(ROOT / 'src')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'broken' in result.stdout and '0 broken' in result.stdout, result.stdout


@pytest.mark.linter
@pytest.mark.parametrize('module, injected, message', [
    ('unity_sensors/capture.py', 'import unity_kernel_core.supervision.restart_policy',
     'unity_sensors is not allowed to import unity_kernel_core.supervision'),
    ('unity_kernel_core/cli/verbs/dlq.py', 'import unity_kernel_core.audit.record',
     'unity_kernel_core.cli is not allowed to import unity_kernel_core.audit'),
    ('unity_llm_bridge/node.py', 'import unity_kernel_core.intake.follower',
     'unity_llm_bridge is not allowed to import unity_kernel_core.intake.follower'),
    ('unity_kernel_core/bus/events.py', 'import rclpy',
     'unity_kernel_core.bus is not allowed to import rclpy'),
    ('unity_kernel_core/config/fields.py', 'import unity_kernel_core.kernel.node',
     'unity_kernel_core.config.fields -> unity_kernel_core.kernel.node'),
    ('unity_kernel_core/audit/record.py', 'import unity_kernel_core.supervision.machine',
     'unity_kernel_core.audit.record -> unity_kernel_core.supervision.machine'),
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, injected, message):
    src = tmp_path / 'src'
    shutil.copytree(ROOT / 'src', src, ignore=shutil.ignore_patterns('__pycache__'))
    target = src / module
    target.write_text(target.read_text() + f'\n{injected}  # injected by the test\n')
    result = lint_imports(src)
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in ' '.join(result.stdout.split()), result.stdout
