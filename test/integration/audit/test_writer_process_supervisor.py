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
The kernel's side of the writer process waits for it a bounded time, however it misbehaves.

Real child processes stand in for the writer: one that says nothing, one that never ends its
line, one whose line has no end at all. No Redis, no ROS.
"""

import sys
import time

import psutil
import pytest

from unity_kernel_core.audit.record import AuditError
from unity_kernel_core.audit.writer_process import supervisor
from unity_kernel_core.audit.writer_process.supervisor import ProcessWriter
from unity_kernel_core.config.kernel_config import parse_config

SILENT = 'import sys, time; sys.stdin.readline(); time.sleep(120)'
NO_NEWLINE = ('import sys, time; sys.stdin.readline(); sys.stdout.write("status {"); '
              'sys.stdout.flush(); time.sleep(120)')
ENDLESS_LINE = ('import sys, time; sys.stdin.readline(); '
                '[sys.stdout.write("x" * 65536) for _ in range(64)]; sys.stdout.flush(); '
                'time.sleep(120)')


def writer_with_child(tmp_path, monkeypatch, program):
    monkeypatch.setattr(supervisor, 'READY_TIMEOUT_S', 1.0)
    monkeypatch.setattr(supervisor, 'command',
                        lambda mode, state_dir: [sys.executable, '-c', program])
    config = parse_config('redis: {url: "redis://127.0.0.1:1", connect_timeout_s: 0.5}\n')
    state = tmp_path / 'state'
    state.mkdir()
    return ProcessWriter(config, state)


def children():
    return {p.pid for p in psutil.Process().children()}


@pytest.mark.parametrize('program, why', [(SILENT, 'said nothing within 1.5s'),
                                          (NO_NEWLINE, 'said nothing within 1.5s'),
                                          (ENDLESS_LINE, 'out of step')])
def test_a_writer_process_that_never_says_ready_fails_the_start_in_bounded_time(
        tmp_path, monkeypatch, program, why):
    writer = writer_with_child(tmp_path, monkeypatch, program)
    before = children()
    started = time.monotonic()
    with pytest.raises(AuditError, match=why):
        writer.prime()
    assert time.monotonic() - started < 10  # the timeout (1.5 s) and a kill, not 120 s
    assert children() <= before  # the silent process was killed and reaped
