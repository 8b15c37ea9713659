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

"""No file in the repository holds a merge's conflict markers."""

import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MARKER = re.compile(r'^(<{7} |>{7} |={7}$)', re.M)


@pytest.mark.linter
def test_no_tracked_file_holds_conflict_markers():
    files = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split('\0')
    found = []
    for name in filter(None, files):
        path = ROOT / name
        if not path.is_file() or path.is_symlink() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_bytes().decode('utf-8', errors='replace')
        found += [f'{name}:{text.count(chr(10), 0, m.start()) + 1}'
                  for m in MARKER.finditer(text)]
    assert not found, 'conflict markers left by a merge:\n' + '\n'.join(found)
