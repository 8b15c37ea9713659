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

"""The shared sensor-node base: capture plumbing (plain Python) and the lifecycle pattern."""

import threading
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import pytest
from sensor_support import state, wait_state
from std_msgs.msg import UInt32
import support

from unity_kernel_core.common.backoff import ExponentialBackoff
from unity_sensors.capture import CaptureWorker, Counters, Pacer, SampleQueue
from unity_sensors.errors import DeviceLostError, DeviceNotFoundError
from unity_sensors.sensor_node import sensor_qos

SENSOR = str(support.ROOT / 'test' / 'nodes' / 'counting_sensor.py')


# -- plain Python ----------------------------------------------------------------------------

def test_sample_queue_drops_the_oldest_when_full():
    q = SampleQueue(2)
    assert q.put(1) and q.put(2)
    assert not q.put(3)
    assert q.dropped == 1
    assert [q.get(0), q.get(0), q.get(0)] == [2, 3, None]


class FakeClock:

    def __init__(self):
        self.now = 100.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.slept.append(round(s, 6))
        self.now += s


def test_pacer_keeps_a_fixed_schedule_and_counts_missed_ticks():
    clock = FakeClock()
    pacer = Pacer(10.0, clock=clock, sleep=clock.sleep)
    assert pacer.wait() == 0            # first tick: now
    clock.now += 0.03                   # work took 30 ms
    assert pacer.wait() == 0
    assert clock.slept == [0.07]        # slept the rest of the period, no drift
    clock.now += 0.35                   # 3.5 periods after the last tick:
    assert pacer.wait() == 2            # the ticks due 0.2 and 0.3 later were missed
    pacer.set_rate(20.0)                # takes effect at the next tick
    clock.slept.clear()
    assert pacer.wait() == 0
    assert clock.slept == [0.05]
    with pytest.raises(ValueError):
        pacer.set_rate(0)


def test_worker_reopens_a_lost_device_with_backoff_and_keeps_counting():
    events = []
    state = {'n': 0, 'open': True, 'reopen_failures': 2}
    out = []

    def read():
        time.sleep(0.001)
        state['n'] += 1
        if state['n'] == 5:
            raise DeviceLostError('unplugged')
        return state['n']

    def reopen():
        if state['reopen_failures']:
            state['reopen_failures'] -= 1
            raise DeviceNotFoundError('/dev/fake0')
        events.append('reopened')

    worker = CaptureWorker('t', out.append, read=read, reopen=reopen,
                           close=lambda: events.append('closed'), queue_size=100,
                           backoff=ExponentialBackoff(0.01, 0.02))
    worker.start()
    support.wait_for(lambda: len(out) >= 10, 10, message='samples after the reopen')
    assert worker.stop()
    assert events[:2] == ['closed', 'reopened']
    snap = worker.counters.snapshot()
    assert snap['reopens'] == 1
    assert snap['errors'] == 3  # the loss and two failed reopens
    assert 'not found: /dev/fake0' in snap['last_error']
    assert 5 not in out and out[:4] == [1, 2, 3, 4]


def test_worker_reports_a_fault_once_and_stops():
    faults = []
    done = threading.Event()

    def read():
        raise ValueError('bad bytes')

    worker = CaptureWorker('t', lambda s: None, read=read,
                           on_fault=lambda e: (faults.append(e), done.set()))
    worker.start()
    assert done.wait(5)
    support.wait_for(lambda: not worker.running, 5, message='worker to stop')
    assert [str(f) for f in faults] == ['bad bytes']


def test_worker_counts_samples_dropped_by_a_slow_consumer():
    release = threading.Event()
    worker = CaptureWorker('t', lambda s: release.wait(5), queue_size=2)
    worker.start()
    for i in range(10):
        worker.put(i)
    snap = worker.counters.snapshot()
    assert snap['captured'] == 10 and snap['dropped'] >= 7
    release.set()
    worker.stop()


def test_counters_snapshot_and_reset():
    c = Counters()
    c.add(captured=2, late=1)
    c.error(RuntimeError('x'))
    snap = c.snapshot()
    assert (snap['captured'], snap['late'], snap['errors'], snap['last_error']) == (2, 1, 1, 'x')
    assert snap['last_sample'] is not None
    c.reset()
    assert c.snapshot()['captured'] == 0


def test_sensor_qos_is_best_effort_keep_last():
    from rclpy.qos import ReliabilityPolicy
    q = sensor_qos(7)
    assert q.depth == 7 and q.reliability == ReliabilityPolicy.BEST_EFFORT


# -- the lifecycle pattern, with a real node process -------------------------------------------

