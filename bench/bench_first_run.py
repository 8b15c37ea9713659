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
Time a fresh clone's first run: ``make run`` to the kernel's first status line.

Then what ``make test`` adds (``make setup-dev``, ``make setup-llm``) before the tests run.

The clone (of this checkout's committed HEAD) gets its own ``.venv`` and its own ``HOME`` (the
kernel's state and private redis-server), but this machine's pip cache: the figures are for a
warm package cache. Debian packages already installed are skipped (the ``make`` step checks
them). Ctrl-C ends the kernel as a terminal would (SIGINT to the process group).
"""

import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

from _results import write_results

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'test'))
import support  # noqa: E402

STATUS = 'unity-kernel: unity_kernel active'


def make(target: str, cwd: pathlib.Path, env: dict) -> float:
    start = time.monotonic()
    subprocess.run(['make', target], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> int:
    with tempfile.TemporaryDirectory(prefix='uk-first-run-') as tmp:
        clone = pathlib.Path(tmp) / 'unity_kernel'
        subprocess.run(['git', 'clone', '--quiet', str(ROOT), str(clone)], check=True)
        home = pathlib.Path(tmp) / 'home'
        home.mkdir()
        pip_cache = subprocess.run([sys.executable, '-m', 'pip', 'cache', 'dir'],
                                   capture_output=True, text=True).stdout.strip()
        domain = support.fresh_domain_id()
        # this machine's caches (pip's, and the llama-cpp-python wheel built once by
        # scripts/install-model-server.sh under ~/.cache/unity_kernel): a warm first run
        cache = os.environ.get('XDG_CACHE_HOME', str(pathlib.Path.home() / '.cache'))
        env = {**os.environ, 'HOME': str(home), 'PIP_CACHE_DIR': pip_cache,
               'XDG_CACHE_HOME': cache,
               'ROS_DOMAIN_ID': str(domain), 'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
               # free ports for the live view: other kernels may run on this machine
               'UNITY_KERNEL__LIVE__FOXGLOVE_PORT': '0', 'UNITY_KERNEL__LIVE__DASHBOARD_PORT': '0'}
        for key in ('VIRTUAL_ENV', 'PYTHONPATH', 'AMENT_PREFIX_PATH'):
            env.pop(key, None)
        start = time.monotonic()
        proc = subprocess.Popen(['make', 'run'], cwd=clone, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        marks = {}
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            now = time.monotonic() - start
            if 'python environment: ready' in line:
                marks['installed_s'] = round(now, 1)
            if line.startswith(STATUS):
                marks['status_line_s'] = round(now, 1)
                os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C
        code = proc.wait(60)
        if 'status_line_s' not in marks:
            print(''.join(lines[-40:]), file=sys.stderr)
            return 1
        setup_dev = make('setup-dev', clone, env)
        setup_llm = make('setup-llm', clone, env)
        fields = {
            'make_run_to_status_line_s': marks['status_line_s'],
            'make_run_install_s': marks.get('installed_s'),
            'make_exit_code_after_ctrl_c': code,  # make itself dies of the SIGINT (-2)
            'kernel_stopped_clean': any('unity-kernel: stopped (clean)' in line
                                        for line in lines),
            'make_setup_dev_s': round(setup_dev, 1),
            'make_setup_llm_s': round(setup_llm, 1),
            'pip_cache': "warm (this machine's); Debian packages already installed",
        }
        support.release_domain_id(domain)
    out = write_results('first_run', fields)
    print(out.read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
