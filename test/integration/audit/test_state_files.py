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
The writer process's state files under attack and damage, with the real processes.

A ring planted by another user, rings left damaged by a dead kernel, a full ``/dev/shm``, a
journal with garbage in it: the writer starts every time, reads only what is this user's,
writes every intact event to Redis, and moves the damage aside with one ERROR.
"""

import os
import signal
import struct
import subprocess
import sys
import textwrap

import pytest
from rclpy.serialization import deserialize_message, serialize_message
import redis
from std_msgs.msg import String
import support

from unity_kernel_core.audit.record import AuditRecord
from unity_kernel_core.audit.ring import Ring
from unity_kernel_core.audit.writer_process import ProcessWriter, ring_file
from unity_kernel_core.bus.event_bus import EventBus
from unity_kernel_core.bus.events import Event, Tier
from unity_kernel_core.config.kernel_config import parse_config

pytestmark = pytest.mark.redis

CONFIG = ('redis: {{url: "{url}", flush_interval_ms: 2, batch_size: 50, ring_bytes: 65536, '
          'reconnect_interval_ms: 100}}\nkernel: {{shutdown_timeout_s: 5}}\n')
NOBODY = 65534


def make_writer(tmp_path, url):
    state = tmp_path / 'state'
    state.mkdir(exist_ok=True, mode=0o700)
    return ProcessWriter(parse_config(CONFIG.format(url=url)), state)


def cdr(i):
    return serialize_message(String(data=str(i)))


def values(client, topic):
    return [int(deserialize_message(AuditRecord.from_entry(i, f).cdr, String).data)
            for i, f in client.xrange(f'unity:topic:{topic}')]


def left_by_a_dead_kernel(tmp_path, url, n=500):
    """Return the ring file a kernel left with ``n`` events in it (its writer killed first)."""
    first = make_writer(tmp_path, url)
    first.prime()
    os.kill(first.snapshot()['writer_pid'], signal.SIGKILL)
    support.wait_for(lambda: not first.snapshot()['writer_alive'], 10, message='writer gone')
    bus = EventBus()
    bus.start()
    bus.add_tap(first.offer)
    for i in range(n):
        bus.publish('/left', 'std_msgs/msg/String', cdr=cdr(i))
    bus.remove_tap(first.offer)
    bus.stop()
    return ring_file.recorded(tmp_path / 'state')


def poke(path, offset, data):
    with open(path, 'r+b') as f:
        f.seek(offset)
        f.write(data)


@pytest.mark.skipif(os.geteuid() != 0, reason="planting another user's file needs root")
def test_another_users_ring_file_never_enters_the_trail(tmp_path, redis_server):
    state = tmp_path / 'state'
    state.mkdir(mode=0o700)
    planted = ring_file.earlier_path(state)  # the name earlier versions derived from state_dir
    if planted is None:
        pytest.skip('no /dev/shm here')
    forger = ProcessWriter(parse_config(CONFIG.format(url=redis_server.url)), state)
    forger._ring = Ring.create(planted, 1 << 20)  # what another user could write there
    try:
        for i in range(500):
            forger.offer(Event('/safety/estop', 'std_msgs/msg/String', Tier.CRITICAL, i + 1,
                               cdr=cdr(i)))
        os.chown(planted, NOBODY, NOBODY)
        os.chmod(planted, 0o666)
        writer = make_writer(tmp_path, redis_server.url)
        writer.prime()
        writer.start()
        writer.stop(10)
        client = redis.Redis.from_url(redis_server.url)
        assert client.xlen('unity:topic:/safety/estop') == 0  # none of the 500 forged
        assert planted.exists()  # not ours to move or delete
    finally:
        planted.unlink(missing_ok=True)


def _bad_magic(path):
    poke(path, 0, b'NOTARING')


def _truncated(path):
    os.truncate(path, path.stat().st_size // 2)


def _head_behind_tail(path):
    poke(path, 24, struct.pack('<Q', 1 << 40))


def _head_past_tail(path):
    poke(path, 16, struct.pack('<Q', 1 << 40))


def _bad_record_length(path):
    data = path.read_bytes()  # the length word before event 250's 42-byte head, its names
    at = data.index(b'/leftstd_msgs/msg/String' + cdr(250)) - 42 - 4
    poke(path, at, struct.pack('<I', 0x7FFFFFF0))


def _a_directory(path):
    path.unlink()
    path.mkdir()


@pytest.mark.parametrize('damage, expected', [
    (_bad_magic, range(500)), (_head_behind_tail, range(500)), (_head_past_tail, range(500)),
    (_bad_record_length, [i for i in range(500) if i != 250]), (_truncated, None),
    (_a_directory, [])])
def test_a_damaged_ring_left_by_a_dead_kernel_is_moved_aside_and_its_events_written(
        tmp_path, redis_server, damage, expected):
    path = left_by_a_dead_kernel(tmp_path, redis_server.url)
    damage(path)
    second = make_writer(tmp_path, redis_server.url)
    second.prime()  # the kernel starts
    second.start()
    second.stop(10)
    got = values(redis.Redis.from_url(redis_server.url), '/left')
    if expected is None:  # the first half of the file: a prefix, in order
        assert 0 < len(got) < 500 and got == list(range(len(got)))
    else:
        assert got == list(expected)
    assert [p for p in path.parent.iterdir() if p.name.startswith(path.name + '.damaged-')]
    for moved in path.parent.glob(path.name + '.damaged-*'):
        subprocess.run(['rm', '-rf', str(moved)], check=True)


def test_a_damaged_journal_never_stops_the_writer(tmp_path, redis_server):
    state = tmp_path / 'state'
    journal = state / 'mirror-journal'
    journal.mkdir(parents=True, mode=0o700)
    (journal / 'seg-000000000003.jrn').write_bytes(os.urandom(5000))
    (journal / 'seg-000000000004.jrn').mkdir()
    (journal / 'seg-000000000005.jrn').symlink_to('/dev/zero')
    (journal / 'seg-999999999999.jrn').write_bytes(b'UKJ2garbage')
    (journal / 'cursor').write_bytes(b'\x00' * 10)
    writer = make_writer(tmp_path, redis_server.url)
    writer.prime()
    writer.start()
    bus = EventBus()
    bus.start()
    bus.add_tap(writer.offer)
    for i in range(100):
        bus.publish('/after', 'std_msgs/msg/String', cdr=cdr(i))
    writer.stop(10)
    bus.stop()
    assert values(redis.Redis.from_url(redis_server.url), '/after') == list(range(100))
    assert len(list(journal.glob('*.damaged-*'))) == 4  # the last, seg-999999999999: torn


FULL_SHM_KERNEL = textwrap.dedent("""
    import pathlib, sys
    from rclpy.serialization import serialize_message
    from std_msgs.msg import String
    from unity_kernel_core.audit.writer_process import ProcessWriter
    from unity_kernel_core.bus.event_bus import EventBus
    from unity_kernel_core.config.kernel_config import parse_config
    writer = ProcessWriter(parse_config(sys.argv[1]), pathlib.Path(sys.argv[2]))
    writer.prime()
    writer.start()
    bus = EventBus()
    bus.start()
    bus.add_tap(writer.offer)
    for i in range(200):
        bus.publish('/shm', 'std_msgs/msg/String', cdr=serialize_message(String(data=str(i))))
    print('ring', writer._ring.path, flush=True)
    writer.stop(10)
    bus.stop()
""")


@pytest.mark.skipif(os.geteuid() != 0, reason='a private mount of /dev/shm needs root')
def test_a_full_dev_shm_puts_the_ring_in_the_state_dir_and_the_kernel_starts(
        tmp_path, redis_server):
    state = tmp_path / 'state'
    state.mkdir(mode=0o700)
    script = (f'mount -t tmpfs -o size=16k tmpfs /dev/shm && exec {sys.executable} -c '
              f'"$0" "$1" "$2"')
    done = subprocess.run(['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
                           script, FULL_SHM_KERNEL, CONFIG.format(url=redis_server.url),
                           str(state)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(support.ROOT / 'src')))
    assert done.returncode == 0, done.stderr
    assert f'ring {state}/mirror-ring-' in done.stdout
    assert 'the ring goes to the state directory' in done.stderr
    assert 'Traceback' not in done.stderr
    assert values(redis.Redis.from_url(redis_server.url), '/shm') == list(range(200))
    assert not list(state.glob('mirror-ring*'))  # written out and removed, with its record
