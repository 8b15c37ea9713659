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

"""The live plots' sample ring and topic counter: bounded, aligned, pure."""

import threading

import pytest

from unity_kernel_core.live.delivery import Rates
from unity_kernel_core.live.samples import OTHER_TOPICS, sample_row, SampleRing, TopicCounter


def test_the_ring_keeps_one_window_of_rows_and_no_more():
    ring = SampleRing(window_s=10.0, period_s=1.0)
    assert ring.capacity == 10
    for t in range(25):
        ring.add(float(t), {'a': t})
    cols = ring.columns()
    assert len(ring) == 10
    assert cols['t'] == [float(t) for t in range(15, 25)]
    assert cols['series']['a'] == list(range(15, 25))


def test_series_are_aligned_new_ones_backfilled_and_absent_values_are_gaps():
    ring = SampleRing(window_s=5.0, period_s=1.0)
    ring.add(1.0, {'a': 1})
    ring.add(2.0, {'a': 2, 'b': 20})
    ring.add(3.0, {'b': 30})
    cols = ring.columns()
    assert cols['series'] == {'a': [1, 2, None], 'b': [None, 20, 30]}
    assert all(len(v) == len(cols['t']) for v in cols['series'].values())


def test_a_series_with_nothing_left_in_the_window_is_forgotten():
    ring = SampleRing(window_s=3.0, period_s=1.0)
    ring.add(1.0, {'gone': 1, 'kept': 1})
    for t in (2.0, 3.0, 4.0):
        ring.add(t, {'kept': t})
    assert set(ring.columns()['series']) == {'kept'}


def test_the_number_of_series_is_bounded():
    ring = SampleRing(window_s=5.0, period_s=1.0, max_series=3)
    ring.add(1.0, {f's{i}': i for i in range(10)})
    assert len(ring.columns()['series']) == 3
    assert ring.refused_series == 7


def test_columns_since_a_time_return_only_newer_rows():
    ring = SampleRing(window_s=10.0, period_s=1.0)
    for t in range(1, 6):
        ring.add(float(t), {'a': t})
    cols = ring.columns(since_s=3.0)
    assert cols['t'] == [4.0, 5.0] and cols['series']['a'] == [4, 5]
    assert ring.columns(since_s=99.0)['t'] == []


def test_values_that_are_not_finite_numbers_are_gaps():
    ring = SampleRing(window_s=5.0, period_s=1.0)
    ring.add(1.0, {'a': float('nan'), 'b': float('inf'), 'c': True, 'd': 'x', 'e': 2})
    assert ring.columns()['series'] == {'a': [None], 'b': [None], 'c': [None], 'd': [None],
                                        'e': [2.0]}


def test_time_must_move_forward_and_due_follows_the_period():
    ring = SampleRing(window_s=5.0, period_s=1.0)
    assert ring.due(0.0)
    ring.add(10.0, {})
    assert not ring.due(10.5) and ring.due(11.0)
    with pytest.raises(ValueError):
        ring.add(10.0, {})
    with pytest.raises(ValueError):
        SampleRing(window_s=1.0, period_s=0.0)


def test_the_topic_counter_is_bounded_and_gives_rates():
    counter = TopicCounter(max_topics=2)
    for topic in ('/a', '/a', '/b', '/c', '/d'):
        counter.count(topic)
    assert counter.totals() == {'/a': 2, '/b': 1, OTHER_TOPICS: 2}
    assert counter.rates(0.0) == {'/a': 0.0, '/b': 0.0, OTHER_TOPICS: 0.0}
    for _ in range(10):
        counter.count('/a')
    assert counter.rates(2.0)['/a'] == 5.0


def test_the_topic_counter_counts_from_many_threads():
    counter = TopicCounter(max_topics=64)

    def work(name):
        for _ in range(2000):
            counter.count(name)

    threads = [threading.Thread(target=work, args=(f'/t{i}',)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.totals() == {f'/t{i}': 2000 for i in range(8)}


def test_a_row_from_a_snapshot_has_tiers_mirror_process_and_the_busiest_topics():
    def state(published, dropped):
        return {'tiers': [{'tier': 'HIGH', 'published': published, 'dropped': dropped,
                           'depth': 3}],
                'mirror': {'enabled': True, 'journal_pending': 5, 'queue_depth': 7,
                           'journal_bytes': 4096}}

    tier_rates = Rates()
    rates = {'/a': 9.0, '/b': 5.0, '/c': 1.0, OTHER_TOPICS: 2.0}
    sample_row(state(100, 0), rates, {}, tier_rates, 10.0)
    row = sample_row(state(120, 2), rates, {'cpu_percent': 12.5, 'rss_mb': 80.0}, tier_rates,
                     12.0, max_topics=2)
    assert row == {
        'tier:HIGH:events_per_s': 10.0, 'tier:HIGH:drops_per_s': 1.0, 'tier:HIGH:depth': 3,
        'mirror:journal_pending': 5, 'mirror:queue_depth': 7, 'mirror:journal_bytes': 4096,
        'kernel:cpu_percent': 12.5, 'kernel:rss_mb': 80.0,
        'topic:/a': 9.0, 'topic:/b': 5.0, 'topic:(other topics)': 3.0}
    assert 'mirror:journal_pending' not in sample_row({'mirror': {'enabled': False}}, {}, {},
                                                      Rates(), 0.0)
