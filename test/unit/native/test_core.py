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

"""The native core without ROS: producer, ring records, hand-off, packer."""

import threading
import time

from native_support import (core, head_of, memory_ring, needs_core, packer, python_batch,
                            read_ring)
import pytest

from unity_kernel_core import native
from unity_kernel_core.audit.encoder import EVENT_HEAD, KIND_EVENT, RingDecoder
from unity_kernel_core.audit.record import IdClock, StreamKeys
from unity_kernel_core.bus.event_bus import BusError, EventBus, LocalSequencer

pytestmark = needs_core


def test_producer_records_are_the_python_taps_records_with_the_same_entry_ids():
    mm = memory_ring(1 << 16)
    producer = core.Producer()
    producer.attach(mm, (1700000000000, 41))
    clock = IdClock((1700000000000, 41))
    expected = []
    with producer.lock:
        for i in range(20):
            seq = producer.next()
            stamp = 1700000000000_000000 + i * 100_000  # IDs bump past the seeded one
            cdr = bytes(range(i))
            assert producer.put_event(i % 5, b'/t/x', b'std_msgs/msg/String', seq, stamp,
                                      cdr) == 1
            ms, id_seq = clock.issue_pair(stamp, seq)
            expected.append(EVENT_HEAD.pack(KIND_EVENT, i % 5, 4, 19, i, seq, stamp, ms, id_seq)
                            + b'/t/xstd_msgs/msg/String' + cdr)
    assert read_ring(mm) == expected
    assert producer.last == 20 and producer.last_id == clock.last
    producer.detach()


def test_a_full_ring_refuses_a_record_and_a_record_larger_than_the_ring_never_fits():
    mm = memory_ring(400)  # a record of 100 CDR bytes takes 149 with its head and length
    producer = core.Producer()
    producer.attach(mm)
    assert producer.put_event(2, b'/a', b't', 1, 0, b'x' * 100) == 1
    assert producer.put_event(2, b'/a', b't', 2, 0, b'x' * 100) == 1
    assert producer.put_event(2, b'/a', b't', 3, 0, b'x' * 100) == 0  # no room now
    assert producer.put_event(2, b'/a', b't', 4, 0, b'x' * 400) == -1  # never
    mm[24:32] = mm[16:24]  # the consumer released everything
    assert producer.put_event(2, b'/a', b't', 5, 0, b'x' * 100) == 1  # wraps to the start
    assert [r[-100:] for r in read_ring(mm)] == [b'x' * 100]
    producer.detach()
    assert producer.put_event(2, b'/a', b't', 6, 0, b'') == -1  # no ring


def test_the_producer_refuses_a_mapping_that_is_no_ring_or_a_damaged_one():
    producer = core.Producer()
    mm = memory_ring(1024)
    mm[0:8] = b'NOTARING'
    with pytest.raises(ValueError, match='bad magic'):
        producer.attach(mm)
    mm = memory_ring(1024)
    mm[8:16] = (4096).to_bytes(8, 'little')
    with pytest.raises(ValueError, match='capacity'):
        producer.attach(mm)
    mm = memory_ring(1024)
    mm[24:32] = (10).to_bytes(8, 'little')  # tail past head
    with pytest.raises(ValueError, match='head and tail'):
        producer.attach(mm)
    with pytest.raises(BufferError):
        producer.attach(b'read-only bytes' * 10)


def test_a_damaged_tail_never_makes_the_producer_write_outside_the_ring():
    mm = memory_ring(512)
    producer = core.Producer()
    producer.attach(mm)
    for tail in (2 ** 63, 2 ** 64 - 1, 12345):  # another process scribbled on the header
        mm[24:32] = tail.to_bytes(8, 'little')
        assert producer.put_event(2, b'/a', b't', 1, 0, b'y' * 10) == 0
    producer.detach()


def test_next_needs_the_lock_and_the_sequence_only_moves_forward():
    producer = core.Producer()
    with pytest.raises(RuntimeError, match='lock'):
        producer.next()
    with producer.lock:
        with producer.lock:  # recursive: a tap may publish while the bus holds it
            assert producer.next() == 1
    producer.set_next(100)
    assert producer.last == 99
    with pytest.raises(ValueError, match='forward'):
        producer.set_next(50)


def test_the_bus_numbers_its_events_with_the_native_producer():
    producer = core.Producer()
    bus = EventBus(sequencer=producer)
    bus.start()
    try:
        seqs = [bus.publish('/a', 'x/msg/Y', i).seq for i in range(5)]
        assert seqs == [1, 2, 3, 4, 5] and bus.last_seq == 5
        bus.set_next_seq(10)
        assert bus.publish('/a', 'x/msg/Y', 0).seq == 10
        with pytest.raises(BusError, match='forward'):
            bus.set_next_seq(3)
    finally:
        bus.stop()
    assert native.is_producer(producer) and not native.is_producer(LocalSequencer())


