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
"""State files: no symlink followed, owner and mode checked, bounded reads, quarantine."""

import logging
import os
import stat

import pytest

from unity_kernel_core.common import files
from unity_kernel_core.common.files import (create_private, open_or_create_private,
                                            open_private, private_subdir, quarantine,
                                            read_private, write_private)
from unity_kernel_core.errors import ConfigError, StateFileError
from unity_kernel_core.paths import resolve_path

NOBODY = 65534


@pytest.fixture
def errors():
    """Capture the ERRORs of the files logger (a handler on the exact logger)."""
    records = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append
    logger = logging.getLogger('unity_kernel.files')
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_a_planted_symlink_is_never_followed_when_a_state_file_is_made(tmp_path):
    victim = tmp_path / 'victim'
    victim.write_bytes(b'precious')
    planted = tmp_path / 'ring.new'
    planted.symlink_to(victim)
    with pytest.raises(FileExistsError):
        create_private(planted)
    with pytest.raises(StateFileError, match='symlink'):
        open_private(planted, os.O_RDWR)
    with pytest.raises(StateFileError, match='symlink'):
        open_or_create_private(planted)
    write_private(tmp_path / 'record', b'new')  # replaces, never writes through a link
    (tmp_path / 'link').symlink_to(victim)
    write_private(tmp_path / 'link', b'overwritten?')
    assert victim.read_bytes() == b'precious'
    assert not (tmp_path / 'link').is_symlink()


@pytest.mark.skipif(os.geteuid() != 0, reason='giving a file to another user needs root')
def test_another_users_file_or_one_others_may_write_is_refused(tmp_path):
    theirs = tmp_path / 'theirs'
    theirs.write_bytes(b'forged')
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(StateFileError, match=f'owned by uid {NOBODY}'):
        open_private(theirs)
    open_to_all = tmp_path / 'open'
    open_to_all.write_bytes(b'x')
    os.chmod(open_to_all, 0o666)
    with pytest.raises(StateFileError, match='writable by group or others'):
        read_private(open_to_all, 100)


def test_a_fifo_or_a_directory_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / 'fifo')
    with pytest.raises(StateFileError, match='FIFO'):
        open_private(tmp_path / 'fifo')
    (tmp_path / 'dir').mkdir()
    with pytest.raises(StateFileError, match='directory'):
        open_private(tmp_path / 'dir')


def test_reads_are_bounded(tmp_path):
    big = tmp_path / 'big'
    big.write_bytes(b'x' * 5000)
    assert read_private(big, 5000) == b'x' * 5000
    with pytest.raises(StateFileError, match='more than the 4096'):
        read_private(big, 4096)


def test_quarantine_moves_the_file_aside_with_one_error_and_never_follows_it(tmp_path, errors):
    target = tmp_path / 'victim'
    target.write_bytes(b'keep me')
    link = tmp_path / 'seg-1.jrn'
    link.symlink_to(target)
    moved = quarantine(link, 'audit journal', 'a symlink', 'nothing read from it')
    assert moved is not None and moved.is_symlink() and moved.name.startswith('seg-1.jrn.damaged-')
    assert target.read_bytes() == b'keep me' and not os.path.lexists(link)
    assert len(errors) == 1
    text = errors[0].getMessage()
    assert str(link) in text and str(moved) in text and 'nothing read from it' in text
    link.symlink_to(target)
    assert quarantine(link, 'audit journal', 'again', 'nothing') != moved  # never overwritten


def test_a_private_subdir_replaces_a_symlink_or_file_and_tightens_its_own(tmp_path, errors):
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    os.chmod(elsewhere, 0o755)  # whatever umask an earlier test's kernel left in this process
    (tmp_path / 'journal').symlink_to(elsewhere)
    made = private_subdir(tmp_path / 'journal', 'journal directory')
    assert made.is_dir() and not made.is_symlink()
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755  # the link's target untouched
    assert len(errors) == 1
    (tmp_path / 'loose').mkdir(mode=0o777)
    os.chmod(tmp_path / 'loose', 0o777)
    private_subdir(tmp_path / 'loose', 'x')
    assert stat.S_IMODE((tmp_path / 'loose').stat().st_mode) == 0o700
    assert len(errors) == 1  # its own directory: made private, not moved aside


def test_a_path_holding_a_nul_is_a_config_error_naming_it():
    """Regression: os.open raised a bare ValueError ("embedded null byte") out of read_text."""
    with pytest.raises(ConfigError, match='a path cannot hold a NUL character'):
        files.read_text('/etc/host\0s', 1024)
    with pytest.raises(FileNotFoundError, match='cannot hold a NUL'):
        resolve_path('package://unity_kernel/a\0b', None)
