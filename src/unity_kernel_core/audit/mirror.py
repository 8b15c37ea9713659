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
The audit mirror: a kernel component copying every bus event to Redis Streams.

It wires a writer to the bus (its tap and dead-letter sink) and reports on ``/diagnostics``.
The writer is the writer process (``redis.writer: process``, the default:
:class:`~.writer_process.ProcessWriter`, fed through a shared-memory ring) or a thread of
the kernel (``thread``: :class:`~.thread_writer.MirrorWriter`, fed through a bounded queue);
both hand batches to the same :class:`~.batch_writer.BatchWriter` (entry encoder, Redis sink,
journal spool). See docs/audit.md.

In a Redis Cluster (``redis.cluster``) every key of the robot shares one hash tag, so a batch
is one pipeline to the master serving that slot. There a batch counts as written only once
``redis.wait_replicas`` replicas (default 1, or as many as are connected) have it (``WAIT``
at the end of the pipeline); otherwise it is journaled like a failed one. So when the master
fails and its replica takes over, whatever the replica missed is still in the journal and is
drained to the new master (entries it has are refused as duplicates).
"""

import logging
import pathlib
from typing import Any, Dict, List, Union

from unity_kernel_core import native
from unity_kernel_core.audit.thread_writer import MirrorWriter
from unity_kernel_core.audit.writer_process import ProcessWriter
from unity_kernel_core.component import KernelContext
from unity_kernel_core.config.kernel_config import KernelConfig

_LOG = logging.getLogger('unity_kernel.mirror')

__all__ = ['create', 'Mirror', 'MirrorWriter']

Writer = Union[MirrorWriter, ProcessWriter]


class Mirror:
    """The kernel component: wires a writer to the bus and reports on /diagnostics."""

    name = 'mirror'

    def __init__(self, context: KernelContext, writer: Writer) -> None:
        self.context = context
        self.writer = writer
        self._bus = context.bus
        self._prev: Dict[str, Any] = {}
        last_seq = writer.prime()
        if last_seq > self._bus.last_seq:
            self._bus.set_next_seq(last_seq + 1)
        writer.start()
        self._bus.add_tap(writer.offer)
        self._bus.add_dead_letter_sink(writer.offer_dead_letter)

    def snapshot(self) -> Dict[str, Any]:
        """Return the writer's counters and connection state."""
        return self.writer.snapshot()

    def activate(self) -> None:
        """Nothing to do: the mirror runs from configure to cleanup."""

    def deactivate(self) -> None:
        """Nothing to do: queued events are still written."""

    def cleanup(self) -> None:
        """Detach from the bus, then send or journal everything queued."""
        self._bus.remove_tap(self.writer.offer)
        self._bus.remove_dead_letter_sink(self.writer.offer_dead_letter)
        self.writer.stop(self.context.config.kernel.shutdown_timeout_s)
        snap = self.writer.snapshot()
        _LOG.info('mirror stopped: %d written, %d journaled (%d pending in %s), %d dropped',
                  snap['written'], snap['journaled'], snap['journal_pending'],
                  self.writer.journal_dir,
                  snap['dropped_queue'] + snap['dropped_journal_full'] + snap['journal_errors'])

    def reconfigure(self, config: KernelConfig) -> None:
        """Apply new topic rules (mirror on/off, retention); Redis settings need configure."""
        self.writer.reconfigure(config)
        if config.redis != self.context.config.redis:
            _LOG.warning('redis settings changed: they take effect at the next configure')

    def diagnostics(self) -> List[Any]:
        """Return the mirror's status: connection, journal, counters."""
        from unity_kernel_core.ros.diagnostics import ERROR, OK, status, WARN
        snap = self.writer.snapshot()
        problems = []
        level = OK
        for key in ('dropped_queue', 'dropped_journal_full', 'journal_errors', 'rejected',
                    'journal_corrupt', 'ring_corrupt', 'writer_errors', 'writer_restarts'):
            new = snap.get(key, 0) - self._prev.get(key, 0)
            if new > 0:
                problems.append(f'{key} {new}')
                level = ERROR
        before = self._prev.get('dropped_by_tier', {})
        by_tier = {tier: n - before.get(tier, 0) for tier, n in snap['dropped_by_tier'].items()
                   if n - before.get(tier, 0) > 0}
        if by_tier:
            problems.append('not recorded by tier: ' + ', '.join(
                f'{tier} {n}' for tier, n in by_tier.items()))
        if snap['held']:
            problems.insert(0, f'{snap["held"]} event(s) held in memory: the journal does not '
                            f'take them ({snap["journal_error"]})')
            level = ERROR
        if snap.get('writer_alive') is False:
            problems.insert(0, f'audit writer process down ({snap["writer_last_exit"]}), '
                            'restarting; events wait in the ring')
            level = max(level, WARN)
        elif not snap['connected']:
            problems.insert(0, f'Redis unreachable ({snap["last_error"]}), journaling')
            level = max(level, WARN)
        elif snap['journal_pending']:
            problems.insert(0, f'draining journal ({snap["journal_pending"]} pending)')
            level = max(level, WARN)
        self._prev = snap
        message = '; '.join(problems) if problems else f'mirroring to {snap["url"]}'
        node_name = self.context.node.get_name()
        return [status(f'{node_name}: mirror', level, message, snap, hardware_id=node_name)]


class MirrorOff:
    """
    The kernel component when there is no audit mirror: it says so, and why, on /diagnostics.

    Named apart from the mirror (components that use the mirror look for ``mirror``).
    """

    name = 'mirror_off'

    def __init__(self, context: KernelContext, reason: str) -> None:
        self.context = context
        self.reason = reason

    def activate(self) -> None:
        """Nothing to start."""

    def deactivate(self) -> None:
        """Nothing to stop."""

    def cleanup(self) -> None:
        """Nothing to flush."""

    def reconfigure(self, config: KernelConfig) -> None:
        """Redis settings apply at the next cleanup + configure, as with the mirror."""

    def diagnostics(self) -> List[Any]:
        """Return ``<node>: mirror`` saying the mirror is off and why (level OK)."""
        from unity_kernel_core.ros.diagnostics import OK, status
        node_name = self.context.node.get_name()
        return [status(f'{node_name}: mirror', OK, f'off: {self.reason}',
                       {'mirror': 'off', 'reason': self.reason}, hardware_id=node_name)]


OFF_DISABLED = 'redis.enabled is false: events are not audited'
OFF_NO_URL = ('no Redis: redis.url and UNITY_REDIS_URL are unset, so events are not audited '
              '(`unity-kernel up` starts a private redis-server)')


def create(context: KernelContext) -> Union[Mirror, MirrorOff]:
    """Build the mirror, or a :class:`MirrorOff` when ``redis.enabled`` is false or no URL."""
    settings = context.config.redis
    if not settings.enabled:
        _LOG.info('audit mirror off (redis.enabled: false)')
        return MirrorOff(context, OFF_DISABLED)
    if not settings.url:
        _LOG.warning('audit mirror off: no redis.url (set it or UNITY_REDIS_URL; '
                     '`unity-kernel up` starts a private redis-server)')
        return MirrorOff(context, OFF_NO_URL)
    if settings.writer in ('process', 'process-python'):
        # with the native intake the bus's sequencer is the native producer: its threads
        # write the ring through it, so the tap must too
        sequencer = context.bus.sequencer
        return Mirror(context, ProcessWriter(
            context.config, pathlib.Path(context.state_dir),
            producer=sequencer if native.is_producer(sequencer) else None))
    return Mirror(context, MirrorWriter.for_config(context.config,
                                                   pathlib.Path(context.state_dir)))
