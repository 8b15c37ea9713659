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

"""The camera: sources, frames and calibration (plain Python), and the node as a process."""

import math
import textwrap
import time

import cv2
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
import sensor_support
from sensor_support import start_node, state, wait_state
import support

from unity_sensors.camera.calibration import CalibrationError, camera_info_fields, load_calibration
from unity_sensors.camera.frames import check_resolution, draw_test_pattern, image_fields, jpeg
from unity_sensors.camera.sources import DeviceSource, Format, ImageDirSource, make_source
from unity_sensors.camera.sources import parse_source, SourceSpec, VideoFileSource
from unity_sensors.errors import DeviceLostError, DeviceNotFoundError, SensorConfigError
from unity_sensors.sensor_node import sensor_qos

CALIBRATION = textwrap.dedent("""\
    image_width: 64
    image_height: 48
    camera_name: test_cam
    camera_matrix:
      rows: 3
      cols: 3
      data: [50.0, 0.0, 32.0, 0.0, 51.0, 24.0, 0.0, 0.0, 1.0]
    distortion_model: plumb_bob
    distortion_coefficients:
      rows: 1
      cols: 5
      data: [0.1, -0.2, 0.0, 0.0, 0.01]
    rectification_matrix:
      rows: 3
      cols: 3
      data: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    projection_matrix:
      rows: 3
      cols: 4
      data: [50.0, 0.0, 32.0, 0.0, 0.0, 51.0, 24.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    """)


