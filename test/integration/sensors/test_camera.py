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

"""The camera node as a process (its sources, frames and calibration: test/unit/sensors)."""

import math
import time

import cv2
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
import sensor_support
from sensor_support import CALIBRATION, start_node, state, wait_state, write_video
import support

from unity_sensors.sensor_node import sensor_qos


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
