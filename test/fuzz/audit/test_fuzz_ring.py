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
Fuzz: the writer ring's records, headers and damage never stop or fool its consumer.

Ring records (decoded by the writer process), ring headers (a ring file whose 64-byte head
holds anything), and damaged lengths in its data area: opening is refused with a RingError
or succeeds, reading always ends at the head, and nothing is made up: every entry that
decodes is one the tap wrote.
"""

import pathlib
import struct
import tempfile

from hypothesis import example, given, strategies as st

from unity_kernel_core.audit.counters import WriterCounts
from unity_kernel_core.audit.encoder import EntryEncoder, find_record, RingDecoder
from unity_kernel_core.audit.record import StreamKeys
from unity_kernel_core.audit.ring import FRAME, HEADER, MAGIC, recover, Ring, RingError
from unity_kernel_core.bus.events import Event, Tier
from unity_kernel_core.config.kernel_config import parse_config

KEYS = StreamKeys('unity')
ENCODER = EntryEncoder(KEYS, parse_config('').routes, WriterCounts())
CAPACITY = 2048

payloads = st.binary(max_size=60)
topics = st.sampled_from(['/a', '/sensors/x', '/safety/estop'])


def event_record(i, topic, cdr):
    event = Event(topic, 'std_msgs/msg/String', Tier(i % 5), i + 1, cdr=cdr,
                  stamp_ns=1_700_000_000_000_000_000 + i)
    return ENCODER.topic_spec(event).record_head(event, len(cdr)) + cdr


def decoded(records):
    decoder = RingDecoder(KEYS)
    entries = decoder.decode(records)
    return entries, decoder.malformed


@given(st.lists(st.one_of(st.binary(max_size=120),
                          st.builds(event_record, st.integers(0, 1000), topics, payloads)),
                max_size=20))
def test_any_ring_record_decodes_to_an_entry_or_is_counted_malformed(records):
    entries, malformed = decoded(records)
    assert len(entries) + malformed == len(records)
    for entry in entries:
        assert entry.key.startswith('unity:')


def filled_ring(directory, cdrs, released):
    path = pathlib.Path(directory) / 'ring'
    ring = Ring.create(path, CAPACITY)
    written = []
    for i, cdr in enumerate(cdrs):
        record = event_record(i, '/a', cdr)
        if not ring.put((record,)):
            break
        written.append(record)
    taken, position = ring.peek(released)
    ring.release(position)
    ring.close()
    return path, written


@given(st.lists(payloads, max_size=30), st.integers(0, 10),
       st.tuples(st.sampled_from([MAGIC, b'UKRING02', b'\0' * 8]),
                 st.integers(0, 2 ** 64 - 1), st.integers(0, 2 ** 64 - 1),
                 st.integers(0, 2 ** 64 - 1), st.binary(min_size=32, max_size=32)))
def test_any_ring_header_is_opened_or_refused_and_recovery_makes_nothing_up(
        cdrs, released, header):
    with tempfile.TemporaryDirectory() as directory:
        path, written = filled_ring(directory, cdrs, released)
        magic, capacity, head, tail, rest = header
        with open(path, 'r+b') as f:
            f.write(magic + struct.pack('<QQQ', capacity, head, tail) + rest)
        try:
            ring = Ring.open(path, find_record)
        except RingError:
            pass
        else:
            records, position = ring.peek(10_000)
            assert position <= ring.head
            ring.close()
        found = recover(path, 1 << 20, find_record)
        entries, _malformed = decoded(found.records)
        originals, _none = decoded(written)
        assert all(entry in originals for entry in entries)


@given(st.lists(payloads, min_size=1, max_size=30),
       st.lists(st.tuples(st.integers(0, 29), st.integers(0, 2 ** 32 - 1)), max_size=4))
@example(cdrs=[b''], damage=[(0, 0xFFFFFFFF)])  # the skip marker: a skip past the head
def test_damaged_lengths_never_stop_the_consumer_nor_make_entries_up(cdrs, damage):
    with tempfile.TemporaryDirectory() as directory:
        path, written = filled_ring(directory, cdrs, 0)
        data = path.read_bytes()
        starts = []
        at = HEADER
        for record in written:
            starts.append(at)
            at += FRAME + len(record)
        with open(path, 'r+b') as f:
            for index, length in damage:
                if index < len(starts):
                    f.seek(starts[index])
                    f.write(struct.pack('<I', length))
        ring = Ring.open(path, find_record)
        got = []
        position = None
        while True:
            records, position = ring.peek(7, start=position)
            if not records:
                break
            got += records
        assert position == ring.head
        first = min((i for i, _n in damage if i < len(starts)), default=len(written))
        assert got[:first] == written[:first]  # everything before the damage, exactly
        entries, _malformed = decoded(got)
        originals, _none = decoded(written)
        assert all(entry in originals for entry in entries)
        assert data[:HEADER] == path.read_bytes()[:HEADER]
        ring.close()
