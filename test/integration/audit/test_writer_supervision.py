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
"""The kernel supervises its audit writer process: kill -9 it under load, nothing is lost."""

import os
import signal
import sys

from audit_support import mirror_statuses, records, start_kernel, TALKER, write_config
from diagnostic_msgs.msg import DiagnosticArray
import psutil
import pytest
from rclpy.serialization import deserialize_message
import redis
from std_msgs.msg import String
import support

pytestmark = [pytest.mark.ros, pytest.mark.redis]


def writer_pid(kernel_pid):
    for child in psutil.Process(kernel_pid).children():
        try:
            command = ' '.join(child.cmdline())
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue  # a killed writer the kernel has not reaped yet
        if 'unity_kernel_core.audit.writer_process' in command:
            return child.pid
    return None


def test_writer_process_killed_under_load_is_restarted_reported_and_loses_nothing(
        probe, ros_env, tmp_path, processes, redis_server):
    # keep-all intake: under load the kernel's reader must not drop in DDS what this test
    # counts against the writer process (as the fleet failover test does)
    config = write_config(tmp_path, redis_server.url,
                          'tiers: {NORMAL: {qos: {history: keep_all}}}\n')
    kernel = start_kernel(processes, ros_env, tmp_path, config)
    diagnostics = probe.collect('/diagnostics', DiagnosticArray)
    talker = processes.start([sys.executable, TALKER, '--topic', '/chatter', '--count', '4000',
                              '--rate', '1000'], ros_env, tmp_path / 'talker.log')
    talker.wait_output('talker: ready', 30)
    client = redis.Redis.from_url(redis_server.url)
    first = support.wait_for(lambda: writer_pid(kernel.pid), 10, message='the writer process')
    for _ in range(2):  # kill -9 the writer twice while the talker streams
        support.wait_for(lambda: client.xlen('unity:topic:/chatter') > 0, 20,
                         message='entries written')
        pid = support.wait_for(lambda: writer_pid(kernel.pid), 10, message='a writer process')
        os.kill(pid, signal.SIGKILL)
        support.wait_for(lambda: writer_pid(kernel.pid) not in (None, pid), 20,
                         message='the kernel restarted its writer process')
    assert writer_pid(kernel.pid) != first
    talker.wait_output('talker: done', 30)
    support.wait_for(lambda: client.xlen('unity:topic:/chatter') >= 4000, 30,
                     message='every event in Redis')
    values = [int(deserialize_message(r.cdr, String).data) for r in records(client, '/chatter')]
    assert values == list(range(4000))  # nothing lost, nothing twice, in order
    # /diagnostics is periodic: wait for a report made after the last restart
    support.wait_for(lambda: (lambda v: int(v['writer_restarts']) >= 2
                              and v['writer_alive'] == 'True')(mirror_statuses(diagnostics)[-1]),
                     10, message='/diagnostics reporting the restarts and a live writer')
    last = mirror_statuses(diagnostics)[-1]
    assert last['dropped_queue'] == '0' and last['writer_alive'] == 'True'
    kernel.stop()
