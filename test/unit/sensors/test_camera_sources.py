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

"""Camera sources (pattern, device, video file, image folder), without ROS."""

import os

import cv2
import numpy as np
import pytest
from sensor_support import write_video

from unity_kernel_core.common.images import MAX_IMAGE_FILE_BYTES
from unity_sensors.camera.frames import as_bgr
from unity_sensors.camera.sources import DeviceSource, Format, ImageDirSource, make_source
from unity_sensors.camera.sources import parse_source, read_image, SourceSpec
from unity_sensors.camera.sources import VideoFileSource
from unity_sensors.errors import DeviceLostError, DeviceNotFoundError, SensorConfigError


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


@pytest.mark.timeout(20)
def test_an_image_folder_skips_what_does_not_decode_and_never_waits(tmp_path):
    """Regression: a FIFO named like an image blocked the capture thread for good."""
    os.mkfifo(tmp_path / 'a_fifo.png')
    (tmp_path / 'b_dir.png').mkdir()
    (tmp_path / 'c_garbage.jpg').write_bytes(b'\xff\xd8\xff' + b'\x00garbage' * 50)
    (tmp_path / 'd_empty.png').write_bytes(b'')
    with open(tmp_path / 'e_huge.bmp', 'wb') as f:  # sparse: costs nothing on disk
        f.truncate(MAX_IMAGE_FILE_BYTES + 1)
    cv2.imwrite(str(tmp_path / 'f_good.png'), np.full((20, 30, 3), 77, np.uint8))
    src = ImageDirSource(SourceSpec('dir', str(tmp_path)), Format(), loop=False)
    src.start()
    assert int(src.read().mean()) == 77
    assert src.unreadable == 5 and 'more than the' in src.last_unreadable
    for name, why in (('a_fifo.png', 'not a regular file'), ('b_dir.png', 'not a regular'),
                      ('c_garbage.jpg', 'does not decode'), ('d_empty.png', 'does not decode')):
        with pytest.raises(SensorConfigError, match=why):
            read_image(tmp_path / name)
    assert src.read() is None and src.ended
    (tmp_path / 'f_good.png').unlink()
    src = ImageDirSource(SourceSpec('dir', str(tmp_path)), Format())
    src.start()
    with pytest.raises(SensorConfigError, match='none of the images .* can be read'):
        src.read()


def test_frames_of_an_unexpected_shape_or_type_are_refused_with_the_reason():
    assert as_bgr(np.zeros((4, 5, 1), np.uint8)).shape == (4, 5, 3)
    assert as_bgr(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5, 3)
    for frame in (np.zeros((4, 5, 2), np.uint8), np.zeros((4, 5, 3), np.uint16),
                  np.zeros((0, 5, 3), np.uint8), np.zeros(7, np.uint8)):
        with pytest.raises(SensorConfigError, match='expected 8-bit grey, BGR or BGRA'):
            as_bgr(frame)
