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
Foxglove's own npm libraries under Node, for the tests: installed from ``test/js``'s lockfile.

``install(folder)`` runs ``npm ci`` on a copy of ``test/js/package.json`` and
``package-lock.json`` in ``folder`` (a temp dir of the test session; nothing is committed but
the two files). :class:`FoxgloveJs` runs the scripts of ``test/js`` with it and returns the
JSON lines they print.
"""

import dataclasses
import json
import pathlib
import shutil
import subprocess
from typing import Dict, List, Optional

import support

JS = support.ROOT / 'test' / 'js'


def install(folder: pathlib.Path) -> pathlib.Path:
    """Install the locked packages into ``folder``; return its ``node_modules``."""
    for name in ('package.json', 'package-lock.json'):
        shutil.copy(JS / name, folder / name)
    result = subprocess.run(['npm', 'ci', '--no-audit', '--no-fund', '--ignore-scripts'],
                            cwd=folder, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f'npm ci in {folder} failed:\n{result.stderr[-2000:]}')
    return folder / 'node_modules'


@dataclasses.dataclass
class NodeRun:
    """What a script printed: its JSON lines, exit code and stderr."""

    events: List[dict]
    returncode: int
    stderr: str

    def of(self, kind: str) -> List[dict]:
        """Return the events of one kind (``schema``, ``message``, ...)."""
        return [e for e in self.events if e['event'] == kind]


@dataclasses.dataclass
class FoxgloveJs:
    """Runs ``test/js`` scripts with the installed packages."""

    modules: pathlib.Path

    def run(self, script: str, args: List[str], timeout: float,
            env: Optional[Dict[str, str]] = None) -> NodeRun:
        """Run ``node test/js/SCRIPT ARGS``; return its JSON lines."""
        result = subprocess.run(['node', str(JS / script)] + args, capture_output=True,
                                text=True, timeout=timeout,
                                env=dict(env or {}, PATH='/usr/local/bin:/usr/bin:/bin',
                                         NODE_PATH=str(self.modules)))
        events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        return NodeRun(events, result.returncode, result.stderr)

    def live(self, url: str, wanted: Dict[str, int], seconds: float = 60) -> NodeRun:
        """Decode ``wanted`` messages per topic from a live view (foxglove_live_decode.js)."""
        return self.run('foxglove_live_decode.js', [url, json.dumps(wanted), str(seconds)],
                        seconds + 30)

    def mcap(self, path: pathlib.Path) -> NodeRun:
        """Read an MCAP file as the Foxglove app does (foxglove_mcap_decode.js)."""
        return self.run('foxglove_mcap_decode.js', [str(path)], 300)
