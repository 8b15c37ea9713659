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
The audio node as a separate process, driven through its lifecycle, observed by a subscriber.

Real devices: a private PulseAudio daemon (pipe source fed in real time) and ALSA ``file``
PCMs replaying a fixture bit-exactly (see audio_harness.py); real WAV files made here.
"""

import json
import subprocess
import time
import wave

from audio_harness import PulseAudio
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import DurabilityPolicy, qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
import sensor_support
from sensor_support import wait_state
from std_msgs.msg import Float32, String, UInt8MultiArray
import support

from unity_sensors.audio import pcm
from unity_sensors.audio.chunking import FLAG_DISCONTINUITY, FLAG_END

pytestmark = pytest.mark.ros
NODE = 'audio'
RATE = 16000


def sox(*args):
    subprocess.run(['sox', *map(str, args)], check=True, capture_output=True)


def tone(path, seconds, freq=440, volume=0.5, rate=RATE, channels=1, raw=False):
    """Make a sine fixture (WAV, or headerless s16le with ``raw``) with sox."""
    kind = ['-t', 'raw'] if raw else []
    sox('-n', '-r', rate, '-c', channels, '-b', 16, '-e', 'signed', *kind, path,
        'synth', seconds, 'sine', freq, 'vol', volume)
    return path


def wav_samples(path):
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), '<i2').reshape(
            -1, w.getnchannels())


def start_node(processes, env, tmp_path, **params):
    """Run the audio node with ``name=value`` parameters."""
    return sensor_support.start_node(
        processes, env, tmp_path, 'unity_sensors.audio.node',
        *(f'{k}:={str(v).lower() if isinstance(v, bool) else v}' for k, v in params.items()))


def wait_ready(probe, proc):
    if proc.proc.poll() is not None:
        raise AssertionError(f'node exited:\n{proc.output()[-3000:]}')
    wait_state(probe, NODE, 'unconfigured')


class Chunks:
    """Collect and decode the node's chunks."""

    def __init__(self, probe):
        self.msgs = probe.collect(f'/{NODE}/pcm', UInt8MultiArray)

    def decoded(self):
        return [pcm.decode(m.data) for m in list(self.msgs)]

    def wait(self, count, timeout=30):
        support.wait_for(lambda: len(self.msgs) >= count, timeout,
                         message=f'{count} audio chunks (got {len(self.msgs)})')
        return self.decoded()


def samples(decoded):
    return np.concatenate([frames[:h.valid_frames] for h, frames in decoded])


def configure_and_activate(probe, check_configured=lambda: None):
    """Configure, wait until the chunk publisher is discovered, then activate."""
    assert probe.change_state(NODE, 'configure')
    check_configured()
    support.wait_for(lambda: probe.node.count_publishers(f'/{NODE}/pcm') >= 1, 20,
                     message='the chunk publisher')
    time.sleep(0.5)  # discovery is not atomic: let the publisher match us too
    assert probe.change_state(NODE, 'activate')


def latched(probe, topic, msg_type):
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
    return probe.collect(topic, msg_type, qos)


@pytest.fixture
def pulse(tmp_path):
    daemons = []

    def make(**kwargs):
        daemon = PulseAudio(tmp_path / f'pulse{len(daemons)}', **kwargs).start()
        daemons.append(daemon)
        return daemon
    yield make
    for daemon in daemons:
        daemon.stop()


# -- WAV source ----------------------------------------------------------------------------------

