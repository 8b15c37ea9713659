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
Run every benchmark (``bench/bench_*.py``) one after another: ``make bench``.

Each writes its own results file under ``bench/results/``; ``docs/performance.md`` summarizes
them. ``python bench/run_all.py NAME ...`` runs only the named ones (``kernel``, ``modules``...).
"""

import pathlib
import subprocess
import sys

BENCH = pathlib.Path(__file__).resolve().parent


def main() -> int:
    wanted = set(sys.argv[1:])
    scripts = sorted(p for p in BENCH.glob('bench_*.py')
                     if not wanted or p.stem[len('bench_'):] in wanted)
    if wanted and len(scripts) != len(wanted):
        found = {p.stem[len('bench_'):] for p in BENCH.glob('bench_*.py')}
        print(f'unknown benchmark(s): {", ".join(sorted(wanted - found))}; '
              f'available: {", ".join(sorted(found))}', file=sys.stderr)
        return 2
    failed = []
    for script in scripts:
        print(f'== {script.name}', flush=True)
        if subprocess.run([sys.executable, str(script)]).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f'failed: {", ".join(failed)}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
