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

"""Every Python source file carries the Apache-2.0 license header."""

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
HEADER = (ROOT / 'scripts' / 'license-header.txt').read_text().splitlines()


def _python_files():
    for top in ('src', 'test', 'launch', 'bench', 'modules'):
        base = ROOT / top
        if base.exists():
            yield from sorted(p for p in base.rglob('*.py') if '__pycache__' not in p.parts)
    yield ROOT / 'setup.py'


@pytest.mark.linter
@pytest.mark.copyright
def test_copyright():
    missing = []
    for path in _python_files():
        lines = path.read_text().splitlines()
        body = lines[1:] if lines and lines[0].startswith('#!') else lines
        if body[1:len(HEADER)] != HEADER[1:] or not body[0].startswith('# Copyright '):
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, 'files without the license header:\n' + '\n'.join(missing)
