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
The audit writer in a process of its own, fed by the kernel through a shared-memory ring.

Why: the mirror's per-event Python work (building entries, packing the pipeline, parsing
replies) in the kernel's process competes with the intake and the bus for the one CPython
interpreter lock (docs/performance.md). Here the kernel's bus tap only copies each event (its
CDR bytes and a few fields, with the stream entry ID already issued) into a ring in a
memory-mapped file in ``/dev/shm`` (:mod:`.ring_file`, :mod:`unity_kernel_core.audit.ring`);
the writer process takes batches from it and writes them with the same
:class:`~unity_kernel_core.audit.batch_writer.BatchWriter` as the thread writer (the same
records, journal and Redis connection code).

Two programs, one file each: the kernel's side (:mod:`.supervisor`: the tap into the ring,
starting and restarting the process) and the process (:mod:`.process`, run as
``python -m unity_kernel_core.audit.writer_process``); :mod:`.protocol` is what they agree on,
:mod:`.ring_file` where the ring is.

Where the durable hand-off happens: an event is in the ring once the tap returned, and the
ring's pages outlive either process. The writer releases a batch from the ring only after
:meth:`BatchWriter.write` returned, i.e. once the batch is in Redis or in the journal. So:

- writer killed (even ``kill -9``): the kernel keeps filling the ring, its supervisor starts a
  new writer, which resumes at the ring's tail; a batch that was already in Redis is refused
  there as a duplicate (its IDs were issued by the kernel, so they are the same), one that
  was journaled is journaled twice and the second copy is refused at the drain;
- kernel killed: the writer sees its parent go (its stdin closes), writes out what is in the
  ring, drains the journal while its shutdown time allows, and exits; the next kernel's
  writer waits for it (a lock file) and then also writes out anything left in the ring file.

The kernel issues the stream entry IDs (:class:`~unity_kernel_core.audit.record.IdClock`),
seeded from what the writer found in the journal and Redis when it started.
"""

from unity_kernel_core.audit.encoder import EVENT_HEAD, KIND_EVENT, RingDecoder
from unity_kernel_core.audit.writer_process.protocol import LOCK_FILE
from unity_kernel_core.audit.writer_process.ring_file import ring_path
from unity_kernel_core.audit.writer_process.supervisor import ProcessWriter

__all__ = ['KIND_EVENT', 'LOCK_FILE', 'ProcessWriter', 'ring_path']

# the names the ring layout's tests know these by
_EVENT = EVENT_HEAD
_Decoder = RingDecoder
