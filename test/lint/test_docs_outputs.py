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

"""Commands shown in README.md and docs/audit.md write their output outside the checkout."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUTPUT = re.compile(r'unity-kernel export\b[^\n`]*?\s-o\s+(\S+)')


@pytest.mark.linter
@pytest.mark.parametrize('doc', ['README.md', 'docs/audit.md'])
def test_an_export_example_run_from_the_repository_leaves_no_untracked_file(doc):
    outputs = OUTPUT.findall((ROOT / doc).read_text())
    assert outputs, f'no export example in {doc}'
    inside = [o for o in outputs if not o.startswith(('~/', '/', '$'))]
    assert inside == [], f'{doc}: export examples writing into the working directory: {inside}'
