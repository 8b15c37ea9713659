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

"""Everything the kernel keeps under ``state_dir`` is private to the user (0700 / 0600)."""

import os
import pathlib
import shutil
import stat
import sys
import textwrap

import pytest
import support

from unity_kernel_core.audit.journal import Journal
from unity_kernel_core.paths import ensure_private_dir, StateDirError

TALKER = str(support.ROOT / 'test' / 'nodes' / 'talker.py')
MODULE_NODE = support.ROOT / 'test' / 'nodes' / 'lifecycle_module.py'


def open_to_others(root: pathlib.Path):
    return [f'{p} {stat.filemode(p.stat().st_mode)}' for p in [root, *root.rglob('*')]
            if not p.is_symlink() and p.stat().st_mode & 0o077]


def test_an_existing_state_dir_is_made_private_and_shared_or_bad_ones_refused(tmp_path):
    state = tmp_path / 'state'
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    ensure_private_dir(state)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    shared = tmp_path / 'shared'
    shared.mkdir()
    os.chmod(shared, 0o1777)
    with pytest.raises(StateDirError, match='shared directory'):
        ensure_private_dir(shared)
    afile = tmp_path / 'file'
    afile.write_text('x')
    with pytest.raises(StateDirError, match='(?i)not a directory'):
        ensure_private_dir(afile / 'sub')
    with pytest.raises(StateDirError, match='not a directory'):
        ensure_private_dir(afile)


def test_the_journal_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        journal = Journal(tmp_path / 'j', 1024 * 1024)
        journal.append([b'secret payload'])
        journal.close()
    finally:
        os.umask(old)
    assert open_to_others(tmp_path / 'j') == []


@pytest.mark.ros
def test_journal_ring_and_module_logs_of_a_running_kernel_are_private(
        processes, ros_env, tmp_path):
    state = tmp_path / 'state'
    state.mkdir()
    os.chmod(state, 0o755)  # as an older version left it
    mods = tmp_path / 'modules'
    (mods / 'mod').mkdir(parents=True)
    shutil.copy(MODULE_NODE, mods / 'mod' / 'lifecycle_module.py')
    (mods / 'mod' / 'manifest.yaml').write_text(textwrap.dedent("""\
        name: mod
        version: 1.0.0
        kind: node
        executable: lifecycle_module.py
        """))
    dead = support.free_port()
    config = tmp_path / 'kernel.yaml'
    config.write_text(textwrap.dedent(f"""\
        kernel: {{state_dir: {state}, discovery_period_s: 0.2}}
        redis: {{url: "redis://127.0.0.1:{dead}/0", reconnect_interval_ms: 200}}
        modules: {{search_paths: [{mods}], enabled: [mod]}}
        """))
    env = dict(ros_env)
    kernel = processes.start([sys.executable, '-m', 'unity_kernel_core.kernel.node',
                              '--ros-args', '-p', f'config_file:={config}', '-p',
                              'autostart:=true'], env, tmp_path / 'kernel.log')
    kernel.wait_output('active', 60)
    processes.start([sys.executable, TALKER, '--topic', '/chatter', '--count', '200',
                     '--rate', '200'], ros_env, tmp_path / 'talker.log')
    support.wait_for(lambda: list(state.rglob('seg-*.jrn')), 60,
                     message='the journal written (Redis is down)')
    support.wait_for(lambda: (state / 'logs' / 'mod.log').exists(), 60,
                     message='the module log')
    assert open_to_others(state) == []
