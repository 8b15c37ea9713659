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
One module's trouble never holds up another, with a real kernel and real processes.

Each case was measured on the single-threaded supervisor: a back-off, a bad dependency, a
module that never becomes a lifecycle node and a module exiting during start-up each held up
(or were never retried for) the others.
"""

import json
import os
import signal
import textwrap
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import pytest
from supervision_support import (events_of, kernel_config, list_modules, module_states,
                                 node_module, start_kernel)
import support

pytestmark = pytest.mark.ros

EXAMPLES = support.ROOT / 'modules'


def script_module(root, name, body, transition_timeout_s=30):
    """Write a node module whose executable is a plain Python script (never a lifecycle node)."""
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    (d / 'run.py').write_text(textwrap.dedent(body))
    (d / 'manifest.yaml').write_text(textwrap.dedent(f"""\
        name: {name}
        version: 1.0.0
        kind: node
        executable: run.py
        restart: {{max_restarts: 50, window_s: 60, backoff_initial_s: 0.2, backoff_max_s: 0.5}}
        health: {{heartbeat_period_s: 0.5, heartbeat_timeout_s: 1.5,
                  transition_timeout_s: {transition_timeout_s}}}
        """))
    return d


def config_with_examples(tmp_path, mods, enabled):
    config = kernel_config(tmp_path, mods, enabled)
    config.write_text(config.read_text().replace(
        f'search_paths: [{mods}]', f'search_paths: [{mods}, {EXAMPLES}]'))
    return config


def test_killed_module_comes_back_during_another_modules_long_backoff(
        processes, ros_env, tmp_path, probe):
    marker = tmp_path / 'marks.txt'
    mods = tmp_path / 'modules'
    node_module(mods, 'camera', marker=marker)
    slow = node_module(mods, 'slow', marker=marker, crash_after_s=1.0)
    manifest = slow / 'manifest.yaml'
    manifest.write_text(manifest.read_text().replace(
        'backoff_initial_s: 0.2, backoff_max_s: 1', 'backoff_initial_s: 20, backoff_max_s: 20'))
    start_kernel(processes, ros_env, tmp_path, kernel_config(tmp_path, mods, ['camera', 'slow']))
    support.wait_for(lambda: events_of(marker, 'slow', 'crashing')
                     and events_of(marker, 'camera', 'activated'), 60,
                     message='slow crashed, camera active')
    support.wait_for(lambda: module_states(probe).get('slow') == 'recovering', 10,
                     message='slow in its 20 s back-off')
    pid = int(events_of(marker, 'camera', 'activated')[0][3])
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    support.wait_for(lambda: len(events_of(marker, 'camera', 'activated')) == 2, 30,
                     message='camera active again')
    back = time.monotonic() - killed
    # its own back-off is 0.2 s; the other module's 20 s back-off must not count
    assert back < 10, f'camera back after {back:.1f}s'
    assert module_states(probe)['slow'] == 'recovering'


@pytest.mark.parametrize('bad', ['ghost', 'cycle', 'manifest'])
def test_bad_dependency_fails_only_its_modules_and_is_reported_once(
        processes, ros_env, tmp_path, probe, bad):
    marker = tmp_path / 'marks.txt'
    mods = tmp_path / 'modules'
    if bad == 'ghost':
        node_module(mods, 'orphan', depends=['ghost'], marker=marker)
        broken, words = ['orphan'], ["'orphan'", "'ghost'"]
    elif bad == 'cycle':
        node_module(mods, 'alpha', depends=['beta'], marker=marker)
        node_module(mods, 'beta', depends=['alpha'], marker=marker)
        broken, words = ['alpha', 'beta'], ['dependency cycle: alpha -> beta -> alpha']
    else:
        # a broken manifest: reported once with its file; its user fails, naming it
        (mods / 'driver').mkdir(parents=True)
        (mods / 'driver' / 'manifest.yaml').write_text(
            'name: driver\nversion: 1.0.0\nkind: nod\nexecutable: x\n')
        node_module(mods, 'user', depends=['driver'], marker=marker)
        broken, words = ['user'], ["'user'", "'driver'"]
    diagnostics = probe.collect('/diagnostics', DiagnosticArray)
    enabled = ['heartbeat', 'monitor', *broken] + (['driver'] if bad == 'manifest' else [])
    kernel = start_kernel(processes, ros_env, tmp_path, config_with_examples(
        tmp_path, mods, enabled))
    support.wait_for(lambda: module_states(probe).get('heartbeat') == 'active'
                     and module_states(probe).get('monitor') == 'active', 60,
                     message='the good modules active')
    time.sleep(3.0)
    states = module_states(probe)
    for name in broken:
        assert states[name] == 'failed', states
        assert words[-1] in list_modules(probe)[name]['message']
    lines = [line for line in kernel.output().splitlines()
             if all(w in line for w in words)]
    assert 1 <= len(lines) <= len(broken) + 1, lines
    if bad == 'manifest':
        manifest_lines = [line for line in kernel.output().splitlines()
                          if 'driver/manifest.yaml:3: kind' in line]
        assert len(manifest_lines) == 1, manifest_lines
    assert not events_of(marker, broken[0], 'configured')
    # and on /diagnostics: the module ERROR with the reason, the supervisor naming it
    latest = {s.name: s for array in list(diagnostics)[-4:] for s in array.status}
    module = latest[f'unity_kernel: module {broken[0]}']
    assert module.level == DiagnosticStatus.ERROR and words[-1] in module.message
    supervisor = latest['unity_kernel: supervisor']
    assert supervisor.level == DiagnosticStatus.ERROR and words[-1] in supervisor.message
    assert latest['unity_kernel: module monitor'].level == DiagnosticStatus.OK


def test_module_that_never_becomes_a_lifecycle_node_does_not_delay_the_others(
        processes, ros_env, tmp_path, probe):
    mods = tmp_path / 'modules'
    script_module(mods, 'stuck', """\
        import time
        while True:
            time.sleep(1)
        """, transition_timeout_s=40)
    started = time.monotonic()
    start_kernel(processes, ros_env, tmp_path, config_with_examples(
        tmp_path, mods, ['stuck', 'heartbeat', 'monitor']))
    support.wait_for(lambda: module_states(probe).get('monitor') == 'active', 60,
                     message='monitor active')
    took = time.monotonic() - started
    assert module_states(probe)['stuck'] == 'starting'
    assert took < 20, f'monitor active after {took:.1f}s'


def test_module_exiting_during_start_up_is_retried_per_its_backoff(
        processes, ros_env, tmp_path, probe):
    mods = tmp_path / 'modules'
    script_module(mods, 'quitter', """\
        import sys
        import time
        time.sleep(0.3)
        sys.exit(1)
        """)
    # a sibling that never answers: its start must not hold up the quitter's retries
    script_module(mods, 'hung', """\
        import time
        while True:
            time.sleep(1)
        """, transition_timeout_s=40)
    start_kernel(processes, ros_env, tmp_path,
                 kernel_config(tmp_path, mods, ['quitter', 'hung']))
    support.wait_for(lambda: list_modules(probe).get('quitter', {}).get('restarts', 0) >= 2,
                     30, message='quitter restarted')
    info = list_modules(probe)['quitter']
    # the last failure, structured: what ended it and with which status
    assert info['failure']['kind'] == 'exited' and info['failure']['code'] == 1, json.dumps(info)
    assert 'status 1' in info['failure']['detail']
    assert list_modules(probe)['hung']['state'] == 'starting'
