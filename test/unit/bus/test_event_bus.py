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

"""Behaviour of the priority event bus (pure Python, no ROS)."""

import os
import subprocess
import sys
import threading
import time

import pytest
import support

from unity_kernel_core.bus.event_bus import EventBus, OverflowPolicy, TierPolicy
from unity_kernel_core.bus.events import Tier
from unity_kernel_core.errors import BusError, BusFullError, BusStoppedError


@pytest.fixture
def bus():
    b = EventBus()
    b.start()
    yield b
    b.stop(drain=False, timeout=5)


def test_events_of_one_topic_arrive_in_order_with_increasing_seq(bus):
    got = []
    bus.subscribe('/a/**', lambda e: got.append((e.message, e.seq)))
    for i in range(500):
        bus.publish('/a/x', 'test/msg/Int', i)
    assert bus.wait_idle(10)
    assert [m for m, _ in got] == list(range(500))
    seqs = [s for _, s in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 500


def test_sequence_is_global_across_topics_and_tiers(bus):
    seen = []
    bus.add_tap(lambda e: seen.append(e.seq))
    for i in range(100):
        bus.publish(f'/t{i % 7}', 'test/msg/Int', i, tier=Tier(i % 5))
    assert seen == list(range(1, 101))


def test_pattern_and_tier_filters_select_subscribers(bus):
    safety, sensors, only_low = [], [], []
    bus.subscribe('/safety/*', lambda e: safety.append(e.topic))
    bus.subscribe('/sensors/**', lambda e: sensors.append(e.topic))
    bus.subscribe('/**', lambda e: only_low.append(e.topic), tiers=[Tier.LOW])
    bus.publish('/safety/estop', 't/msg/B', 1, tier=Tier.CRITICAL)
    bus.publish('/safety/arm/estop', 't/msg/B', 1, tier=Tier.CRITICAL)
    bus.publish('/sensors/cam/image', 't/msg/I', 1, tier=Tier.HIGH)
    bus.publish('/logs', 't/msg/S', 1, tier=Tier.LOW)
    assert bus.wait_idle(5)
    assert safety == ['/safety/estop']
    assert sensors == ['/sensors/cam/image']
    assert only_low == ['/logs']


def test_classifier_gives_the_tier_when_none_is_given():
    bus = EventBus(classifier=lambda topic: Tier.CRITICAL if topic.startswith('/safety')
                   else Tier.LOW)
    bus.start()
    try:
        assert bus.publish('/safety/x', 't/msg/B', 1).tier is Tier.CRITICAL
        assert bus.publish('/other', 't/msg/B', 1).tier is Tier.LOW
    finally:
        bus.stop()


def test_critical_is_handled_while_low_is_flooded_and_stuck(bus):
    release = threading.Event()
    critical_done = threading.Event()
    bus.subscribe('/low/**', lambda e: release.wait(10))
    bus.subscribe('/safety/**', lambda e: critical_done.set())
    for i in range(2000):
        bus.publish('/low/flood', 't/msg/S', i, tier=Tier.LOW)
    bus.publish('/safety/estop', 't/msg/B', True, tier=Tier.CRITICAL)
    # LOW's only worker is blocked in its handler with ~2000 events queued behind it;
    # CRITICAL has its own lanes and must not wait for any of them.
    assert critical_done.wait(5)
    assert bus.stats()[Tier.LOW].depth > 0
    release.set()


def test_lower_tiers_wait_while_critical_work_is_pending(bus):
    critical_running = threading.Event()
    log = []

    def critical(e):
        critical_running.set()
        time.sleep(0.02)
        log.append('critical')

    bus.subscribe('/safety/**', critical)
    bus.subscribe('/low/**', lambda e: log.append('low'))
    for i in range(20):  # 20 x 20 ms of CRITICAL work on one lane: about 0.4 s
        bus.publish('/safety/estop', 't/msg/B', i, tier=Tier.CRITICAL)
    assert critical_running.wait(5)
    for i in range(50):
        bus.publish('/low/chatter', 't/msg/S', i, tier=Tier.LOW)
    assert bus.wait_idle(10)
    assert log.count('low') == 50 and log.count('critical') == 20
    # LOW takes at most one event per YIELD_TO_CRITICAL_MAX_S (0.1 s) while CRITICAL is busy:
    # without yielding, all 50 would run right away, between the first CRITICAL events
    last_critical = len(log) - 1 - log[::-1].index('critical')
    assert log[:last_critical].count('low') <= 15


def test_a_stuck_critical_handler_does_not_starve_lower_tiers(bus):
    release = threading.Event()
    low = []
    bus.subscribe('/safety/**', lambda e: release.wait(10))
    bus.subscribe('/low/**', low.append)
    bus.publish('/safety/estop', 't/msg/B', True, tier=Tier.CRITICAL)
    for i in range(5):
        bus.publish('/low/chatter', 't/msg/S', i, tier=Tier.LOW)
    support.wait_for(lambda: len(low) == 5, 5, message='LOW handled beside a stuck CRITICAL')
    release.set()


def test_drop_oldest_keeps_the_newest_and_counts_drops():
    bus = EventBus({Tier.DEFERRED: TierPolicy(workers=1, queue_size=10,
                                              overflow=OverflowPolicy.DROP_OLDEST)})
    bus.start()
    gate = threading.Event()
    got = []

    def handler(e):
        gate.wait(10)
        got.append(e.message)

    bus.subscribe('/d', handler)
    bus.publish('/d', 't/msg/I', -1, tier=Tier.DEFERRED)  # taken by the worker, blocks
    time.sleep(0.2)
    for i in range(50):
        bus.publish('/d', 't/msg/I', i, tier=Tier.DEFERRED)
    stats = bus.stats()[Tier.DEFERRED]
    assert stats.dropped == 40 and stats.depth == 10
    gate.set()
    bus.stop(drain=True)
    assert got == [-1] + list(range(40, 50))


def test_drop_newest_refuses_new_events():
    bus = EventBus({Tier.LOW: TierPolicy(workers=1, queue_size=3,
                                         overflow=OverflowPolicy.DROP_NEWEST)})
    bus.start()
    gate = threading.Event()
    bus.subscribe('/l', lambda e: gate.wait(10))
    bus.publish('/l', 't/msg/I', 0, tier=Tier.LOW)
    time.sleep(0.2)
    results = [bus.publish('/l', 't/msg/I', i, tier=Tier.LOW) for i in range(1, 6)]
    assert [r is not None for r in results] == [True, True, True, False, False]
    assert bus.stats()[Tier.LOW].dropped == 2
    gate.set()
    bus.stop()


def test_block_applies_back_pressure_and_never_drops():
    bus = EventBus({Tier.CRITICAL: TierPolicy(workers=1, queue_size=2,
                                              overflow=OverflowPolicy.BLOCK)})
    bus.start()
    got = []

    def slow(e):
        time.sleep(0.01)
        got.append(e.message)

    bus.subscribe('/c', slow)
    for i in range(50):
        bus.publish('/c', 't/msg/I', i, tier=Tier.CRITICAL)
    bus.stop(drain=True)
    assert got == list(range(50))
    assert bus.stats()[Tier.CRITICAL].dropped == 0


def test_block_with_timeout_raises_when_the_tier_stays_full():
    bus = EventBus({Tier.CRITICAL: TierPolicy(workers=1, queue_size=1,
                                              overflow=OverflowPolicy.BLOCK,
                                              block_timeout_s=0.2)})
    bus.start()
    gate = threading.Event()
    bus.subscribe('/c', lambda e: gate.wait(10))
    bus.publish('/c', 't/msg/I', 0, tier=Tier.CRITICAL)
    time.sleep(0.1)
    bus.publish('/c', 't/msg/I', 1, tier=Tier.CRITICAL)
    with pytest.raises(BusFullError, match='CRITICAL queue stayed full'):
        bus.publish('/c', 't/msg/I', 2, tier=Tier.CRITICAL)
    gate.set()
    bus.stop()


def test_failing_handler_is_retried_then_dead_lettered_and_others_still_run():
    bus = EventBus({Tier.NORMAL: TierPolicy(max_retries=2, retry_backoff_s=0.001)})
    bus.start()
    letters, good, calls = [], [], []

    def bad(e):
        calls.append(e.seq)
        raise ValueError('boom')

    bus.subscribe('/x', bad, name='bad_handler')
    bus.subscribe('/x', lambda e: good.append(e.seq))
    bus.add_dead_letter_sink(letters.append)
    bus.publish('/x', 't/msg/I', 1)
    bus.publish('/x', 't/msg/I', 2)
    assert bus.wait_idle(5)
    assert len(calls) == 6  # 1 try + 2 retries, for each event
    assert good == [1, 2]
    assert [(d.handler, d.attempts, d.event.seq) for d in letters] == [
        ('bad_handler', 3, 1), ('bad_handler', 3, 2)]
    assert 'ValueError: boom' in letters[0].error and 'Traceback' in letters[0].traceback
    stats = bus.stats()[Tier.NORMAL]
    assert stats.dead_letters == 2 and stats.handler_errors == 6 and stats.retries == 4
    bus.stop()


def test_flaky_handler_succeeds_on_retry_without_dead_letter():
    bus = EventBus({Tier.NORMAL: TierPolicy(max_retries=3, retry_backoff_s=0.001)})
    bus.start()
    attempts, letters = [], []

    def flaky(e):
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError('transient')

    bus.subscribe('/x', flaky)
    bus.add_dead_letter_sink(letters.append)
    bus.publish('/x', 't/msg/I', 1)
    assert bus.wait_idle(5)
    assert len(attempts) == 3 and not letters
    bus.stop()


def test_stop_drains_queued_events_and_refuses_new_ones():
    bus = EventBus()
    bus.start()
    got = []
    bus.subscribe('/**', lambda e: (time.sleep(0.001), got.append(e.seq)))
    for i in range(300):
        bus.publish(f'/t{i % 3}', 't/msg/I', i, tier=Tier(i % 5))
    assert bus.stop(drain=True, timeout=30) == 0
    assert len(got) == 300
    with pytest.raises(BusStoppedError):
        bus.publish('/t', 't/msg/I', 1)


def test_stop_without_drain_counts_discarded_events():
    bus = EventBus({Tier.NORMAL: TierPolicy(workers=1, queue_size=1000)})
    bus.start()
    gate = threading.Event()
    bus.subscribe('/n', lambda e: gate.wait(2))
    for i in range(100):
        bus.publish('/n', 't/msg/I', i)
    time.sleep(0.1)
    threading.Timer(0.2, gate.set).start()
    bus.stop(drain=False, timeout=10)
    assert bus.stats()[Tier.NORMAL].dropped == 99


def test_unsubscribe_stops_delivery(bus):
    got = []
    sub = bus.subscribe('/u', lambda e: got.append(e.seq))
    bus.publish('/u', 't/msg/I', 1)
    assert bus.wait_idle(5)
    assert bus.unsubscribe(sub) is True
    bus.publish('/u', 't/msg/I', 2)
    assert bus.wait_idle(5)
    assert got == [1]
    assert bus.unsubscribe(sub) is False


def test_failing_tap_does_not_stop_intake(bus):
    def bad_tap(e):
        raise RuntimeError('tap broke')

    got = []
    bus.add_tap(bad_tap)
    bus.subscribe('/t', lambda e: got.append(e.seq))
    bus.publish('/t', 't/msg/I', 1)
    assert bus.wait_idle(5)
    assert got == [1]


def test_stats_count_published_and_delivered(bus):
    bus.subscribe('/s', lambda e: None)
    for i in range(20):
        bus.publish('/s', 't/msg/I', i, tier=Tier.HIGH)
    assert bus.wait_idle(5)
    s = bus.stats()[Tier.HIGH]
    assert (s.published, s.delivered, s.dropped, s.depth) == (20, 20, 0, 0)
    assert s.latency_p99_ms >= s.latency_p50_ms >= 0


def test_sequence_resumes_forward_only(bus):
    bus.set_next_seq(1000)
    assert bus.publish('/s', 't/msg/I', 1).seq == 1000
    with pytest.raises(Exception):
        bus.set_next_seq(5)


def test_the_bus_is_pure_and_decodes_payloads_with_the_codec_it_is_given():
    code = ('import sys\n'
            'from unity_kernel_core.bus.event_bus import EventBus\n'
            'from unity_kernel_core.config.kernel_config import KernelConfig\n'
            'bad = sorted(m for m in sys.modules if m.split(".")[0] in ("rclpy", "redis") or\n'
            '             m.startswith("unity_kernel_core.ros"))\n'
            'print(bad)\n')
    env = {**os.environ, 'PYTHONPATH': str(support.SRC)}
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.strip().splitlines()[-1] == '[]'

    class Upper:

        def decode(self, cdr, type_name):
            return cdr.decode().upper()

        def encode(self, message):
            return message.lower().encode()

    got = []
    coded = EventBus(codec=Upper())
    coded.start()
    coded.subscribe('/**', lambda e: got.append((e.message, e.cdr)))
    coded.publish('/in', 'x/msg/T', cdr=b'abc')
    coded.publish('/out', 'x/msg/T', 'DEF')
    coded.wait_idle(5)
    coded.stop()
    assert got == [('ABC', b'abc'), ('DEF', b'def')]


def test_an_event_of_bytes_on_a_bus_without_codec_says_so(bus):
    errors = []
    bus.subscribe('/raw', lambda e: e.message, name='reader')
    bus.add_dead_letter_sink(errors.append)
    bus.publish('/raw', 'x/msg/T', cdr=b'\x00\x01', tier=Tier.HIGH)
    bus.wait_idle(5)
    support.wait_for(lambda: errors, 5, message='dead letter')
    assert 'no codec' in errors[0].error


def test_a_busy_lower_tier_worker_is_not_woken_for_each_event():
    # NORMAL naps for its batch window after emptying its queue; what arrives meanwhile
    # waits for the nap to end (one wake-up per window, not per event)
    bus = EventBus({Tier.NORMAL: TierPolicy(batch_window_s=0.4)})
    bus.start()
    handled = {}
    bus.subscribe('/n', lambda e: handled.setdefault(e.message, time.monotonic()))
    try:
        time.sleep(0.6)  # the first nap found nothing: the worker waits to be woken
        sent = time.monotonic()
        bus.publish('/n', 't/msg/I', 1)
        support.wait_for(lambda: 1 in handled, 5, message='first event')
        assert handled[1] - sent < 0.2  # an idle worker is woken at once
        time.sleep(0.05)  # the worker naps now
        sent = time.monotonic()
        for i in range(2, 102):
            bus.publish('/n', 't/msg/I', i)
        support.wait_for(lambda: 101 in handled, 5, message='the batch')
        assert handled[2] - sent > 0.2  # nobody woke the napping worker
        assert sorted(handled, key=handled.__getitem__) == list(range(1, 102))
    finally:
        bus.stop(timeout=5)


def test_critical_and_high_are_woken_for_every_event_by_default(bus):
    woken = []
    for tier in (Tier.CRITICAL, Tier.HIGH):
        bus.subscribe(f'/{tier.name}', lambda e: woken.append(time.monotonic() - e.message),
                      tiers=[tier])
    time.sleep(0.1)
    for tier in (Tier.CRITICAL, Tier.HIGH):
        for _ in range(3):
            bus.publish(f'/{tier.name}', 't/msg/F', time.monotonic(), tier=tier)
            time.sleep(0.05)
    support.wait_for(lambda: len(woken) == 6, 5, message='six events')
    assert max(woken) < 0.04


def test_stop_drains_a_napping_worker_at_once():
    bus = EventBus({Tier.LOW: TierPolicy(queue_size=5000, batch_window_s=0.2)})
    bus.start()
    got = []
    bus.subscribe('/l', lambda e: got.append(e.message))
    for i in range(2000):
        bus.publish('/l', 't/msg/I', i, tier=Tier.LOW)
    assert bus.stop(drain=True, timeout=10) == 0
    assert got == list(range(2000))


def test_a_negative_batch_window_is_refused():
    with pytest.raises(BusError, match='batch_window_s'):
        TierPolicy(batch_window_s=-0.001)
