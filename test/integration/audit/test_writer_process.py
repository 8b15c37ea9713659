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
The audit writer in its own process: fed through the ring, and kill -9 of either process.

Against a real redis-server. The kernel's side (ProcessWriter) runs in the test process, or
in a child process that kills itself; the writer process is the real one.
"""

import fcntl
import os
import signal
import subprocess
import sys
import textwrap

import psutil
import pytest
from rclpy.serialization import deserialize_message, serialize_message
import redis
from std_msgs.msg import String
import support

from unity_kernel_core.audit.record import AuditRecord, parse_id
from unity_kernel_core.audit.writer_process import LOCK_FILE, ProcessWriter, ring_path
from unity_kernel_core.bus.event_bus import EventBus
from unity_kernel_core.config.kernel_config import parse_config

pytestmark = pytest.mark.redis

CONFIG = ('redis: {{url: "{url}", flush_interval_ms: 2, batch_size: 50, '
          'reconnect_interval_ms: 100}}\nkernel: {{shutdown_timeout_s: 5}}\n')


def make_writer(tmp_path, url):
    state = tmp_path / 'state'
    state.mkdir(exist_ok=True)
    return ProcessWriter(parse_config(CONFIG.format(url=url)), state)


def cdr(i):
    return serialize_message(String(data=str(i)))


def values(client, topic):
    return [int(deserialize_message(AuditRecord.from_entry(i, f).cdr, String).data)
            for i, f in client.xrange(f'unity:topic:{topic}')]


@pytest.fixture
def bus():
    b = EventBus()
    b.start()
    yield b
    b.stop()


def test_events_reach_their_streams_through_the_writer_process_in_global_order(
        tmp_path, redis_server, bus):
    writer = make_writer(tmp_path, redis_server.url)
    assert writer.prime() == 0
    writer.start()
    bus.add_tap(writer.offer)
    for i in range(3000):
        bus.publish(f'/p{i % 2}', 'std_msgs/msg/String', cdr=cdr(i))
    writer.stop(10)
    client = redis.Redis.from_url(redis_server.url)
    assert values(client, '/p0') == list(range(0, 3000, 2))
    assert values(client, '/p1') == list(range(1, 3000, 2))
    merged = sorted(client.xrange('unity:topic:/p0') + client.xrange('unity:topic:/p1'),
                    key=lambda entry: parse_id(entry[0]))
    assert [int(f[b'seq']) for _id, f in merged] == list(range(1, 3001))
    snap = writer.snapshot()
    assert snap['written'] == 3000 and snap['writer_restarts'] == 0
    assert not snap['writer_alive']  # it wrote everything out and exited


@pytest.mark.parametrize('nice', [None, 0, 9])
def test_the_writer_process_runs_at_the_configured_nice_value(tmp_path, redis_server, nice):
    state = tmp_path / 'state'
    state.mkdir()
    text = CONFIG.format(url=redis_server.url)
    if nice is not None:
        text = text.replace('reconnect_interval_ms: 100}',
                            f'reconnect_interval_ms: 100, writer_nice: {nice}}}')
    config = parse_config(text)
    writer = ProcessWriter(config, state)
    writer.prime()
    writer.start()
    try:
        support.wait_for(lambda: writer.snapshot()['writer_alive'], 20, message='writer up')
        expected = os.nice(0) + (5 if nice is None else nice)
        assert psutil.Process(writer.snapshot()['writer_pid']).nice() == min(expected, 19)
    finally:
        writer.stop(10)


def test_writer_process_killed_again_and_again_under_load_loses_and_doubles_nothing(
        tmp_path, redis_server, bus):
    writer = make_writer(tmp_path, redis_server.url)
    writer.prime()
    writer.start()
    bus.add_tap(writer.offer)
    n, kills = 0, 0
    while n < 20000:
        bus.publish('/load', 'std_msgs/msg/String', cdr=cdr(n))
        n += 1
        if n % 500 == 0:
            support.time.sleep(0.01)
        if n % 5000 == 2500:  # kill -9 the writer mid-stream, wait for its successor
            pid = writer.snapshot()['writer_pid']
            os.kill(pid, signal.SIGKILL)
            kills += 1
            support.wait_for(lambda: writer.snapshot()['writer_restarts'] == kills, 20,
                             message='the supervisor noticed the killed writer')
            support.wait_for(lambda: writer.snapshot()['writer_pid'] != pid
                             and writer.snapshot()['writer_alive'], 20,
                             message='the supervisor started a new writer')
    support.wait_for(lambda: writer.snapshot()['writer_alive'], 20,
                     message='a writer process running again')
    writer.stop(20)
    client = redis.Redis.from_url(redis_server.url)
    assert values(client, '/load') == list(range(20000))  # all, in order, none twice
    snap = writer.snapshot()
    assert snap['writer_restarts'] == kills == 4
    assert snap['dropped_queue'] == 0
    assert 'signal 9' in snap['writer_last_exit']
    assert not ring_path(tmp_path / 'state').exists()  # written out, so removed


KERNEL = textwrap.dedent("""
    import os, signal, sys
    from rclpy.serialization import serialize_message
    from std_msgs.msg import String
    from unity_kernel_core.audit.writer_process import ProcessWriter
    from unity_kernel_core.bus.event_bus import EventBus
    from unity_kernel_core.config.kernel_config import parse_config
    import pathlib
    config = parse_config(sys.argv[1])
    writer = ProcessWriter(config, pathlib.Path(sys.argv[2]))
    writer.prime()
    writer.start()
    bus = EventBus()
    bus.start()
    bus.add_tap(writer.offer)
    payloads = [serialize_message(String(data=str(i))) for i in range(int(sys.argv[3]))]
    for p in payloads:
        bus.publish('/last', 'std_msgs/msg/String', cdr=p)
    print('published', writer.snapshot()['writer_pid'], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # the kernel dies with events still in the ring
""")


def test_kernel_killed_right_after_publishing_its_writer_still_writes_every_event(
        tmp_path, redis_server):
    state = tmp_path / 'state'
    state.mkdir()
    n = 30000
    log = tmp_path / 'kernel.log'
    with open(log, 'wb') as out:
        code = subprocess.call([sys.executable, '-c', KERNEL,
                                CONFIG.format(url=redis_server.url), str(state), str(n)],
                               stdout=out, stderr=subprocess.STDOUT, timeout=60,
                               env=dict(os.environ, PYTHONPATH=str(support.ROOT / 'src')))
    assert code == -signal.SIGKILL, log.read_text()
    assert 'published' in log.read_text()
    client = redis.Redis.from_url(redis_server.url)
    support.wait_for(lambda: client.xlen('unity:topic:/last') >= n, 30,
                     message='the orphaned writer wrote out the ring')
    assert values(client, '/last') == list(range(n))
    with open(state / LOCK_FILE, 'a+b') as lock:  # the orphaned writer exits when done
        support.wait_for(lambda: _try_lock(lock), 20, message='the orphaned writer exited')


def _try_lock(lock):
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(lock, fcntl.LOCK_UN)
    return True


def test_events_left_in_the_ring_by_a_dead_kernel_and_writer_are_written_at_the_next_start(
        tmp_path, redis_server, bus):
    first = make_writer(tmp_path, redis_server.url)
    first.prime()  # the writer process runs; no supervisor (start) to restart it
    pid = first.snapshot()['writer_pid']
    os.kill(pid, signal.SIGKILL)
    support.wait_for(lambda: not first.snapshot()['writer_alive'], 10, message='writer gone')
    bus.add_tap(first.offer)
    for i in range(500):
        bus.publish('/left', 'std_msgs/msg/String', cdr=cdr(i))
    bus.remove_tap(first.offer)  # the kernel "dies": nobody wrote the ring out
    client = redis.Redis.from_url(redis_server.url)
    assert client.xlen('unity:topic:/left') == 0
    second = make_writer(tmp_path, redis_server.url)
    assert second.prime() == 500  # the next kernel continues after the events it recovered
    second.start()
    second.stop(10)
    assert values(client, '/left') == list(range(500))
