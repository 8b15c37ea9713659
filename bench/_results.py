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

"""Write a benchmark's results file, ``bench/results/<name>.json``, with the date and machine."""

import json
import os
import pathlib
import platform
import time
from typing import Any, Dict

RESULTS = pathlib.Path(__file__).resolve().parent / 'results'


def machine(extra: str = '') -> str:
    """Describe this machine: architecture, cores, Python (and ``extra``, e.g. a server)."""
    text = (f'{platform.machine()}, {os.cpu_count()} cores, '
            f'Python {platform.python_version()}')
    return f'{text}, {extra}' if extra else text


def write_results(name: str, fields: Dict[str, Any], machine_extra: str = '',
                  directory: pathlib.Path = RESULTS) -> pathlib.Path:
    """Write ``{date (UTC), machine, **fields}`` to ``<directory>/<name>.json``; return it."""
    result = {'date': time.strftime('%Y-%m-%d', time.gmtime()),
              'machine': machine(machine_extra), **fields}
    out = directory / f'{name}.json'
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + '\n')
    return out
