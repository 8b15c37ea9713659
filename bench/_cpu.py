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

from typing import Dict, Iterable, Optional

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
