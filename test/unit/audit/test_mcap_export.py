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

"""An export is the whole file or nothing: written aside, renamed at the end."""

import os

from mcap.reader import make_reader
import pytest

from unity_kernel_core.audit.mcap_export import export_mcap, replaced_at_end
from unity_kernel_core.audit.record import AuditRecord
from unity_kernel_core.audit.rosbag2_export import export_rosbag2
from unity_kernel_core.config.kernel_config import QosSettings

STRING_CDR = b'\x00\x01\x00\x00\x03\x00\x00\x00hi\x00\x00'


def _records(fail_at=None):
    for seq in range(1, 6):
        if seq == fail_at:
            raise OSError(28, 'No space left on device')
        yield AuditRecord('/t', 'std_msgs/msg/String', 'NORMAL', seq, seq * 10, STRING_CDR,
                          f'1-{seq}')


def test_an_export_that_fails_half_way_leaves_the_old_file_and_no_partial_one(tmp_path):
    out = tmp_path / 'trail.mcap'
    out.write_bytes(b'the previous export')
    with pytest.raises(OSError, match='No space left'):
        export_mcap(_records(fail_at=3), out)
    assert out.read_bytes() == b'the previous export'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['trail.mcap']
    report = export_mcap(_records(), out)
    with open(out, 'rb') as stream:
        sequences = [m.sequence for _s, _c, m in make_reader(stream).iter_messages()]
    assert sequences == [1, 2, 3, 4, 5]
    assert report.sent == 5 and sorted(p.name for p in tmp_path.iterdir()) == ['trail.mcap']


def test_a_rosbag2_export_that_fails_leaves_no_folder(tmp_path):
    with pytest.raises(OSError):
        export_rosbag2(_records(fail_at=2), tmp_path / 'bag', lambda _t: QosSettings())
    assert list(tmp_path.iterdir()) == []


def test_the_file_gets_the_usual_mode_not_the_temporary_ones(tmp_path):
    umask = os.umask(0o022)
    try:
        with replaced_at_end(tmp_path / 'f') as stream:
            stream.write(b'x')
        export_rosbag2(_records(), tmp_path / 'bag', lambda _t: QosSettings())
    finally:
        os.umask(umask)
    assert (tmp_path / 'f').stat().st_mode & 0o777 == 0o644
    assert (tmp_path / 'bag').stat().st_mode & 0o777 == 0o755
    assert (tmp_path / 'bag' / 'bag_0.mcap').stat().st_mode & 0o777 == 0o644
