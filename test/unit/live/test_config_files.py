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

"""The files the flow editor writes: atomic replace, the previous version, undo."""

import hashlib
import os

import pytest

from unity_kernel_core.errors import ConfigEditError
from unity_kernel_core.live.config_files import ConfigFiles, prev_path, read_file

ORIGINAL = b'# my comments\r\ntopics:   [{pattern: /a, tier: LOW}]  \n\xc3\xa9\n'


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def test_apply_keeps_the_previous_bytes_and_undo_restores_them_exactly(tmp_path):
    kernel, llm = tmp_path / 'kernel.yaml', tmp_path / 'llm.yaml'
    kernel.write_bytes(ORIGINAL)
    llm.write_bytes(b'routes: []\n')
    os.chmod(kernel, 0o640)
    files = ConfigFiles()
    paths = {'kernel': kernel, 'llm': llm}
    written = files.apply(paths, {'kernel': 'topics: []\n'}, {'kernel': _sha(ORIGINAL)})
    assert written == [kernel]
    assert kernel.read_bytes() == b'topics: []\n'
    assert prev_path(kernel).read_bytes() == ORIGINAL
    assert oct(os.stat(kernel).st_mode & 0o777) == oct(0o640)
    assert files.undo_available(paths) == [kernel]
    assert files.undo(paths) == [kernel]
    assert kernel.read_bytes() == ORIGINAL
    assert not prev_path(kernel).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['kernel.yaml', 'llm.yaml']
    with pytest.raises(ConfigEditError, match='nothing to undo') as caught:
        files.undo(paths)
    assert caught.value.conflict


def test_an_apply_is_refused_when_the_file_changed_since_it_was_read(tmp_path):
    kernel = tmp_path / 'kernel.yaml'
    kernel.write_bytes(ORIGINAL)
    with pytest.raises(ConfigEditError, match='changed on disk') as caught:
        ConfigFiles().apply({'kernel': kernel}, {'kernel': 'x: 1\n'}, {'kernel': 'f' * 64})
    assert caught.value.conflict
    assert kernel.read_bytes() == ORIGINAL and not prev_path(kernel).exists()


def test_undo_is_refused_when_the_file_changed_after_the_apply(tmp_path):
    kernel = tmp_path / 'kernel.yaml'
    kernel.write_bytes(ORIGINAL)
    files = ConfigFiles()
    files.apply({'kernel': kernel}, {'kernel': 'a: 1\n'}, {})
    kernel.write_bytes(b'a: 2\n')  # someone edits it by hand
    with pytest.raises(ConfigEditError, match='undo would discard that change'):
        files.undo({'kernel': kernel})
    assert kernel.read_bytes() == b'a: 2\n'


def test_only_the_last_apply_is_undone(tmp_path):
    kernel, llm = tmp_path / 'kernel.yaml', tmp_path / 'llm.yaml'
    kernel.write_bytes(b'k: 0\n')
    llm.write_bytes(b'l: 0\n')
    paths = {'kernel': kernel, 'llm': llm}
    files = ConfigFiles()
    files.apply(paths, {'llm': 'l: 1\n'}, {})
    files.apply(paths, {'kernel': 'k: 1\n'}, {})
    assert files.undo(paths) == [kernel]
    assert kernel.read_bytes() == b'k: 0\n' and llm.read_bytes() == b'l: 1\n'


def test_symlinks_other_files_and_huge_files_are_not_edited(tmp_path):
    target = tmp_path / 'real.yaml'
    target.write_bytes(b'a: 1\n')
    link = tmp_path / 'kernel.yaml'
    link.symlink_to(target)
    with pytest.raises(ConfigEditError, match='symbolic link'):
        read_file(link)
    with pytest.raises(ConfigEditError, match='not a regular file'):
        read_file(tmp_path)
    fifo = tmp_path / 'fifo'
    os.mkfifo(fifo)
    with pytest.raises(ConfigEditError, match='not a regular file'):
        read_file(fifo)  # never blocks
    big = tmp_path / 'big.yaml'
    big.write_bytes(b'#' * (1024 * 1024 + 1))
    with pytest.raises(ConfigEditError, match='larger than'):
        read_file(big)
    with pytest.raises(ConfigEditError, match='cannot read it'):
        read_file(tmp_path / 'missing.yaml')
    bad = tmp_path / 'bad.yaml'
    bad.write_bytes(b'\xff\xfe')
    with pytest.raises(ConfigEditError, match='not UTF-8'):
        read_file(bad).text
