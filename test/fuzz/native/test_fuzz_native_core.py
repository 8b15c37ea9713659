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

"""
Fuzz: every entry point of the native core, through its Python binding.

The shared-memory ring is a trust boundary (another process of the user maps it; a crash
leaves it half written): whatever its header and records hold, the producer writes only
inside the data area and the packer (the writer's reader) either packs what the Python
reader reads or raises ValueError, never reading outside the mapping. Topic names, type
names and CDR payloads of any length (the lengths a malformed message may claim) either make
records the Python reader decodes to the same fields, or are refused. The hand-off keeps its
bounds whatever it is fed. Run under AddressSanitizer by ``make test-asan``.
"""

import struct

from hypothesis import assume, given, strategies as st
from native_support import (core, head_of, memory_ring, needs_core, packer, python_batch,
                            read_ring)
import pytest

from unity_kernel_core.audit.encoder import RingDecoder
from unity_kernel_core.audit.record import StreamKeys

pytestmark = needs_core

names = st.binary(min_size=1, max_size=300)
payloads = st.binary(max_size=3000)


@given(st.lists(st.tuples(st.integers(0, 4), names, names, payloads), max_size=40),
       st.integers(64, 8192))
def test_any_event_is_written_whole_or_refused_and_reads_back_the_same(events, capacity):
    mm = memory_ring(capacity)
    producer = core.Producer()
    producer.attach(mm)
    written = []
    for seq, (tier, topic, type_name, cdr) in enumerate(events, 1):
        done = producer.put_event(tier, topic, type_name, seq, 1700000000000_000000, cdr)
        assert done in (1, 0, -1)
        if done == 1:
            written.append((tier, topic, type_name, seq, cdr))
        elif done == 0:
            mm[24:32] = mm[16:24]  # the consumer releases what is there; read what was kept
            written = []
    records = read_ring(mm)
    assert len(records) == len(written)
    for record, (tier, topic, type_name, seq, cdr) in zip(records, written):
        assert record[1] == tier and record[-len(cdr) or len(record):] == cdr
        assert record[42:42 + len(topic)] == topic
    producer.detach()


@given(st.lists(st.tuples(st.integers(0, 4), st.text(min_size=1, max_size=40),
                          st.text(min_size=1, max_size=40), payloads), min_size=1,
                max_size=30))
def test_the_packer_packs_what_the_python_writer_would_send(events):
    mm = memory_ring(1 << 17)
    producer = core.Producer()
    producer.attach(mm)
    for seq, (tier, topic, type_name, cdr) in enumerate(events, 1):
        producer.put_event(tier, ('/' + topic).encode(), type_name.encode(), seq,
                           1700000000000_000000 + seq, cdr)
    records = read_ring(mm)
    data = packer().pack(mm, 0, 1000, 1 << 30, head_of())[0]
    assert data == python_batch(records)


@given(st.binary(min_size=64, max_size=2048), st.integers(0, 4096), st.integers(1, 100))
def test_any_mapping_is_a_ring_the_packer_reads_safely_or_refuses(raw, start, max_records):
    mm = memory_ring(len(raw))
    mm[64:] = raw
    mm[16:24] = min(len(raw), int.from_bytes(raw[:2], 'little')).to_bytes(8, 'little')
    try:
        n, end, _stop = packer().scan(mm, start, max_records, 1 << 30)
        packed = packer().pack(mm, start, max_records, 1 << 30, head_of())
    except ValueError:
        return  # a damaged ring is refused, never read past
    assert packed[2] == n and packed[3] == end


@given(st.binary(min_size=8, max_size=128))
def test_any_header_is_a_ring_or_refused(header):
    mm = memory_ring(256)
    mm[:len(header)] = header
    producer = core.Producer()
    try:
        producer.attach(mm)
    except ValueError:
        return
    for seq in range(1, 20):  # whatever the header said, writing stays inside the mapping
        assert producer.put_event(2, b'/x', b'y', seq, 0, b'z' * seq) in (1, 0, -1)
    producer.detach()


@given(st.lists(st.tuples(st.integers(0, 2 ** 32 - 1), st.binary(max_size=200)),
                max_size=50),
       st.sampled_from([0, 1, 2]), st.integers(1, 20), st.integers(1, 2000))
def test_the_handoff_keeps_its_bounds_whatever_it_is_fed(items, policy, max_n, max_bytes):
    handoff = core.Handoff(policy, max_n, max_bytes, 0.0)
    for sub, data in items:
        handoff.push(sub, 1, 2, 3, data)
        stats = handoff.stats()
        assert stats['depth'] <= max_n and stats['bytes'] <= max_bytes
    taken = handoff.take(100, 0.0)
    assert len(taken) == stats['depth'] if items else taken == []
    assert all(len(item[4]) <= max_bytes for item in taken)


@given(st.binary(max_size=64))
def test_any_id_and_sequence_arguments_are_numbers_or_refused(junk):
    producer = core.Producer()
    values = struct.unpack(f'{len(junk) // 8}q', junk[:len(junk) // 8 * 8])
    for value in values:
        try:
            producer.set_next(value)
        except (ValueError, OverflowError):
            pass
        try:
            producer.advance_clock((value, value))
        except (ValueError, OverflowError, TypeError):
            pass
    assume(values)
    assert producer.last >= 0


def test_a_record_with_lengths_that_do_not_add_up_is_refused_by_the_packer():
    mm = memory_ring(1024)
    producer = core.Producer()
    producer.attach(mm)
    producer.put_event(2, b'/a', b't', 1, 0, b'12345')
    records = read_ring(mm)
    assert RingDecoder(StreamKeys('unity')).decode(records)
    mm[64 + 4 + 6:64 + 4 + 10] = (9999).to_bytes(4, 'little')  # the cdr length field lies
    with pytest.raises(ValueError, match='do not add up'):
        packer().pack(mm, 0, 10, 1 << 30, head_of())