def test_wav_round_trips_sample_exactly_in_fixed_size_chunks(
        ros_env, probe, processes, tmp_path):
    path = tone(tmp_path / 'tone.wav', 1.05, freq=997, volume=0.7, channels=2)
    expected = wav_samples(path)
    proc = start_node(processes, ros_env, tmp_path, source='wav', wav_path=path,
                      realtime=False, chunk_frames=1024)
    wait_ready(probe, proc)
    chunks = Chunks(probe)
    info = latched(probe, f'/{NODE}/info', String)
    configure_and_activate(probe)
    count = -(-len(expected) // 1024)
    decoded = chunks.wait(count)
    assert len(chunks.msgs) == count  # the file ended: nothing more
    for msg in chunks.msgs:
        assert msg.layout.data_offset == pcm.HEADER_BYTES
        assert [(d.label, d.size, d.stride) for d in msg.layout.dim] == [
            ('frames', 1024, 4096), ('channels', 2, 4), ('s16le', 2, 2)]
        assert len(msg.data) == pcm.HEADER_BYTES + 4096
    headers = [h for h, _ in decoded]
    assert [h.seq for h in headers] == list(range(count))
    assert {(h.fmt.sample_rate, h.fmt.channels, h.fmt.encoding) for h in headers} == {
        (RATE, 2, 's16le')}
    assert headers[-1].flags & FLAG_END and not headers[0].flags & FLAG_END
    assert np.array_equal(samples(decoded), expected)
    support.wait_for(lambda: info, 10, message='the latched info message')
    described = json.loads(info[0].data)
    assert (described['sample_rate'], described['channels'], described['chunk_frames']) == \
        (RATE, 2, 1024)
    # the format is fixed while configured: a run-time change is refused, not half-applied
    change = SetParameters.Request(parameters=[Parameter(name='sample_rate', value=ParameterValue(
        type=ParameterType.PARAMETER_INTEGER, integer_value=48000))])
    result = probe._call(SetParameters, f'/{NODE}/set_parameters', change).results[0]
    assert not result.successful and 'is read at configure' in result.reason
    assert probe.change_state(NODE, 'deactivate')
    assert probe.change_state(NODE, 'cleanup')
    wait_state(probe, NODE, 'unconfigured', 10)


def test_level_meter_reports_the_rms_of_a_known_tone(ros_env, probe, processes, tmp_path):
    path = tone(tmp_path / 'tone.wav', 2.0, volume=0.5)
    proc = start_node(processes, ros_env, tmp_path, source='wav', wav_path=path,
                      wav_loop=True, level_rate_hz=10.0, autostart=True)
    levels = probe.collect(f'/{NODE}/level', Float32, qos_profile_sensor_data)
    support.wait_for(lambda: len(levels) >= 5, 30, message='5 level messages')
    # a sine of amplitude 0.5 full scale: RMS 0.5/sqrt(2) = -9.03 dBFS
    assert all(abs(m.data - (-9.03)) < 0.3 for m in levels[1:5]), [m.data for m in levels]
    proc.stop()


def test_bad_parameters_fail_the_transition_with_a_clear_error(
        ros_env, probe, processes, tmp_path):
    corrupt = tmp_path / 'corrupt.wav'
    corrupt.write_bytes(b'RIFF\x24\x00\x00\x00WAVEfmt garbage that is no header')
    for params, expected in [
            ({'source': 'wav', 'wav_path': corrupt}, 'not a valid WAV file'),
            ({'source': 'wav', 'wav_path': tmp_path / 'none.wav'}, 'device not found: '),
            ({'sample_rate': 12345}, 'unsupported sample rate 12345 Hz'),
            ({'source': 'wav', 'wav_path': tone(tmp_path / 't.wav', 0.1, rate=8000),
              'sample_rate': 16000}, 'sample rate 8000 Hz, but sample_rate is 16000 Hz')]:
        proc = start_node(processes, ros_env, tmp_path, **params)
        wait_ready(probe, proc)
        assert not probe.change_state(NODE, 'configure')
        wait_state(probe, NODE, 'unconfigured', 10)
        assert expected in proc.output(), proc.output()
        proc.stop()


# -- PortAudio devices (private PulseAudio daemon, ALSA file PCMs) ------------------------------

def source_outputs(pa):
    """Return the capture streams the daemon serves right now."""
    return [line for line in pa.pactl('list', 'short', 'source-outputs').splitlines() if line]


def audio_status(diagnostics):
    for array in reversed(list(diagnostics)):
        for st in array.status:
            if st.name == f'{NODE}: audio':
                return st, {kv.key: kv.value for kv in st.values}
    return None, {}


def test_pulse_device_delivers_real_time_paced_chunks_and_is_released_on_deactivate(
        ros_env, probe, processes, tmp_path, pulse):
    pa = pulse()
    pa.feed(tone(tmp_path / 'tone.raw', 1.0, volume=0.5, raw=True).read_bytes(), loop=True)
    proc = start_node(processes, pa.env(ros_env), tmp_path, device='pulse',
                      chunk_frames=1600, block_frames=320, level_rate_hz=10.0)
    wait_ready(probe, proc)
    chunks = Chunks(probe)
    levels = probe.collect(f'/{NODE}/level', Float32, qos_profile_sensor_data)

    def nothing_opened():
        assert source_outputs(pa) == []  # configure opens no device
    configure_and_activate(probe, nothing_opened)
    decoded = chunks.wait(15)
    assert len(source_outputs(pa)) == 1
    headers = [h for h, _ in decoded]
    assert [h.seq for h in headers] == list(range(len(headers)))
    assert all(f.shape == (1600, 1) and h.valid_frames == 1600 for h, f in decoded)
    # real time: capture stamps step by one chunk (100 ms), not a burst
    steps_ms = np.diff([h.stamp_ns for h in headers[2:]]) / 1e6
    assert 70 < float(np.median(steps_ms)) < 130, steps_ms
    span_s = (headers[-1].stamp_ns - headers[2].stamp_ns) / 1e9
    assert 0.7 < span_s / (0.1 * (len(headers) - 3)) < 1.4, span_s
    support.wait_for(lambda: len(levels) >= 4, 20, message='level messages')
    assert abs(levels[-1].data - (-9.03)) < 1.0, [m.data for m in levels]

    assert probe.change_state(NODE, 'deactivate')
    support.wait_for(lambda: source_outputs(pa) == [], 10, message='the stream to be released')
    received = len(chunks.msgs)
    assert probe.change_state(NODE, 'activate')  # opens again; sequence numbers go on
    more = chunks.wait(received + 5)
    # sequence numbers go on; chunks captured but not yet published when the node was
    # deactivated are discarded (a gap), and the first chunk after it says the stream broke
    seqs = [h.seq for h, _ in more]
    breaks = [i for i, (h, _) in enumerate(more) if h.flags & FLAG_DISCONTINUITY]
    assert len(breaks) == 1 and breaks[0] >= received, (breaks, received)
    at = breaks[0]
    assert seqs[:at] == list(range(at))
    assert seqs[at:] == list(range(seqs[at], seqs[at] + len(seqs) - at)) and seqs[at] >= at
    assert probe.change_state(NODE, 'shutdown')


def test_alsa_file_pcm_replays_a_speech_fixture_bit_exactly_through_portaudio(
        ros_env, probe, processes, tmp_path, pulse):
    speech = tmp_path / 'speech.wav'
    subprocess.run(['espeak-ng', '-w', str(speech), 'testing one two three'], check=True,
                   capture_output=True)
    raw = tmp_path / 'speech.raw'
    sox(speech, '-r', RATE, '-c', 1, '-b', 16, '-e', 'signed', '-t', 'raw', raw)
    expected = np.frombuffer(raw.read_bytes(), '<i2')
    assert len(expected) > RATE // 2 and np.abs(expected).max() > 1000  # real speech
    pa = pulse(fixtures={'speech': raw})
    proc = start_node(processes, pa.env(ros_env), tmp_path, device='speech',
                      chunk_frames=2048)
    chunks = Chunks(probe)
    wait_ready(probe, proc)
    configure_and_activate(probe)  # the fixture plays from the start of the stream
    decoded = chunks.wait(-(-len(expected) // 2048) + 1, timeout=60)
    got = samples(decoded)[:, 0]
    assert np.array_equal(got[:len(expected)], expected)
    assert [h.seq for h, _ in decoded] == list(range(len(decoded)))
    proc.stop()


def test_unpaced_device_overruns_are_counted_on_diagnostics_with_bounded_buffers(
        ros_env, probe, processes, tmp_path, pulse):
    raw = tone(tmp_path / 'tone.raw', 1.0, raw=True)
    pa = pulse(fast_fixtures={'flood': raw})
    diagnostics = probe.collect('/diagnostics', DiagnosticArray)
    proc = start_node(processes, pa.env(ros_env), tmp_path, device='flood',
                      block_frames=256, buffer_blocks=4, autostart=True)

    def overran():
        st, values = audio_status(diagnostics)
        return st is not None and int(values.get('overruns', 0)) > 0 and st
    st = support.wait_for(overran, 30, message='overruns on /diagnostics')
    assert st.level == DiagnosticStatus.WARN, st.message
    assert 'overrun' in st.message or 'dropped' in st.message
    wait_state(probe, NODE, 'active', 10)
    assert probe.change_state(NODE, 'deactivate')
    proc.stop()


def test_missing_or_unsuitable_device_fails_activation_with_a_clear_error(
        ros_env, probe, processes, tmp_path, pulse):
    pa = pulse()
    for params, expected in [({'device': 'nope'}, 'device not found: nope'),
                             ({'device': 'pulse', 'channels': 64}, "audio device 'pulse' "
                                                                   'does not support')]:
        proc = start_node(processes, pa.env(ros_env), tmp_path, **params)
        wait_ready(probe, proc)
        assert probe.change_state(NODE, 'configure')
        assert not probe.change_state(NODE, 'activate')
        wait_state(probe, NODE, 'inactive', 10)
        out = proc.output()
        assert expected in out, out
        if params['device'] == 'nope':
            assert 'input devices: 0: pulse' in out  # says what there is
        proc.stop()


def test_lost_sound_server_is_reported_and_the_stream_comes_back(
        ros_env, probe, processes, tmp_path, pulse):
    pa = pulse()
    feed = tone(tmp_path / 'tone.raw', 1.0, raw=True).read_bytes()
    pa.feed(feed, loop=True)
    diagnostics = probe.collect('/diagnostics', DiagnosticArray)
    proc = start_node(processes, pa.env(ros_env), tmp_path, device='pulse', autostart=True)
    chunks = Chunks(probe)
    chunks.wait(3)
    pa.stop()  # the sound server goes away

    def reconnecting():
        st, values = audio_status(diagnostics)
        return st is not None and st.level == DiagnosticStatus.ERROR and st
    st = support.wait_for(reconnecting, 30, message='an ERROR status while the device is gone')
    assert 'device lost' in st.message
    pa.start()
    pa.feed(feed, loop=True)
    before = len(chunks.msgs)
    chunks.wait(before + 3, timeout=60)
    support.wait_for(lambda: int(audio_status(diagnostics)[1].get('reopens', 0)) >= 1, 20,
                     message='reopens counted')
    wait_state(probe, NODE, 'active', 10)
    proc.stop()
