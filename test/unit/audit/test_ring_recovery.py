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
"""A damaged writer ring: refused or read as far as it can be, never a crash, never silent."""

import os
import struct

import pytest

from unity_kernel_core.audit.counters import WriterCounts
from unity_kernel_core.audit.encoder import EntryEncoder, find_record
from unity_kernel_core.audit.record import StreamKeys
from unity_kernel_core.audit.ring import FRAME, recover, Ring, RingError
from unity_kernel_core.bus.events import Event, Tier
from unity_kernel_core.config.kernel_config import parse_config
from unity_kernel_core.errors import StateFileError

CAPACITY = 4096
ENCODER = EntryEncoder(StreamKeys('unity'), parse_config('').routes, WriterCounts())


def event(i, size=None):
    """Return the ring record the tap makes of event ``i`` (a CDR of ``size`` bytes)."""
    cdr = bytes([i % 256]) * (i % 13 + 1 if size is None else size)
    e = Event(f'/t{i % 3}', 'std_msgs/msg/String', Tier.NORMAL, i + 1, cdr=cdr,
              stamp_ns=1_000_000_000 + i)
    return ENCODER.topic_spec(e).record_head(e, len(cdr)) + cdr


def filled(tmp_path, n=40, released=0):
    """Return a ring file with ``n`` events (the first ``released`` consumed), its records."""
    ring = Ring.create(tmp_path / 'ring', CAPACITY)
    records = [event(i) for i in range(n)]
    for record in records:
        assert ring.put((record,))
    if released:
        _taken, position = ring.peek(released)
        ring.release(position)
    ring.close()
    return tmp_path / 'ring', records[released:]


def poke(path, offset, data):
    with open(path, 'r+b') as f:
        f.seek(offset)
        f.write(data)


def offset_of(path, record):
    return path.read_bytes().index(record) - FRAME


def open_ring(path):
    return Ring.open(path, find_record)


def test_a_bad_record_length_loses_that_record_only(tmp_path):
    path, records = filled(tmp_path)
    poke(path, offset_of(path, records[10]), struct.pack('<I', 999_999))
    ring = open_ring(path)
    got, position = ring.peek(1000)
    assert got == records[:10] + records[11:]
    assert ring.damage.places == 1 and position == ring.head
    assert recover(path, 1 << 20, find_record).records == records[:10] + records[11:]


def test_without_a_finder_a_damaged_ring_is_skipped_to_its_head(tmp_path):
    path, records = filled(tmp_path)
    poke(path, offset_of(path, records[10]) + 0, struct.pack('<I', 999_999))
    ring = Ring.open(path)
    got, position = ring.peek(1000)
    assert got == records[:10] and ring.damage.places == 1 and position == ring.head


@pytest.mark.parametrize('damage, problem', [
    (lambda p: poke(p, 0, b'garbage!'), 'bad magic'),
    (lambda p: poke(p, 16, struct.pack('<Q', 5)), 'behind tail'),  # head < tail
    (lambda p: poke(p, 16, struct.pack('<Q', 10 * CAPACITY)), 'past tail'),
])
def test_a_damaged_header_is_refused_and_every_intact_record_recovered(
        tmp_path, damage, problem):
    path, records = filled(tmp_path, released=5)
    damage(path)
    with pytest.raises(RingError, match=problem):
        Ring.open(path)
    found = recover(path, 1 << 20, find_record)
    assert problem in found.problem and not found.in_order
    assert set(records) <= set(found.records)  # and the 5 released: Redis refuses them again


def test_a_truncated_ring_gives_the_records_still_in_it(tmp_path):
    path, records = filled(tmp_path)
    cut = offset_of(path, records[20]) + 3
    os.truncate(path, cut)
    with pytest.raises(RingError, match='does not match the file size'):
        Ring.open(path)
    assert recover(path, 1 << 20, find_record).records == records[:20]


def test_a_directory_symlink_or_fifo_in_a_rings_place_is_never_read(tmp_path):
    (tmp_path / 'dir').mkdir()
    os.mkfifo(tmp_path / 'fifo')
    (tmp_path / 'link').symlink_to('/dev/zero')
    for name in ('dir', 'fifo', 'link'):
        with pytest.raises(StateFileError):
            Ring.open(tmp_path / name)
        with pytest.raises(StateFileError):
            recover(tmp_path / name, 1 << 20)


def test_a_ring_is_made_with_o_excl_never_over_anything(tmp_path):
    (tmp_path / 'victim').write_bytes(b'precious')
    (tmp_path / 'ring').symlink_to(tmp_path / 'victim')
    with pytest.raises(RingError, match='exists'):
        Ring.create(tmp_path / 'ring', CAPACITY)
    assert (tmp_path / 'victim').read_bytes() == b'precious'


def test_a_consumer_resyncs_after_damage_that_spans_the_wrap(tmp_path):
    ring = Ring.create(tmp_path / 'ring', 1000)
    ring.finder = find_record
    records = [event(i, 40) for i in range(14)]
    lap = 1000 // (FRAME + len(records[0]))  # records in one pass of the data area
    for record in records[:lap]:
        assert ring.put((record,))
    _taken, position = ring.peek(4)
    ring.release(position)
    for record in records[lap:lap + 4]:  # these wrap to the start of the data area
        assert ring.put((record,))
    sent = records[4:lap + 4]
    first = lap - 4  # the first record after the wrap gets a bad length
    assert offset_of(tmp_path / 'ring', sent[first]) < offset_of(tmp_path / 'ring', sent[0])
    poke(tmp_path / 'ring', offset_of(tmp_path / 'ring', sent[first]), b'\xff\xff\xff\x7f')
    got, _position = ring.peek(1000)
    assert got == sent[:first] + sent[first + 1:] and ring.damage.places == 1


def test_a_length_damaged_into_the_skip_marker_never_moves_past_the_head(tmp_path):
    path, records = filled(tmp_path, n=3)
    poke(path, offset_of(path, records[2]), b'\xff\xff\xff\xff')  # found by the ring fuzzer
    ring = open_ring(path)
    got, position = ring.peek(1000)
    assert got == records[:2] and position == ring.head and ring.damage.places == 1