def test_python_threads_and_the_lock_keep_ring_order_equal_to_sequence_order():
    mm = memory_ring(1 << 20)
    producer = core.Producer()
    producer.attach(mm)

    def publish(n):
        for _ in range(n):
            with producer.lock:
                seq = producer.next()
                assert producer.put_event(1, b'/p', b't', seq, time.time_ns(), b'z') == 1

    threads = [threading.Thread(target=publish, args=(500,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = RingDecoder(StreamKeys('unity')).decode(read_ring(mm))
    assert [int(e.fields['seq']) for e in entries] == list(range(1, 2001))
    ids = [tuple(map(int, e.entry_id.split('-'))) for e in entries]
    assert ids == sorted(ids) and len(set(ids)) == 2000


def test_handoff_bounds_and_policies():
    oldest = core.Handoff(core.POLICY_DROP_OLDEST, 3, 1 << 20)
    for i in range(5):
        assert oldest.push(1, i, 0, 0, b'a')
    assert [item[1] for item in oldest.take(10, 0)] == [2, 3, 4]
    newest = core.Handoff(core.POLICY_DROP_NEWEST, 3, 1 << 20)
    assert [newest.push(1, i, 0, 0, b'a') for i in range(5)] == [True] * 3 + [False] * 2
    assert newest.stats()['dropped'] == 2
    by_bytes = core.Handoff(core.POLICY_DROP_NEWEST, 100, 10)
    assert by_bytes.push(1, 0, 0, 0, b'x' * 8) and not by_bytes.push(1, 1, 0, 0, b'x' * 8)
    assert not by_bytes.push(1, 2, 0, 0, b'x' * 11)  # larger than the whole bound
    blocked = core.Handoff(core.POLICY_BLOCK, 1, 1 << 20, 0.05)
    assert blocked.push(1, 0, 0, 0, b'a')
    started = time.monotonic()
    assert not blocked.push(1, 1, 0, 0, b'a')  # waited for room up to the timeout
    assert time.monotonic() - started >= 0.04


def test_handoff_take_waits_without_the_gil_and_close_wakes_it():
    handoff = core.Handoff(core.POLICY_BLOCK, 10, 1 << 20)
    got = []
    thread = threading.Thread(target=lambda: got.append(handoff.take(5, 5.0)))
    thread.start()
    time.sleep(0.05)
    assert handoff.push(7, 1, 2, 3, b'payload')
    thread.join(2)
    assert got == [[(7, 1, 2, 3, b'payload')]]
    thread = threading.Thread(target=lambda: got.append(handoff.take(5, 5.0)))
    thread.start()
    handoff.close()
    thread.join(2)
    assert not thread.is_alive() and got[-1] == []
    assert not handoff.push(7, 2, 0, 0, b'late')


def test_the_packer_writes_the_bytes_the_python_writer_sends():
    mm = memory_ring(1 << 16)
    producer = core.Producer()
    producer.attach(mm)
    topics = [b'/safety/estop', b'/sensors/cam', b'/a/b']
    for i in range(30):
        producer.put_event(i % 5, topics[i % 3], b'std_msgs/msg/String', i + 1,
                           1700000000000_000000 + i, bytes([i]) * i)
    records = read_ring(mm)
    data, commands, count, end, last_id, last_seq = packer().pack(mm, 0, 100, 1 << 30,
                                                                  head_of())
    assert data == python_batch(records)
    assert (commands, count, last_seq) == (33, 30, 30)
    assert end == int.from_bytes(mm[16:24], 'little')
    assert packer().scan(mm, 0, 100, 1 << 30) == (30, end, 0)
    assert packer().pack(mm, end, 100, 1 << 30, head_of())[2] == 0


def test_the_packer_stops_before_a_record_that_is_no_event():
    mm = memory_ring(4096)
    producer = core.Producer()
    producer.attach(mm)
    producer.put_event(2, b'/a', b't', 1, 0, b'1')
    producer.put_record(b'\x01{"a dead letter": 1}')
    producer.put_event(2, b'/a', b't', 2, 0, b'2')
    count, position, stop = packer().scan(mm, 0, 100, 1 << 30)
    assert (count, stop) == (1, 1)
    assert packer().pack(mm, 0, 100, 1 << 30, head_of())[1:4] == (2, 1, position)


def test_a_missing_extension_leaves_the_python_path_and_says_why(monkeypatch):
    monkeypatch.setattr(native, '_loaded', {'_core': None, '_rcl': None})
    monkeypatch.setattr(native, '_why', {'_core': 'not built (test)'})
    assert native.core() is None and native.rcl() is None
    assert native.why_not('_rcl') == 'not built (test)'
    assert not native.is_producer(object())


def test_a_record_over_half_the_ring_waiting_at_its_end_gets_in_once_the_ring_drains():
    mm = memory_ring(1000)
    producer = core.Producer()
    producer.attach(mm)
    assert producer.put_event(2, b'/a', b't', 1, 0, b'x' * 500) == 1  # 549 + 4 bytes
    reader = read_ring(mm)
    assert len(reader) == 1
    mm[24:32] = mm[16:24]  # the consumer released everything: the ring is empty
    big = b'y' * 650  # 699 + 4 bytes: not before the end (447 left), nor with the skip
    assert producer.put_event(2, b'/a', b't', 2, 0, big) == 0  # not now: the head wraps
    assert read_ring(mm) == []  # only the skip is there
    mm[24:32] = mm[16:24]  # the consumer passed the skip
    assert producer.put_event(2, b'/a', b't', 2, 0, big) == 1  # it waited forever before
    assert [r[-650:] for r in read_ring(mm)] == [big]
    producer.detach()
