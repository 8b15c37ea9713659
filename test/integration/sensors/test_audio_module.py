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

"""The shipped audio module: its manifest, the launch plan, and the kernel supervising it."""

import json
import re
import sys
import textwrap

from audio_harness import PulseAudio
import numpy as np
import pytest
from sensor_support import wait_state
from std_msgs.msg import String, UInt8MultiArray
import support

from unity_kernel_core.api.launch_plan import node_modules
from unity_kernel_core.config.kernel_config import load_config
from unity_kernel_core.supervision.manifest import load_manifest
from unity_sensors.audio import pcm
from unity_sensors.audio.settings import AudioSettings
from unity_sensors.sensor_node import common_parameters

MODULES = support.ROOT / 'modules'


def test_shipped_manifest_runs_the_installed_audio_executable_with_valid_parameters():
    manifest = load_manifest(MODULES / 'audio')
    assert (manifest.kind.value, manifest.executable, manifest.fully_qualified_node_name) == \
        ('node', 'audio', '/sensors/audio')
    setup_py = (support.ROOT / 'setup.py').read_text()
    scripts = re.findall(r"'([a-z_-]+) = ([a-z_.]+):([a-z_]+)'", setup_py)
    assert ('audio', 'unity_sensors.entry', 'audio') in scripts
    audio_params = {k: v for k, v in manifest.parameters.items()
                    if k in AudioSettings.model_fields}
    AudioSettings.model_validate(audio_params)  # every audio parameter is a valid value
    common = {spec.name for spec in common_parameters('audio', 0.0)} - {'autostart'}
    assert set(manifest.parameters) - set(audio_params) <= common  # the sensor base's


def test_audio_is_off_in_the_shipped_config_and_launched_when_enabled(tmp_path):
    shipped = support.ROOT / 'config' / 'kernel.yaml'
    assert 'audio' not in load_config(shipped).modules.enabled  # no sound card here
    assert 'audio' not in [m.module for m in node_modules(shipped)]
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'modules:\n  search_paths: [{MODULES}]\n'
                      '  enabled: [heartbeat, audio]\n')
    plan = node_modules(config)
    assert [(m.module, m.executable, m.name, m.namespace) for m in plan] == [
        ('audio', 'audio', 'audio', '/sensors')]
    assert plan[0].parameters['sample_rate'] == 16000


@pytest.mark.ros
def test_kernel_brings_up_the_shipped_audio_module_on_the_default_input(
        ros_env, probe, processes, tmp_path):
    pa = PulseAudio(tmp_path / 'pulse').start()
    try:
        tone = np.round(0.25 * 32767 * np.sin(2 * np.pi * 300 * np.arange(16000) / 16000))
        pa.feed(tone.astype('<i2').tobytes(), loop=True)
        config = tmp_path / 'kernel.yaml'
        config.write_text(textwrap.dedent(f"""\
            kernel: {{state_dir: {tmp_path / 'state'}, diagnostics_period_s: 0.5,
                      event_echo_topic: /unity_kernel/events}}
            redis: {{enabled: false}}
            modules: {{search_paths: [{MODULES}], enabled: [audio]}}
            """))
        chunks = probe.collect('/sensors/audio/pcm', UInt8MultiArray)
        echo = probe.collect('/unity_kernel/events', String)
        kernel = processes.start(
            [sys.executable, '-m', 'unity_kernel_core.kernel.node', '--ros-args',
             '-p', f'config_file:={config}', '-p', 'autostart:=true'],
            pa.env(ros_env), tmp_path / 'kernel.log')
        support.wait_for(lambda: len(chunks) >= 5, 60,
                         message=f'chunks from the supervised audio module\n{kernel.output()}')
        header, frames = pcm.decode(chunks[-1].data)
        assert (header.fmt.sample_rate, frames.shape) == (16000, (1600, 1))
        wait_state(probe, 'sensors/audio', 'active', 10)

        def mapped():
            return [e for e in (json.loads(m.data) for m in list(echo))
                    if e['topic'] == '/sensors/audio/pcm']
        events = support.wait_for(mapped, 30, message='audio chunks on the kernel bus')
        assert (events[0]['tier'], events[0]['type']) == ('HIGH', 'std_msgs/msg/UInt8MultiArray')
        kernel.stop()
    finally:
        pa.stop()
