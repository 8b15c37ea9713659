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

"""Run the kernel node in the test's process, on a thread, as ``unity-kernel up`` runs it."""

import contextlib
import pathlib
import threading
from typing import Any, Callable, Iterator

from unity_kernel_core.kernel.node import KernelNode
from unity_kernel_core.ros.lifecycle_base import ShutdownSignals, spin_until_shutdown

ACTIVE_WITHIN_S = 20.0
STOPPED_WITHIN_S = 30.0


@contextlib.contextmanager
def active_kernel(config: pathlib.Path, context: Any,
                  on_active: Callable[[KernelNode], None]) -> Iterator[KernelNode]:
    """
    Yield a kernel node of ``config`` brought to ACTIVE on a thread of its own.

    ``on_active(node)`` runs on that thread as the node becomes active (before any message
    is taken in: subscribe handlers and taps there). At the end the node is stopped as
    Ctrl-C stops it, its thread joined, and the node destroyed.
    """
    node = KernelNode(config_file=config, context=context)
    ready = threading.Event()
    stop = ShutdownSignals()

    def activated(active: KernelNode) -> None:
        on_active(active)
        ready.set()

    thread = threading.Thread(target=spin_until_shutdown, args=(node,),
                              kwargs={'autostart': True, 'on_active': activated,
                                      'signals': stop})
    thread.start()
    try:
        assert ready.wait(ACTIVE_WITHIN_S), f'the kernel not active within {ACTIVE_WITHIN_S} s'
        yield node
    finally:
        stop.request()
        thread.join(STOPPED_WITHIN_S)
        node.destroy_node()
