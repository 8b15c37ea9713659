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
Signals, the way a terminal's Ctrl-C under ``ros2 launch`` delivers them.

The terminal sends SIGINT to the whole process group, and launch then signals each process
again. Every node must shut down once, through its lifecycle, ignore the repeats, and exit 0.
"""

import json
import os
import re
import signal
import sys
import textwrap
import time
import wave

import pytest
import support

from unity_kernel_core.ros.lifecycle_base import ShutdownSignals

pytestmark = pytest.mark.ros

CAMERA = ['-m', 'unity_sensors.camera.node', '--ros-args', '-r', '__node:=camera', '-r',
          '__ns:=/sensors', '-p', 'source:=pattern', '-p', 'width:=160', '-p', 'height:=120',
          '-p', 'fps:=5.0']


def error_lines(text: str):
    return [line for line in text.splitlines() if '[ERROR]' in line or 'Traceback' in line]


def test_a_repeated_signal_is_ignored_while_the_first_one_is_acted_on():
    signals = ShutdownSignals()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert signals.install()
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)  # would raise KeyboardInterrupt without the base
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert signals.requested.is_set()
    assert signals.received == 'SIGTERM'
    assert signals.ignored == 2


def kernel_config(tmp_path):
    mods = tmp_path / 'modules'
    support.launched_camera_module(mods)
    path = tmp_path / 'kernel.yaml'
    path.write_text(textwrap.dedent(f"""\
        kernel: {{state_dir: {tmp_path / 'state'}, diagnostics_period_s: 0.5}}
        redis: {{enabled: false}}
        modules: {{search_paths: [{mods}], enabled: [camera]}}
        """))
    return path


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_a_group_signal_and_its_repeats_end_kernel_and_camera_cleanly(
        processes, ros_env, tmp_path, probe, sig):
    """As ``ros2 launch`` runs them: one process group; the group signal, then each again."""
    config = kernel_config(tmp_path)
    kernel = processes.start(
        [sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args', '-r',
         '__node:=unity_kernel', '-p', f'config_file:={config}', '-p', 'autostart:=true',
         '-p', 'spawn_modules:=false'], ros_env, tmp_path / 'kernel.log', group=0)
    camera = processes.start([sys.executable, *CAMERA], ros_env, tmp_path / 'camera.log',
                             group=kernel.pid)
    assert os.getpgid(camera.pid) == os.getpgid(kernel.pid) == kernel.pid
    support.wait_for(lambda: probe.get_state('sensors/camera') == 'active', 60,
                     message='camera activated by the kernel')
    start = time.monotonic()
    os.killpg(kernel.pid, sig)
    time.sleep(0.2)
    for proc in (kernel, camera):
        proc.signal_process(sig)
    codes = {'kernel': kernel.wait(5 - (time.monotonic() - start) + 0.5),
             'camera': camera.wait(max(0.5, 5 - (time.monotonic() - start)))}
    elapsed = time.monotonic() - start
    assert codes == {'kernel': 0, 'camera': 0}, (kernel.output()[-3000:],
                                                 camera.output()[-3000:])
    assert elapsed < 5.5, elapsed
    out = kernel.output()
    assert f'shutting down: draining the bus ({sig.name})' in out
    # stopped in order by the kernel, or taken as stopped at once when the camera, which got
    # the same signal, went first; never recovered or waited for while the kernel goes down
    assert re.search(r'module camera: stopped \(kernel (shutting|going) down', out), out[-3000:]
    assert 'module camera: recovering' not in out, out[-3000:]
    assert 'no answer from' not in out, out[-3000:]
    assert camera.output().count('shutting down: releasing the device') == 1
    for name, proc in (('kernel', kernel), ('camera', camera)):
        assert error_lines(proc.output()) == [], (name, proc.output()[-3000:])


def tone(path):
    with wave.open(str(path), 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b'\0\0' * 16000)
    return path


def llm_config(tmp_path):
    path = tmp_path / 'llm.yaml'
    path.write_text(json.dumps({'bridge': {'diagnostics_period_s': 0.3},
                                'models': {'m': {'api': 'openai', 'model': 'x',
                                                 'base_url': 'http://127.0.0.1:9/v1'}},
                                'routes': [{'name': 'chat', 'match': ['/llm/chat/**'],
                                            'models': ['m']}]}))
    return path


NODES = {
    'camera': (CAMERA, 'sensors/camera'),
    'haptic': (['-m', 'unity_sensors.haptic.node', '--ros-args', '-p', 'driver:=simulated'],
               'haptic'),
    'audio': (['-m', 'unity_sensors.audio.node', '--ros-args', '-p', 'source:=wav', '-p',
               'wav_path:={wav}', '-p', 'wav_loop:=true'], 'audio'),
    'llm_bridge': (['-m', 'unity_llm_bridge.node', '--ros-args', '-p',
                    'config_file:={llm}'], 'llm_bridge'),
}


@pytest.mark.parametrize('name', sorted(NODES))
def test_each_node_shuts_down_once_and_ignores_repeated_signals(
        processes, ros_env, tmp_path, probe, name):
    args, node = NODES[name]
    values = {'wav': tone(tmp_path / 'tone.wav'), 'llm': llm_config(tmp_path)}
    args = [a.format(**values) for a in args] + ['-p', 'autostart:=true']
    proc = processes.start([sys.executable, *args], ros_env, tmp_path / f'{name}.log')
    support.wait_for(lambda: probe.get_state(node) == 'active', 60,
                     message=f'{name} active')
    start = time.monotonic()
    proc.signal(signal.SIGINT)
    proc.signal(signal.SIGTERM)  # a repeat at once: ignored, not fatal
    time.sleep(0.2)
    proc.signal_process(signal.SIGINT)
    assert proc.wait(5) == 0, proc.output()[-3000:]
    assert time.monotonic() - start < 5
    out = proc.output()
    assert 'while already shutting down (after SIGINT): ignored' in out, out[-3000:]
    assert error_lines(out) == [], out[-3000:]
    # the process ends without the interpreter's finalization, but not without leaving the
    # ROS graph: peers see it go at once, not when its DDS lease runs out (about 20 s)
    ns, _, base = f'/{node}'.rpartition('/')
    support.wait_for(lambda: (base, ns or '/') not in probe.node.get_node_names_and_namespaces(),
                     3, message=f'{name} gone from the ROS graph')


def console_script(name):
    """Return the command line of a console script as setup.py declares it (not installed)."""
    text = (support.ROOT / 'setup.py').read_text()
    module, function = re.search(rf"'{name} = ([\w.]+):(\w+)'", text).groups()
    return [sys.executable, '-c',
            f'import sys; from {module} import {function}; sys.exit({function}())']


@pytest.mark.parametrize('delay', [0.5, 0.75, 1.0], ids=['0.5s', '0.75s', '1.0s'])
def test_ctrl_c_in_the_first_second_is_a_clean_exit(processes, ros_env, tmp_path, delay):
    """
    The terminal's SIGINT to the group while kernel and camera still import, then launch's.

    (Not before 0.5 s: the first 0.15-0.3 s here are the interpreter's own start, which runs
    no code of the package; with the ROS wheels it is started twice, see ros2-on-pypi.)
    """
    config = kernel_config(tmp_path)
    kernel = processes.start(
        console_script('kernel') + ['--ros-args', '-r', '__node:=unity_kernel', '-p',
                                    f'config_file:={config}', '-p', 'autostart:=true', '-p',
                                    'spawn_modules:=false'],
        ros_env, tmp_path / 'kernel.log', group=0)
    camera = processes.start(console_script('camera') + CAMERA[2:], ros_env,
                             tmp_path / 'camera.log', group=kernel.pid)
    time.sleep(delay)
    os.killpg(kernel.pid, signal.SIGINT)
    time.sleep(0.2)
    for proc in (kernel, camera):
        proc.signal_process(signal.SIGINT)
    codes = {'kernel': kernel.wait(15), 'camera': camera.wait(15)}
    outputs = {'kernel': kernel.output(), 'camera': camera.output()}
    assert codes == {'kernel': 0, 'camera': 0}, outputs
    for name, out in outputs.items():
        assert 'Traceback' not in out and 'KeyboardInterrupt' not in out, (name, out[-3000:])
