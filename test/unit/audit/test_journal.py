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

"""The mirror's journal and record codec: order, bound, torn tails, malformed input."""

import pytest

from unity_kernel_core.audit.journal import Journal
from unity_kernel_core.audit.record import (AuditEntryError, AuditRecord, IdClock, parse_id,
                                            StreamEntry, StreamKeys)


def entry(i, blob=b'\x00\x01cdr'):
    return StreamEntry(f'u:topic:/t{i % 3}', f'{1000 + i}-{i}',
                       {'topic': f'/t{i % 3}', 'seq': str(i), 'cdr': blob})


def test_journal_returns_records_in_order_across_segments_and_reopen(tmp_path):
    journal = Journal(tmp_path / 'j', max_bytes=1 << 20, segment_bytes=1024)
    records = [entry(i).encode() for i in range(200)]
    assert journal.append(records) == 200
    assert len(list((tmp_path / 'j').glob('seg-*.jrn'))) > 3
    got, cursor = journal.read(50)
    assert got == records[:50]
    journal.commit(cursor)
    journal.close()
    reopened = Journal(tmp_path / 'j', max_bytes=1 << 20, segment_bytes=1024)
    assert reopened.pending == 150
    assert StreamEntry.decode(reopened.last_record()) == entry(199)
    rest = []
    while reopened.pending:
        batch, cursor = reopened.read(64)
        rest += batch
        reopened.commit(cursor)
    assert rest == records[50:]
    assert list((tmp_path / 'j').iterdir()) == []


def test_journal_refuses_what_exceeds_its_bound_and_keeps_the_prefix(tmp_path):
    journal = Journal(tmp_path / 'j', max_bytes=4096, segment_bytes=1024)
    records = [entry(i, b'x' * 100).encode() for i in range(100)]
    stored = journal.append(records)
    assert 0 < stored < 100
    assert journal.size_bytes <= 4096
    got, _ = journal.read(1000)
    assert got == records[:stored]


def test_journal_cuts_a_torn_record_left_by_a_crash(tmp_path):
    journal = Journal(tmp_path / 'j', max_bytes=1 << 20)
    journal.append([entry(i).encode() for i in range(10)])
    journal.close()
    seg = sorted((tmp_path / 'j').glob('seg-*.jrn'))[-1]
    data = seg.read_bytes()
    seg.write_bytes(data[:-5])  # the last record is torn
    reopened = Journal(tmp_path / 'j', max_bytes=1 << 20)
    assert reopened.pending == 9
    got, _ = reopened.read(100)
    assert [StreamEntry.decode(r) for r in got] == [entry(i) for i in range(9)]
    assert reopened.append([entry(9).encode()]) == 1
    assert reopened.pending == 10


def test_stream_entry_codec_round_trip_and_malformed_records():
    e = entry(5, bytes(range(256)))
    assert StreamEntry.decode(e.encode()) == e
    with pytest.raises(AuditEntryError, match='malformed'):
        StreamEntry.decode(b'\x05\x00')
    with pytest.raises(AuditEntryError, match='truncated'):
        StreamEntry.decode(e.encode()[:-10])


def test_id_clock_is_strictly_increasing_when_the_clock_steps_back_or_seq_restarts():
    clock = IdClock()
    ids = [clock.issue(5_000_000_000, 1), clock.issue(5_000_000_000, 2),
           clock.issue(4_000_000_000, 3),  # wall clock stepped back
           clock.issue(5_000_000_000, 1)]  # seq restarted
    parsed = [parse_id(i) for i in ids]
    assert parsed == sorted(parsed) and len(set(parsed)) == 4
    assert ids[0] == '5000-1'


@pytest.mark.parametrize('fields, message', [
    ({b'topic': b'/a', b'type': b'std_msgs/msg/String'}, 'missing field'),
    ({b'topic': b'/a', b'type': b't', b'tier': b'NORMAL', b'seq': b'x', b'stamp_ns': b'1',
      b'cdr': b''}, 'must be integers'),
    ({b'topic': b'a', b'type': b't', b'tier': b'NORMAL', b'seq': b'1', b'stamp_ns': b'1',
      b'cdr': b''}, 'not a ROS topic'),
    ({b'topic': b'\xff', b'type': b't', b'tier': b'NORMAL', b'seq': b'1', b'stamp_ns': b'1',
      b'cdr': b''}, 'not UTF-8'),
])
def test_malformed_stream_entries_are_reported_with_entry_and_field(fields, message):
    with pytest.raises(AuditEntryError, match=message) as info:
        AuditRecord.from_entry(b'1-1', fields, where='u:topic:/a')
    assert '1-1' in str(info.value)


def test_stream_keys_layout():
    keys = StreamKeys('unity')
    assert keys.topic('/safety/estop') == 'unity:topic:/safety/estop'
    assert keys.topic_of('unity:topic:/safety/estop') == '/safety/estop'
    with pytest.raises(AuditEntryError.__mro__[1]):
        keys.topic_of('other:topic:/x')


def test_a_record_changed_on_disk_is_reported_and_can_be_moved_aside(tmp_path):
    from unity_kernel_core.audit.journal import JournalError
    journal = Journal(tmp_path / 'j', max_bytes=1 << 20)
    journal.append([entry(i).encode() for i in range(5)])
    seg = sorted((tmp_path / 'j').glob('seg-*.jrn'))[0]
    data = bytearray(seg.read_bytes())
    data[-3] ^= 0xFF
    seg.write_bytes(bytes(data))
    with pytest.raises(JournalError, match='changed on disk'):
        journal.read(10)
    moved = journal.quarantine()
    assert journal.pending == 0 and list(moved.glob('seg-*.jrn'))
    assert journal.append([entry(9).encode()]) == 1
    assert [StreamEntry.decode(r) for r in journal.read(10)[0]] == [entry(9)]
