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

"""The writer process's batches are bounded in bytes as well as in records (no Redis, no ROS)."""

import pytest

from unity_kernel_core import native
from unity_kernel_core.audit.ring import Ring
from unity_kernel_core.audit.writer_process import ProcessWriter
from unity_kernel_core.audit.writer_process.process import BATCH_BYTES, WriterProcess
from unity_kernel_core.bus.events import Event, Tier
from unity_kernel_core.config.kernel_config import parse_config

RING = 1 << 20
PAYLOAD = 60_000


def batches_of(tmp_path, writer_kind, count):
    """Offer ``count`` large events into a ring; return the sizes of the batches written."""
    config = parse_config(f'redis: {{url: "redis://127.0.0.1:1", ring_bytes: {RING}, '
                          f'batch_size: 500, writer: {writer_kind}}}\n')
    tap = ProcessWriter(config, tmp_path)
    ring = tap._ring = Ring.create(tmp_path / 'ring', RING)  # prime() would start the process
    for seq in range(1, count + 1):
        tap.offer(Event('/big', 'sensor_msgs/msg/Image', Tier.NORMAL, seq,
                        cdr=bytes([seq]) * PAYLOAD, stamp_ns=seq))
    (tmp_path / 'state').mkdir(mode=0o700)
    process = WriterProcess(config, tmp_path / 'state')
    sizes = []
    process.writer.write = lambda entries: sizes.append(len(entries))
    process.writer.write_packed = lambda xadds, commands, keys, last_id, last_seq, entries: \
        sizes.append(len(entries()))
    while process.write_out(ring, until_empty=True):
        pass
    return process, sizes


@pytest.mark.parametrize('writer_kind', ['process-python', pytest.param('process', marks=(
    pytest.mark.skipif(native.core() is None, reason=native.why_not('_core'))))])
def test_a_batch_takes_at_most_an_eighth_of_the_ring(tmp_path, writer_kind):
    process, sizes = batches_of(tmp_path, writer_kind, 16)
    assert process.batch_bytes == RING // 8 < BATCH_BYTES
    # 500 records would have been the whole ring; the last record of a batch may pass the bound
    per_batch = RING // 8 // PAYLOAD + 1
    assert sum(sizes) == 16 and max(sizes) == per_batch and len(sizes) == -(-16 // per_batch)
