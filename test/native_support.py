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

"""Helpers of the native extension's tests: a ring in memory, the Python writer's batch."""

import itertools
import mmap
from typing import Any, Callable, List

import pytest

from unity_kernel_core import native
from unity_kernel_core.audit import ring as ring_module
from unity_kernel_core.audit.encoder import RingDecoder
from unity_kernel_core.audit.record import EVENT_FIELDS, StreamKeys, trim_args
from unity_kernel_core.audit.resp import pack_command
from unity_kernel_core.bus.events import Tier
from unity_kernel_core.config.kernel_config import KernelConfig

core = native.core()
needs_core = pytest.mark.skipif(core is None, reason=native.why_not('_core'))
TIER_NAMES = [t.name.encode() for t in Tier]
KEYS = StreamKeys('unity')


def memory_ring(capacity: int) -> mmap.mmap:
    """Return an anonymous mapping laid out as an empty writer ring of ``capacity`` bytes."""
    mm = mmap.mmap(-1, ring_module.HEADER + capacity)
    mm[:len(ring_module.MAGIC)] = ring_module.MAGIC
    mm[8:16] = capacity.to_bytes(8, 'little')
    return mm


def read_ring(mm: mmap.mmap, max_records: int = 1 << 20) -> List[bytes]:
    """Return every record after the tail, read by the Python reader (audit/ring.py)."""
    capacity = int.from_bytes(mm[8:16], 'little')
    reader = ring_module.Ring(ring_module.pathlib.Path('memory'), mm, capacity)
    records, _position = reader.peek(max_records)
    return records


def python_batch(records: List[bytes], routes: Any = None) -> bytes:
    """Return what the Python writer packs for these ring records (XADDs, SADD per new key)."""
    routes = routes or KernelConfig().routes
    entries = RingDecoder(KEYS).decode(records)
    out: List[bytes] = []
    seen = set()
    for entry in entries:
        if entry.key not in seen:
            seen.add(entry.key)
            out.append(pack_command(('SADD', KEYS.streams, entry.key)))
        head = ('XADD', entry.key, *trim_args(routes(str(entry.fields['topic'])), 0))
        out.append(pack_command((*head, entry.entry_id,
                                 *itertools.chain.from_iterable(entry.fields.items()))))
    return b''.join(out)


def head_of(routes: Any = None) -> Callable[[bytes], tuple]:
    """Return the packer's per-topic callback, as the native writer makes it."""
    routes = routes or KernelConfig().routes

    def head(topic: bytes) -> tuple:
        name = topic.decode()
        key = KEYS.topic(name)
        args = ('XADD', key, *trim_args(routes(name), 0))
        packed = pack_command(args)
        prefix = packed[packed.index(b'\r\n') + 2:]  # the elements, without '*<argc>'
        return prefix, len(args), pack_command(('SADD', KEYS.streams, key))
    return head


def packer() -> Any:
    """Return a packer with the stream fields of the Python writer."""
    assert core is not None
    return core.Packer(fields=[f.encode() for f in EVENT_FIELDS], tiers=TIER_NAMES)
