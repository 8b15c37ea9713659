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

"""A Foxglove client's outbox: pure, no network, no ROS."""

import threading

import pytest

from unity_kernel_core.bus.events import Tier
from unity_kernel_core.live.outbox import Outbox, Push


def _drain(outbox):
    out = []
    while (item := outbox.pop()) is not None:
        out.append(item)
    return out


def test_critical_is_taken_before_images_queued_earlier():
    outbox = Outbox(depth=8, critical_limit=100)
    for i in range(5):
        outbox.push(f'image{i}'.encode(), Tier.HIGH)
    outbox.push(b'state', Tier.NORMAL)
    outbox.push(b'estop', Tier.CRITICAL)
    assert outbox.pop() == b'estop'
    outbox.push(b'estop2', Tier.CRITICAL)
    assert _drain(outbox) == [b'estop2', b'image0', b'image1', b'image2', b'image3',
                              b'image4', b'state']


def test_lower_tiers_drop_their_oldest_at_depth_and_count_it_per_tier():
    outbox = Outbox(depth=3, critical_limit=100)
    for i in range(10):
        outbox.push(b'img%d' % i, Tier.HIGH)
    for i in range(4):
        outbox.push(b'log%d' % i, Tier.LOW)
    assert outbox.dropped == {'CRITICAL': 0, 'HIGH': 7, 'NORMAL': 0, 'LOW': 1, 'DEFERRED': 0}
    assert outbox.stats()['dropped'] == {'HIGH': 7, 'LOW': 1}
    assert outbox.stats()['pending'] == {'HIGH': 3, 'LOW': 3}
    assert _drain(outbox) == [b'img7', b'img8', b'img9', b'log1', b'log2', b'log3']
    assert outbox.stats()['sent'] == 6


def test_critical_is_never_dropped_up_to_its_limit_and_the_limit_fails_the_client():
    outbox = Outbox(depth=4, critical_limit=50)
    for i in range(50):
        assert outbox.push(b'c%d' % i, Tier.CRITICAL) in (Push.WAKE, Push.QUEUED)
        outbox.push(b'image', Tier.HIGH)
    assert outbox.dropped['CRITICAL'] == 0 and outbox.failed is None
    assert outbox.push(b'one too many', Tier.CRITICAL) is Push.OVERFLOW
    assert 'CRITICAL' in outbox.failed and 'limit 50' in outbox.failed
    # failed once: nothing is queued or sent any more (the server disconnects the client)
    assert outbox.push(b'later', Tier.CRITICAL) is Push.CLOSED
    assert outbox.push(b'image', Tier.HIGH) is Push.CLOSED
    assert outbox.pop() is None


def test_only_the_push_that_finds_the_sender_idle_asks_to_wake_it():
    outbox = Outbox(depth=4, critical_limit=10)
    assert outbox.push(b'a', Tier.HIGH) is Push.WAKE
    assert outbox.push(b'b', Tier.CRITICAL) is Push.QUEUED
    assert _drain(outbox) == [b'b', b'a']  # the last pop found it empty: idle again
    assert outbox.push(b'c', Tier.NORMAL) is Push.WAKE
    outbox.close()
    assert outbox.push(b'd', Tier.NORMAL) is Push.CLOSED and outbox.pop() is None


def test_pushes_from_many_threads_lose_nothing_critical():
    outbox = Outbox(depth=2, critical_limit=10000)

    def produce(tier, n):
        for i in range(n):
            outbox.push(b'%d' % i, tier)
    threads = [threading.Thread(target=produce, args=(t, 1000))
               for t in (Tier.CRITICAL, Tier.HIGH, Tier.HIGH, Tier.LOW)]
    for t in threads:
        t.start()
    got = []
    while any(t.is_alive() for t in threads):
        item = outbox.pop()
        if item is not None:
            got.append(item)
    for t in threads:
        t.join()
    got += _drain(outbox)
    stats = outbox.stats()
    assert stats['dropped_total'] + len(got) == 4000 and stats['sent'] == len(got)
    assert 'CRITICAL' not in stats['dropped']


def test_outbox_bounds_must_be_positive():
    with pytest.raises(ValueError, match='must be >= 1'):
        Outbox(depth=0, critical_limit=1)


def test_a_keyed_message_replaces_the_pending_one_of_its_key_in_its_place():
    outbox = Outbox(depth=8, critical_limit=8)
    outbox.push('a1', Tier.HIGH, key='camera')
    outbox.push('other', Tier.HIGH)
    outbox.push('b1', Tier.HIGH, key='depth')
    assert outbox.push('a2', Tier.HIGH, key='camera') is Push.QUEUED
    outbox.push('a3', Tier.HIGH, key='camera')
    assert _drain(outbox) == ['a3', 'other', 'b1']  # the newest, where the first one was
    assert outbox.dropped['HIGH'] == 2
    outbox.push('a4', Tier.HIGH, key='camera')  # nothing pending of its key: queued again
    assert _drain(outbox) == ['a4']


def test_critical_messages_are_never_replaced_whatever_their_key():
    outbox = Outbox(depth=4, critical_limit=16)
    for i in range(5):
        outbox.push(f'c{i}', Tier.CRITICAL, key='camera')
    assert _drain(outbox) == [f'c{i}' for i in range(5)]
    assert outbox.dropped['CRITICAL'] == 0


def test_keyed_messages_dropped_at_depth_free_their_key():
    outbox = Outbox(depth=2, critical_limit=8)
    outbox.push('a1', Tier.LOW, key='a')
    outbox.push('x', Tier.LOW)
    outbox.push('y', Tier.LOW)  # the depth drops a1 (the oldest)
    outbox.push('a2', Tier.LOW, key='a')  # a new slot, not a replacement of a dropped one
    assert _drain(outbox) == ['y', 'a2']
    assert outbox.dropped['LOW'] == 2