def start_sensor(processes, ros_env, tmp_path, **params):
    args = [support.sys.executable, SENSOR, '--ros-args', '-p', 'diagnostics_period_s:=0.3']
    for key, value in params.items():
        args += ['-p', f'{key}:={value}']
    return processes.start(args, ros_env, tmp_path / 'sensor.log')


def sensor_statuses(diags):
    return [s for a in list(diags) for s in a.status if s.name == 'counting_sensor: counter']


@pytest.mark.ros
def test_configure_opens_nothing_activate_publishes_deactivate_stops(
        processes, ros_env, tmp_path, probe):
    marker = tmp_path / 'device'
    proc = start_sensor(processes, ros_env, tmp_path, missing_file=str(marker))
    counts = probe.collect('/counting_sensor/count', UInt32, sensor_qos(100))
    diags = probe.collect('/diagnostics', DiagnosticArray)
    wait_state(probe, 'counting_sensor', 'unconfigured')
    assert probe.change_state('counting_sensor', 'configure')  # device absent: still fine
    assert not probe.change_state('counting_sensor', 'activate')
    proc.wait_output('activate failed: device not found: ' + str(marker))
    assert state(probe, 'counting_sensor') == 'inactive'
    marker.write_text('here')
    assert probe.change_state('counting_sensor', 'activate')
    support.wait_for(lambda: len(counts) >= 5, 20, message='counts')
    values = [m.data for m in counts]
    assert values == sorted(values) and len(set(values)) == len(values)
    support.wait_for(lambda: any(s.values and s.level == DiagnosticStatus.OK
                                 for s in sensor_statuses(diags)), 10, message='diagnostics')
    status = sensor_statuses(diags)[-1]
    keys = {kv.key for kv in status.values}
    assert {'state', 'captured', 'published', 'dropped', 'late', 'reopens', 'count'} <= keys
    assert probe.change_state('counting_sensor', 'deactivate')
    time.sleep(0.5)
    n = len(counts)
    time.sleep(0.5)
    assert len(counts) == n
    assert probe.change_state('counting_sensor', 'cleanup')
    assert probe.change_state('counting_sensor', 'shutdown')


@pytest.mark.ros
def test_lost_device_is_reopened_and_reported(processes, ros_env, tmp_path, probe):
    start_sensor(processes, ros_env, tmp_path, lose_after=5)
    counts = probe.collect('/counting_sensor/count', UInt32, sensor_qos(100))
    diags = probe.collect('/diagnostics', DiagnosticArray)
    wait_state(probe, 'counting_sensor', 'unconfigured')
    assert probe.change_state('counting_sensor', 'configure')
    assert probe.change_state('counting_sensor', 'activate')
    support.wait_for(lambda: len(counts) >= 15, 20, message='counts after the reopen')

    def reopens():
        for s in sensor_statuses(diags):
            v = {kv.key: kv.value for kv in s.values}
            if v.get('reopens') == '1':
                return v
        return None
    v = support.wait_for(reopens, 10, message='reopens=1 in diagnostics')
    assert v['last_error'] == 'simulated unplug'
    assert state(probe, 'counting_sensor') == 'active'


@pytest.mark.ros
@pytest.mark.parametrize('fault,expected', [
    ('crash_after', 'simulated firmware crash'),
    ('stall_after', 'no data from the device for 1 s'),
])
def test_fault_or_stale_device_goes_through_on_error_to_unconfigured(
        processes, ros_env, tmp_path, probe, fault, expected):
    proc = start_sensor(processes, ros_env, tmp_path, stale_timeout_s=1.0, **{fault: 5})
    diags = probe.collect('/diagnostics', DiagnosticArray)
    wait_state(probe, 'counting_sensor', 'unconfigured')
    assert probe.change_state('counting_sensor', 'configure')
    assert probe.change_state('counting_sensor', 'activate')
    wait_state(probe, 'counting_sensor', 'unconfigured')
    out = proc.wait_output('error state (from')
    assert expected in out
    assert any(s.level == DiagnosticStatus.ERROR and expected in s.message
               for s in sensor_statuses(diags))
    # recoverable: the kernel (here the probe) can bring it up again
    assert probe.change_state('counting_sensor', 'configure')
    assert probe.change_state('counting_sensor', 'activate')
    assert proc.proc.poll() is None


@pytest.mark.ros
def test_bad_common_parameters_fail_configure_clearly(processes, ros_env, tmp_path, probe):
    proc = start_sensor(processes, ros_env, tmp_path, queue_size=0)
    wait_state(probe, 'counting_sensor', 'unconfigured')
    assert not probe.change_state('counting_sensor', 'configure')
    proc.wait_output('configure failed: queue_size must be >= 1, got 0')
    assert state(probe, 'counting_sensor') == 'unconfigured'
