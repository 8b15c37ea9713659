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

"""flake8 over the package, as in `ros2 pkg create --build-type ament_python`."""

import pathlib

from ament_flake8.main import main_with_errors
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    paths = [str(ROOT / p) for p in ('src', 'test', 'launch', 'bench', 'setup.py')
             if (ROOT / p).exists()]
    rc, errors = main_with_errors(
        argv=['--config', str(ROOT / '.flake8')] + paths)
    assert rc == 0, 'Found %d code style errors / warnings:\n' % len(errors) + \
        '\n'.join(errors)
