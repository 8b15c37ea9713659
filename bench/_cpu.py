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

"""CPU time of benchmark processes, per event: one meter for every bench that reports it."""

import os
import re
import shutil
import subprocess
import sys
from typing import Dict, Iterable, Optional, Tuple

import psutil


def cpu_seconds(proc: psutil.Process, descendants: bool = False) -> float:
    """Return the user + system CPU seconds of ``proc`` (and its live descendants)."""
    tree = [proc]
    if descendants:
        try:
            tree += proc.children(recursive=True)
        except psutil.NoSuchProcess:
            return 0.0
    total = 0.0
    for p in tree:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class CpuMeter:
    """
    CPU seconds (user + system) of named processes between start() and a reading.

    ``descendants``: each process counts with its live descendants (a kernel with its writer
    process).
    """

    def __init__(self, descendants: bool = False, **pids: int) -> None:
        self.descendants = descendants
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.start_s: Dict[str, float] = {}

    def start(self) -> None:
        """Note every process's CPU time now."""
        self.start_s = {name: cpu_seconds(p, self.descendants)
                        for name, p in self.procs.items()}

    def us_per_event(self, n: int, names: Optional[Iterable[str]] = None) -> Dict[str, float]:
        """Return the CPU microseconds per event of ``names`` (all) since start()."""
        return {name: round((cpu_seconds(self.procs[name], self.descendants) -
                             self.start_s[name]) / n * 1e6, 2)
                for name in (self.procs if names is None else names)}


def thread_times(pid: int) -> Dict[int, Tuple[str, float, int]]:
    """
    Return per thread of ``pid``: (native name, CPU seconds, voluntary context switches).

    A voluntary switch is a thread going to sleep (waiting for a lock, a condition, I/O):
    the count of wake-ups a thread costs.
    """
    tick = os.sysconf('SC_CLK_TCK')
    out = {}
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{tid}/stat') as f:
                stat = f.read()
            with open(f'/proc/{pid}/task/{tid}/status') as f:
                status = f.read()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(')') + 2:].split()
        switches = re.search(r'^voluntary_ctxt_switches:\s+(\d+)', status, re.M)
        out[int(tid)] = (stat[stat.index('(') + 1:stat.rindex(')')],
                         (int(fields[11]) + int(fields[12])) / tick,
                         int(switches.group(1)) if switches else 0)
    return out


def python_thread_names(pid: int) -> Dict[int, str]:
    """Return the Python name of each thread of ``pid`` by native id (``py-spy dump``)."""
    spy = shutil.which('py-spy') or os.path.join(os.path.dirname(sys.executable), 'py-spy')
    dump = subprocess.run([spy, 'dump', '--pid', str(pid)], capture_output=True, text=True,
                          timeout=30).stdout
    found = re.findall(r'^Thread (\d+) \(\w+\): "([^"]*)"', dump, re.M)
    return {int(tid): name for tid, name in found}


def per_thread(pid: int, before: Dict[int, Tuple[str, float, int]],
               after: Dict[int, Tuple[str, float, int]], n: int, seconds: float,
               names: Dict[int, str]) -> list:
    """Return each thread's CPU microseconds per event and wake-ups per second, busiest first."""
    rows = []
    for tid, (native, cpu, switches) in after.items():
        if tid in before:
            rows.append({'thread': names.get(tid, native),
                         'cpu_us_per_msg': round((cpu - before[tid][1]) / n * 1e6, 2),
                         'wakeups_per_s': round((switches - before[tid][2]) / seconds)})
    rows.sort(key=lambda r: -r['cpu_us_per_msg'])
    return [r for r in rows if r['cpu_us_per_msg'] or r['wakeups_per_s']]
