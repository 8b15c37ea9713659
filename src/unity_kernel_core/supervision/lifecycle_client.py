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
Drive other lifecycle nodes over their standard services, from any thread, with timeouts.

The client owns a small rclpy node and executor on a thread of its own, so that calls work
while the kernel's executor is busy (even from inside the kernel's own transitions).
"""

import threading
import time
from typing import Any, Callable, Dict, Optional, Set

from lifecycle_msgs.msg import Transition, TransitionEvent
from lifecycle_msgs.srv import ChangeState, GetState

from unity_kernel_core.ros import callbacks
from unity_kernel_core.ros.spinning_node import SpinningNode

TRANSITIONS = {
    'configure': Transition.TRANSITION_CONFIGURE,
    'cleanup': Transition.TRANSITION_CLEANUP,
    'activate': Transition.TRANSITION_ACTIVATE,
    'deactivate': Transition.TRANSITION_DEACTIVATE,
}
GONE_CHECK_AFTER_S = 0.25
"""A call unanswered after this long also ends as soon as the node is not in the graph."""
SHUTDOWN_FROM = {
    'unconfigured': Transition.TRANSITION_UNCONFIGURED_SHUTDOWN,
    'inactive': Transition.TRANSITION_INACTIVE_SHUTDOWN,
    'active': Transition.TRANSITION_ACTIVE_SHUTDOWN,
}


class LifecycleClient:
    """Call ``get_state``/``change_state`` of lifecycle nodes by fully qualified name."""

    def __init__(self, context: Any, name: str = 'unity_kernel_lifecycle_client') -> None:
        self._spinner = SpinningNode(name, context)
        self.node = self._spinner.node
        self._clients: Dict[str, Any] = {}
        self._watches: Dict[str, Any] = {}
        self._seen: Set[str] = set()
        """Nodes seen in the graph since they were last forgotten."""
        self._lock = threading.Lock()

    def _client(self, srv_type: Any, service: str) -> Any:
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self.node.create_client(srv_type, service)
                self._clients[service] = client
            return client

    def _gone(self, node: str) -> bool:
        """Return True for a node seen in the graph that has left it (it will never answer)."""
        return node in self._seen and not self.node_present(node)

    def _wait_for_service(self, client: Any, node: str, deadline: float) -> bool:
        """Wait for the service until ``deadline``, or until its node is gone from the graph."""
        while not client.service_is_ready():
            left = deadline - time.monotonic()
            if left <= 0 or self._gone(node):
                return False
            client.wait_for_service(timeout_sec=min(0.25, left))
        return True

    def _call(self, srv_type: Any, service: str, request: Any, timeout: float) -> Any:
        client = self._client(srv_type, service)
        node = service.rsplit('/', 1)[0]
        deadline = time.monotonic() + timeout
        if not self._wait_for_service(client, node, deadline):
            return None
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _f: done.set())
        answered = done.wait(min(timeout, GONE_CHECK_AFTER_S))
        while not answered and time.monotonic() < deadline:
            # a node seen in the graph that has left it (its process ended) will never answer;
            # a node not seen yet may only be late in the graph
            if self._gone(node):
                break
            answered = done.wait(min(0.25, max(0.0, deadline - time.monotonic())))
        if not answered:
            future.cancel()
            client.remove_pending_request(future)
            return None
        if node not in self._seen:
            self.node_present(node)  # it answers: note it once it shows in the graph
        return future.result()

    def get_state(self, node: str, timeout: float) -> Optional[str]:
        """Return the node's state label (``active``...), or None without an answer in time."""
        response = self._call(GetState, f'{node}/get_state', GetState.Request(), timeout)
        return None if response is None else str(response.current_state.label)

    def change_state(self, node: str, transition: str, timeout: float) -> Optional[bool]:
        """
        Request ``transition`` (configure, activate, deactivate, cleanup, shutdown).

        Return the node's answer (True on success), or None when it did not answer in time.
        """
        if transition == 'shutdown':
            label = self.get_state(node, timeout)
            if label is None:
                return None
            if label not in SHUTDOWN_FROM:
                return label == 'finalized'
            transition_id = SHUTDOWN_FROM[label]
        else:
            transition_id = TRANSITIONS[transition]
        request = ChangeState.Request()
        request.transition.id = transition_id
        response = self._call(ChangeState, f'{node}/change_state', request, timeout)
        return None if response is None else bool(response.success)

    def node_present(self, node: str) -> bool:
        """Return True when a node of this fully qualified name is in the ROS graph."""
        ns, _, name = node.rpartition('/')
        present = (name, ns or '/') in self.node.get_node_names_and_namespaces()
        if present:
            self._seen.add(node)
        return present

    def watch(self, node: str, callback: Callable[[str], None]) -> None:
        """
        Call ``callback(state_label)`` on every transition event ``node`` publishes.

        Called on the client's spin thread; the callback must return promptly. A second
        watch of the same node replaces the first.
        """
        def on_event(msg: TransitionEvent) -> None:
            callback(str(msg.goal_state.label))
        with self._lock:
            old = self._watches.pop(node, None)
            if old is not None:
                self.node.destroy_subscription(old)
            self._watches[node] = callbacks.subscribe(
                self.node, TransitionEvent, f'{node}/transition_event', on_event, 10)

    def forget(self, node: str) -> None:
        """Drop the clients and the transition watch of ``node`` (restarted or unloaded)."""
        with self._lock:
            for service in [s for s in self._clients if s.startswith(f'{node}/')]:
                self.node.destroy_client(self._clients.pop(service))
            self._seen.discard(node)
            watch = self._watches.pop(node, None)
            if watch is not None:
                self.node.destroy_subscription(watch)

    def close(self) -> None:
        """Stop the spin thread and destroy the node."""
        self._spinner.close()
