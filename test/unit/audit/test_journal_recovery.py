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
"""A damaged journal opens, keeps every intact record, and moves the damage aside."""

import json
import logging
import os
import struct
import time
import zlib

import pytest

from unity_kernel_core.audit.journal import Journal, JournalError, MAGIC_V1

ERRORS = []


@pytest.fixture(autouse=True)
def errors():
    """Capture the ERRORs of the files logger (a handler on the exact logger)."""
    handler = logging.Handler(logging.ERROR)
    handler.emit = ERRORS.append
    logger = logging.getLogger('unity_kernel.files')
    logger.addHandler(handler)
    ERRORS.clear()
    yield ERRORS
    logger.removeHandler(handler)


def record(i):
    return b'record-%05d|' % i + bytes([i % 256]) * 40


def journal_of(tmp_path, n, segment_bytes=1 << 20):
    journal = Journal(tmp_path / 'j', max_bytes=1 << 24, segment_bytes=segment_bytes)
    assert journal.append([record(i) for i in range(n)]) == n
    journal.close()
    return tmp_path / 'j'


def read_all(journal):
    out = []
    while journal.pending:
        batch, cursor = journal.read(1000)
        assert batch
        out += batch
        journal.commit(cursor)
    return out


def segments(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith('seg-'))


def test_four_flipped_bytes_mid_segment_lose_only_the_damaged_record(tmp_path):
    directory = journal_of(tmp_path, 300)
    [seg] = directory.glob('seg-*.jrn')
    data = bytearray(seg.read_bytes())
    at = data.index(record(150)) + 20
    data[at:at + 4] = bytes(b ^ 0xFF for b in data[at:at + 4])
    seg.write_bytes(bytes(data))
    journal = Journal(directory, max_bytes=1 << 24)
    assert journal.pending == 299 and journal.damaged == 1
    assert read_all(journal) == [record(i) for i in range(300) if i != 150]
    assert len(ERRORS) == 1
    message = ERRORS[0].getMessage()
    assert str(seg) in message and '299 intact record(s) recovered (149 after the damage)' in \
        message
    assert [p.name for p in directory.glob('seg-*.jrn.damaged-*')]


def test_a_garbage_segment_is_moved_aside_and_the_others_are_read(tmp_path):
    directory = journal_of(tmp_path, 200, segment_bytes=4096)
    names = segments(directory)
    garbage = directory / names[1]
    lost = garbage.read_bytes().count(b'record-')
    garbage.write_bytes(os.urandom(3000))
    journal = Journal(directory, max_bytes=1 << 24)
    got = read_all(journal)
    assert len(got) == 200 - lost and got == sorted(got)
    assert len(ERRORS) == 1 and str(garbage) in ERRORS[0].getMessage()


def test_a_directory_named_like_a_segment_is_moved_aside(tmp_path):
    directory = journal_of(tmp_path, 10)
    (directory / 'seg-000000000005.jrn').mkdir()
    journal = Journal(directory, max_bytes=1 << 24)
    assert read_all(journal) == [record(i) for i in range(10)]
    assert (len(ERRORS), journal.damaged) == (1, 1)


@pytest.mark.parametrize('content', [b'', b'UKJ2', b'not a segment at all'])
def test_a_stray_segment_numbered_999999999999_neither_blocks_nor_breaks_the_order(
        tmp_path, content):
    directory = journal_of(tmp_path, 10)
    (directory / 'seg-999999999999.jrn').write_bytes(content)
    journal = Journal(directory, max_bytes=1 << 24, segment_bytes=1024)
    assert journal.append([record(i) for i in range(10, 60)]) == 50  # past seg-999999999999
    journal.close()
    reopened = Journal(directory, max_bytes=1 << 24, segment_bytes=1024)
    assert read_all(reopened) == [record(i) for i in range(60)]


def test_a_segment_symlinked_to_dev_zero_is_refused_without_reading_it(tmp_path):
    directory = journal_of(tmp_path, 10)
    (directory / 'seg-000000000007.jrn').symlink_to('/dev/zero')
    started = time.monotonic()
    journal = Journal(directory, max_bytes=1 << 24)
    assert time.monotonic() - started < 5
    assert read_all(journal) == [record(i) for i in range(10)]
    assert len(ERRORS) == 1 and 'symlink' in ERRORS[0].getMessage()


@pytest.mark.parametrize('cursor', [b'{"segment": 1, "offs', b'\xff' * 10,
                                    json.dumps({'segment': 1, 'offset': 7}).encode(),
                                    json.dumps({'segment': 99, 'offset': 4}).encode()])
def test_a_damaged_cursor_is_moved_aside_and_reading_starts_over(tmp_path, cursor):
    directory = journal_of(tmp_path, 20)
    journal = Journal(directory, max_bytes=1 << 24)
    batch, position = journal.read(5)
    journal.commit(position)  # the cursor file now says 5 were delivered
    journal.close()
    (directory / 'cursor').write_bytes(cursor)
    reopened = Journal(directory, max_bytes=1 << 24)
    assert read_all(reopened) == [record(i) for i in range(20)]  # the 5 again: duplicates
    assert len(ERRORS) == 1 and 'cursor' in ERRORS[0].getMessage()


def test_a_record_changed_while_open_is_repaired_and_the_others_kept(tmp_path):
    directory = journal_of(tmp_path, 50)
    journal = Journal(directory, max_bytes=1 << 24)
    [seg] = directory.glob('seg-*.jrn')
    data = bytearray(seg.read_bytes())
    data[data.index(record(3)) + 2] ^= 0x01
    seg.write_bytes(bytes(data))
    with pytest.raises(JournalError, match='changed on disk'):
        journal.read(10)
    assert journal.repair() == 1
    assert read_all(journal) == [record(i) for i in range(50) if i != 3]


def test_a_segment_of_the_earlier_format_is_still_read_and_not_appended_to(tmp_path):
    directory = tmp_path / 'j'
    directory.mkdir(mode=0o700)
    old = directory / 'seg-000000000001.jrn'
    old.write_bytes(MAGIC_V1 + b''.join(struct.pack('<II', len(r), zlib.crc32(r)) + r
                                        for r in map(record, range(5))))
    os.chmod(old, 0o600)
    journal = Journal(directory, max_bytes=1 << 24)
    assert journal.pending == 5
    assert journal.append([record(5)]) == 1
    assert segments(directory) == ['seg-000000000001.jrn', 'seg-000000000002.jrn']
    assert read_all(journal) == [record(i) for i in range(6)]