def write_video(path, frames=10, size=(64, 48), fps=15.0, fourcc='MJPG'):
    """Write a fixture video whose frame i is filled with grey level 20 * i."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened(), f'cannot write {fourcc} here'
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), (20 * i) % 256, np.uint8))
    writer.release()
    return path


# -- plain Python ----------------------------------------------------------------------------

@pytest.mark.parametrize('text,spec', [
    ('pattern', SourceSpec('pattern')),
    ('0', SourceSpec('device', '/dev/video0')),
    ('/dev/video2', SourceSpec('device', '/dev/video2')),
    ('device:/tmp/cam', SourceSpec('device', '/tmp/cam')),
    ('file:/x/y.bin', SourceSpec('file', '/x/y.bin')),
    ('/x/clip.AVI', SourceSpec('file', '/x/clip.AVI')),
    ('dir:/imgs', SourceSpec('dir', '/imgs')),
])
def test_source_strings_choose_the_source(text, spec):
    assert parse_source(text) == spec


def test_unknown_source_names_the_accepted_forms():
    with pytest.raises(SensorConfigError, match=r"unknown camera source 'webcam'.*pattern"):
        parse_source('webcam')


@pytest.mark.parametrize('w,h', [(5, 480), (640, 0), (100000, 480), (-1, -1)])
def test_unsupported_resolutions_are_refused(w, h):
    with pytest.raises(SensorConfigError, match=f'unsupported resolution {w}x{h}'):
        check_resolution(w, h)


def test_pattern_frames_have_the_size_asked_for_and_differ():
    a = draw_test_pattern(1, 320, 240, 1000.0)
    b = draw_test_pattern(2, 320, 240, 1000.04)
    assert a.shape == (240, 320, 3) and a.dtype == np.uint8
    assert np.count_nonzero(a != b) > 1000


def test_image_fields_rgb8_swaps_channels_and_packs_rows():
    frame = np.zeros((2, 3, 3), np.uint8)
    frame[..., 0] = 10   # blue
    frame[..., 2] = 200  # red
    fields, data = image_fields(frame, 'rgb8')
    assert fields == {'height': 2, 'width': 3, 'encoding': 'rgb8', 'is_bigendian': 0,
                      'step': 9}
    assert data[:3] == bytes([200, 0, 10]) and len(data) == 18
    _, bgr = image_fields(frame, 'bgr8')
    assert bgr[:3] == bytes([10, 0, 200])
    with pytest.raises(SensorConfigError, match="unsupported encoding 'mono8'"):
        image_fields(frame, 'mono8')


def test_jpeg_round_trips_approximately():
    frame = draw_test_pattern(3, 160, 120, 0.0)
    decoded = cv2.imdecode(np.frombuffer(jpeg(frame, 95), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == frame.shape
    assert np.mean(np.abs(decoded.astype(int) - frame.astype(int))) < 10


def test_calibration_yaml_gives_camera_info_fields(tmp_path):
    path = tmp_path / 'cam.yaml'
    path.write_text(CALIBRATION)
    fields = camera_info_fields(load_calibration(f'file://{path}'), 0, 0)
    assert fields['width'] == 64 and fields['k'][0] == 50.0 and fields['d'][4] == 0.01
    assert len(fields['p']) == 12
    uncalibrated = camera_info_fields(None, 640, 480)
    assert uncalibrated['k'] == [0.0] * 9 and uncalibrated['width'] == 640


def test_bad_calibration_names_file_line_and_key(tmp_path):
    path = tmp_path / 'cam.yaml'
    path.write_text(CALIBRATION.replace('data: [0.1, -0.2, 0.0, 0.0, 0.01]', 'data: [0.1]'))
    with pytest.raises(CalibrationError) as info:
        load_calibration(path)
    assert f'{path}:9: distortion_coefficients: data has 1 values' in str(info.value)


def test_video_file_source_reads_loops_and_stops(tmp_path):
    path = write_video(tmp_path / 'clip.avi', frames=4, fps=12.0)
    src = VideoFileSource(SourceSpec('file', str(path)), Format(), loop=False)
    src.start()
    assert src.rate() == 12.0
    levels = []
    while (frame := src.read()) is not None:
        levels.append(int(frame.mean()))
    assert len(levels) == 4 and levels == sorted(levels) and src.ended
    src.close()
    looping = VideoFileSource(SourceSpec('file', str(path)), Format(32, 24, 5.0), loop=True)
    looping.start()
    frames = [looping.read() for _ in range(9)]
    assert all(f.shape == (24, 32, 3) for f in frames) and looping.rate() == 5.0
    looping.close()


def test_corrupt_or_missing_video_file_is_a_clear_error(tmp_path):
    bad = tmp_path / 'bad.avi'
    bad.write_bytes(b'RIFF' + b'\x00garbage' * 200)
    with pytest.raises(SensorConfigError, match=f'cannot read video file {bad}: corrupt'):
        make_source(str(bad), Format()).start()
    with pytest.raises(SensorConfigError, match='video file not found: /nonexistent.avi'):
        make_source('/nonexistent.avi', Format()).check()


def test_image_directory_source_reads_in_name_order(tmp_path):
    for i, level in enumerate([30, 90, 150]):
        cv2.imwrite(str(tmp_path / f'img{i}.png'), np.full((20, 30, 3), level, np.uint8))
    (tmp_path / 'notes.txt').write_text('not an image')
    src = ImageDirSource(SourceSpec('dir', str(tmp_path)), Format(), loop=True)
    src.start()
    assert [int(src.read().mean()) for _ in range(4)] == [30, 90, 150, 30]
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(SensorConfigError, match='no images in'):
        ImageDirSource(SourceSpec('dir', str(empty)), Format()).start()


def test_device_source_fails_clearly_and_reports_a_lost_device(tmp_path):
    with pytest.raises(DeviceNotFoundError, match='^device not found: /dev/video0$'):
        make_source('/dev/video0', Format()).start()
    # any path OpenCV opens stands in for a device: at its end the device is "lost"
    stand_in = write_video(tmp_path / 'video0.avi', frames=3)
    src = DeviceSource(SourceSpec('device', str(stand_in)), Format())
    src.start()
    assert src.read().shape == (48, 64, 3)
    with pytest.raises(DeviceLostError, match='stopped delivering frames'):
        for _ in range(5):
            src.read()
    src.close()


# -- the node, as a process ------------------------------------------------------------------

def start_camera(processes, ros_env, tmp_path, *params):
    return start_node(processes, ros_env, tmp_path, 'unity_sensors.camera.node', *params)


def bring_up(probe, configure=True, activate=True):
    return sensor_support.bring_up(probe, 'camera', configure, activate)


def set_parameters(probe, node, **values):
    request = SetParameters.Request()
    request.parameters = [Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
    return probe._call(SetParameters, f'/{node}/set_parameters', request).results


@pytest.mark.ros
def test_pattern_camera_publishes_images_info_and_jpeg_and_resizes_live(processes, ros_env,
                                                                        tmp_path, probe):
    start_camera(processes, ros_env, tmp_path, 'width:=320', 'height:=240', 'fps:=15.0',
                 'frame_id:=cam_optical', 'publish_compressed:=true', 'jpeg_quality:=90')
    images = probe.collect('/camera/image_raw', Image, sensor_qos(50))
    infos = probe.collect('/camera/camera_info', CameraInfo, sensor_qos(50))
    jpegs = probe.collect('/camera/image_raw/compressed', CompressedImage, sensor_qos(50))
    diags = probe.collect('/diagnostics', DiagnosticArray)
    assert bring_up(probe)
    support.wait_for(lambda: len(images) >= 5 and jpegs and infos, 30, message='images')
    first, later = images[0], images[4]
    assert (first.width, first.height, first.encoding, first.step) == (320, 240, 'rgb8', 960)
    assert len(first.data) == 320 * 240 * 3
    assert first.header.frame_id == 'cam_optical'
    assert bytes(first.data) != bytes(later.data)
    assert (later.header.stamp.sec, later.header.stamp.nanosec) > \
        (first.header.stamp.sec, first.header.stamp.nanosec)
    decoded = cv2.imdecode(np.frombuffer(bytes(jpegs[0].data), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (240, 320, 3) and jpegs[0].format == 'rgb8; jpeg compressed bgr8'
    assert infos[0].width == 320 and infos[0].k[0] == 0.0  # uncalibrated

    results = set_parameters(probe, 'camera', width=160, height=120, fps=5.0,
                             encoding='bgr8')
    assert all(r.successful for r in results), [r.reason for r in results]
    n = len(images)
    support.wait_for(lambda: any(m.width == 160 for m in images[n:]), 20,
                     message='frames at the new size')
    resized = [m for m in images[n:] if m.width == 160][-1]
    assert (resized.height, resized.step, resized.encoding) == (120, 480, 'bgr8')

    def target_fps():
        for a in reversed(list(diags)):
            for s in a.status:
                v = {kv.key: kv.value for kv in s.values}
                if s.name == 'camera: camera' and v.get('target_fps') == '5.00':
                    return v
        return None
    support.wait_for(target_fps, 10, message='target_fps 5.00 in diagnostics')
    rejected = set_parameters(probe, 'camera', width=7)
    assert not rejected[0].successful and 'unsupported resolution 7x120' in rejected[0].reason
    assert probe.change_state('camera', 'deactivate')
    assert probe.change_state('camera', 'cleanup')


@pytest.mark.ros
def test_a_640x480_camera_reaches_a_plain_subscriber_with_no_profile_set_anywhere(
        processes, ros_env, tmp_path, probe):
    # 900 KB frames: beyond Fast DDS's default 512 KB shared-memory segment, so before the
    # camera chose its transport itself they went over UDP in fragments and most were lost
    # (1-2 of 5 a second) unless a profile file was exported for the camera
    assert 'FASTDDS_DEFAULT_PROFILES_FILE' not in ros_env
    start_camera(processes, ros_env, tmp_path, 'width:=640', 'height:=480', 'fps:=5.0')
    images = probe.collect('/camera/image_raw', Image, sensor_qos(50))
    diags = probe.collect('/diagnostics', DiagnosticArray)
    assert bring_up(probe)
    support.wait_for(lambda: len(images) >= 3, 30, message='the first frames')

    def published():
        for array in reversed(list(diags)):
            for s in array.status:
                if s.name == 'camera: camera':
                    return int({kv.key: kv.value for kv in s.values}['published'])
        return None
    support.wait_for(published, 10, message='the camera on /diagnostics')
    first, received = published(), len(images)
    support.wait_for(lambda: published() >= first + 40, 30, message='40 more frames published')
    sent, got = published() - first, len(images) - received
    assert got >= 0.85 * sent, f'{got} of {sent} frames received'
    assert (images[-1].width, len(images[-1].data)) == (640, 640 * 480 * 3)


@pytest.mark.ros
def test_video_file_camera_with_calibration(processes, ros_env, tmp_path, probe):
    clip = write_video(tmp_path / 'clip.avi', frames=6, fps=20.0)
    calibration = tmp_path / 'cam.yaml'
    calibration.write_text(CALIBRATION)
    start_camera(processes, ros_env, tmp_path, f'source:=file:{clip}',
                 f'camera_info_url:=file://{calibration}', 'encoding:=bgr8')
    images = probe.collect('/camera/image_raw', Image, sensor_qos(50))
    infos = probe.collect('/camera/camera_info', CameraInfo, sensor_qos(50))
    assert bring_up(probe)
    support.wait_for(lambda: len(images) >= 8 and infos, 30, message='frames of the clip')
    levels = [int(np.frombuffer(bytes(m.data), np.uint8).mean()) for m in images[:8]]
    assert len(set(levels)) >= 5  # the clip's frames, in a loop
    assert (images[0].width, images[0].height, images[0].encoding) == (64, 48, 'bgr8')
    info = infos[0]
    assert info.k[0] == 50.0 and info.k[4] == 51.0 and info.distortion_model == 'plumb_bob'
    assert math.isclose(info.d[1], -0.2)
    assert info.header.frame_id == 'camera'


@pytest.mark.ros
@pytest.mark.parametrize('params,transition,message', [
    (['source:=/dev/video0'], 'activate', 'activate failed: device not found: /dev/video0'),
    (['width:=5', 'height:=480'], 'configure',
     'configure failed: unsupported resolution 5x480'),
    (['source:=CORRUPT'], 'activate', 'cannot read video file'),
    (['source:=webcam'], 'configure', "unknown camera source 'webcam'"),
])
def test_bad_parameters_fail_the_transition_with_a_clear_error(processes, ros_env, tmp_path,
                                                               probe, params, transition,
                                                               message):
    corrupt = tmp_path / 'corrupt.avi'
    corrupt.write_bytes(b'RIFF' + b'\x00garbage' * 200)
    params = [p.replace('CORRUPT', str(corrupt)) for p in params]
    proc = start_camera(processes, ros_env, tmp_path, *params)
    assert bring_up(probe, configure=transition != 'configure', activate=False)
    assert not probe.change_state('camera', transition)
    proc.wait_output(message)
    assert proc.proc.poll() is None  # the node is still there, ready for a fixed config


@pytest.mark.ros
def test_lost_device_is_reopened_with_backoff_when_it_comes_back(
        processes, ros_env, tmp_path, probe):
    device = tmp_path / 'video0'  # a path OpenCV opens stands in for /dev/video0
    proc = start_camera(processes, ros_env, tmp_path, f'source:=device:{device}', 'fps:=20.0',
                        'stale_timeout_s:=60.0')
    images = probe.collect('/camera/image_raw', Image, sensor_qos(50))
    diags = probe.collect('/diagnostics', DiagnosticArray)
    assert bring_up(probe, activate=False)
    assert not probe.change_state('camera', 'activate')
    proc.wait_output(f'device not found: {device}')
    write_video(tmp_path / 'clip.avi', frames=5)
    (tmp_path / 'clip.avi').rename(device)
    assert probe.change_state('camera', 'activate')
    support.wait_for(lambda: len(images) >= 5, 20, message='frames from the device')
    device.rename(tmp_path / 'away.avi')  # unplugged: at its end the device is gone

    def status(pred):
        for a in reversed(list(diags)):
            for s in a.status:
                if s.name == 'camera: camera' and pred(s):
                    return s
        return None
    support.wait_for(lambda: status(lambda s: s.message.startswith(
        f'device lost, reopening: device not found: {device}')), 20,
        message='the loss in diagnostics')
    time.sleep(0.5)
    n = len(images)
    (tmp_path / 'away.avi').rename(device)  # plugged back in
    support.wait_for(lambda: len(images) > n + 2, 20, message='frames after the reopen')
    # (the stand-in ends every 5 frames, so it is lost and reopened again and again)
    support.wait_for(lambda: status(lambda s: any(kv.key == 'reopens' and int(kv.value) >= 1
                                                  for kv in s.values)), 10,
                     message='reopens >= 1 in diagnostics')
    assert state(probe, 'camera') == 'active'


@pytest.mark.ros
def test_device_gone_past_the_stale_deadline_puts_the_camera_in_error(processes, ros_env,
                                                                      tmp_path, probe):
    device = tmp_path / 'video0'
    write_video(tmp_path / 'clip.avi', frames=5).rename(device)
    proc = start_camera(processes, ros_env, tmp_path, f'source:=device:{device}', 'fps:=20.0',
                        'stale_timeout_s:=1.0')
    images = probe.collect('/camera/image_raw', Image, sensor_qos(50))
    assert bring_up(probe)
    support.wait_for(lambda: images, 20, message='frames')
    device.unlink()   # unplugged for good
    wait_state(probe, 'camera', 'unconfigured')
    out = proc.wait_output('error state (from')
    assert 'no data from the device for 1 s' in out
