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

"""The kernel's tap into the writer ring, without a writer process, Redis or ROS."""

import multiprocessing
import threading
import time

from unity_kernel_core.audit.record import event_fields, StreamEntry, StreamKeys
from unity_kernel_core.audit.ring import Ring
from unity_kernel_core.audit.writer_process import _Decoder, _EVENT, KIND_EVENT, ProcessWriter
from unity_kernel_core.bus.events import Event, Tier
from unity_kernel_core.config.kernel_config import parse_config

RULES = ('topics:\n'
         '  - {pattern: /quiet/**, tier: LOW, mirror: false}\n'
         '  - {pattern: /**, tier: NORMAL}\n')


def tap(tmp_path, rules=RULES):
    config = parse_config(f'redis: {{url: "redis://127.0.0.1:1"}}\n{rules}')
    writer = ProcessWriter(config, tmp_path)
    writer._ring = Ring.create(tmp_path / 'ring', 1 << 20)  # prime() would start the process
    return writer


def test_tap_records_keep_the_ring_layout_and_decode_to_the_stream_entries(tmp_path):
    writer = tap(tmp_path)
    events = [Event('/a', 'std_msgs/msg/String', Tier.NORMAL, 1, cdr=b'\x00\x01one',
                    stamp_ns=5_000_000_123),
              Event('/quiet/x', 'std_msgs/msg/String', Tier.LOW, 2, cdr=b'skipped',
                    stamp_ns=5_000_000_200),
              Event('/safety/stop', 'std_msgs/msg/Empty', Tier.CRITICAL, 3, cdr=b'',
                    stamp_ns=5_000_000_300),
              Event('/a', 'std_msgs/msg/Int32', Tier.HIGH, 4, cdr=b'\r\n*4\r\n',
                    stamp_ns=4_000_000_000)]  # the clock stepped back: the ID is bumped
    for event in events:
        writer.offer(event)
    records, _position = writer._ring.peek(10)
    ids = [(5000, 1), (5000, 3), (5000, 4)]
    mirrored = [e for e in events if not e.topic.startswith('/quiet')]
    # the layout a ring left by an earlier kernel has: head, topic, type, CDR
    assert records == [_EVENT.pack(KIND_EVENT, e.tier, len(e.topic), len(e.type_name),
                                   len(e.cdr), e.seq, e.stamp_ns, *i) + e.topic.encode() +
                       e.type_name.encode() + e.cdr for e, i in zip(mirrored, ids)]
    assert _Decoder(StreamKeys('unity')).decode(records) == [
        StreamEntry(f'unity:topic:{e.topic}', f'{i[0]}-{i[1]}', event_fields(
            e.topic, e.type_name, e.tier.name, e.seq, e.stamp_ns, e.cdr))
        for e, i in zip(mirrored, ids)]
    assert writer.counters['skipped'] == 1


def test_a_reload_that_turns_a_topic_off_stops_its_records(tmp_path):
    writer = tap(tmp_path)
    writer.offer(Event('/a', 'std_msgs/msg/String', Tier.NORMAL, 1, cdr=b'x'))
    writer.reconfigure(parse_config('redis: {url: "redis://127.0.0.1:1"}\ntopics:\n'
                                    '  - {pattern: /a, tier: NORMAL, mirror: false}\n'))
    writer.offer(Event('/a', 'std_msgs/msg/String', Tier.NORMAL, 2, cdr=b'y'))
    records, _position = writer._ring.peek(10)
    assert len(records) == 1 and writer.counters['skipped'] == 1


def test_two_part_records_wrap_around_the_ring_like_any_other(tmp_path):
    ring = Ring.create(tmp_path / 'ring', 1000)
    sent, got = [], []
    for i in range(500):
        first, second = b'h' * (i % 37), bytes([i % 256]) * (i % 53)
        while not (ring.put2(first, second) if i % 2 else ring.put((first, second))):
            records, position = ring.peek(3)  # full: the consumer takes a few
            assert records
            got.extend(records)
            ring.release(position)
        sent.append(first + second)
    while True:
        records, position = ring.peek(100)
        if not records:
            break
        got.extend(records)
        ring.release(position)
    assert got == sent


def test_a_peek_can_continue_after_the_records_already_taken(tmp_path):
    ring = Ring.create(tmp_path / 'ring', 1000)
    for i in range(3):
        assert ring.put2(b'r', bytes([i]))
    first, position = ring.peek(2)
    for i in range(3, 5):
        assert ring.put2(b'r', bytes([i]))
    more, position = ring.peek(10, start=position)
    assert first + more == [b'r' + bytes([i]) for i in range(5)]
    ring.release(position)
    assert ring.used == 0 and ring.peek(10) == ([], position)


def drain(ring):
    got = []
    while True:
        records, position = ring.peek(100)
        ring.release(position)
        if not records:
            return got
        got.extend(records)


def test_a_record_over_half_the_ring_waiting_at_its_end_gets_in_once_the_ring_drains(tmp_path):
    ring = Ring.create(tmp_path / 'ring', 1000)
    assert ring.put((b'a' * 596,))  # the head at 600 (4-byte frame)
    assert drain(ring) == [b'a' * 596]  # empty now: the tail at 600 too
    big = b'b' * 700  # needs 704: not before the end (400 left), nor with the skip (1104)
    assert not ring.put((big,))  # not now: but the head moved to the start with a skip
    assert drain(ring) == []  # the consumer passes the skip
    assert ring.put((big,))  # it waited forever before
    assert drain(ring) == [big]
    assert ring.fits(996) and not ring.fits(997)


def test_a_critical_event_larger_than_the_ring_is_counted_never_waited_for(tmp_path):
    writer = tap(tmp_path)
    writer._ring = Ring.create(tmp_path / 'small', 1000)
    done = threading.Event()

    def offer():
        writer.offer(Event('/safety/map', 'std_msgs/msg/String', Tier.CRITICAL, 1,
                           cdr=b'z' * 2000, stamp_ns=1))
        done.set()
    threading.Thread(target=offer, daemon=True).start()
    assert done.wait(5), 'the tap waited for room that can never be'
    assert writer.dropped_by_tier.get('CRITICAL') == 1
    writer.offer(Event('/safety/stop', 'std_msgs/msg/Empty', Tier.CRITICAL, 2, cdr=b'',
                       stamp_ns=2))
    assert len(writer._ring.peek(10)[0]) == 1  # the next one goes in as ever


def _release_forever(path, values, ready):
    ring = Ring.open(path)
    ring.release(values[0])
    ready.set()
    while True:
        for value in values:
            ring.release(value)


def test_the_tail_is_never_seen_half_written_by_another_process(tmp_path):
    # struct.pack_into zeroes a word's bytes before writing them: the native producer once
    # read a tail of 0 between the two and dropped a record as if the ring were full
    ring = Ring.create(tmp_path / 'ring', 1 << 16)
    values = ((1 << 40) + 0x0101, (1 << 48) - 1, 0x00FF_FF00_FF00)
    context = multiprocessing.get_context('fork')
    ready = context.Event()
    writer = context.Process(target=_release_forever, args=(ring.path, values, ready))
    writer.start()
    try:
        assert ready.wait(10)
        seen = set()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            for _ in range(1000):
                seen.add(ring.tail)
    finally:
        writer.kill()
        writer.join()
        ring.close()
    assert seen == set(values)  # every value whole: never 0, never old and new bytes mixed
