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
The LLM bridge node: a lifecycle node wiring ROS topics and a service to the bridge.

- configure: load and validate the bridge config, connect the model backends, create the
  publishers (responses, errors, declared action topics, ``/diagnostics``), the request
  subscription and the query service
- activate: take requests, and subscribe to graph topics matching a route (rescanned every
  ``discovery_period_s``)
- deactivate: stop taking requests (running ones finish)
- cleanup / shutdown: stop the workers, close the backends and Redis

Topics carry JSON in ``std_msgs/String`` (see ``docs/llm_bridge.md``). No message can stop
the node: request JSON is parsed within ``bridge.max_request_bytes`` and a nesting limit, a bad
request is answered on the error topic and dead-lettered, a request arriving while the bridge
is inactive is dead-lettered (``refused_inactive``), requests the middleware dropped before
the node saw them are counted (``requests_lost``, from the subscription's message-lost event),
and an unexpected error in a callback is logged and counted (``callback_errors``), never
raised into the executor. The query service is
``diagnostic_msgs/srv/AddDiagnostics`` (a standard type with a string in and a string out):
the request JSON in ``load_namespace``, the answer JSON in ``message``.
Run it with ``ros2 run unity_kernel llm_bridge --ros-args -p config_file:=PATH``.
"""

import concurrent.futures
import json
import logging
import pathlib
import re
import sys
import threading
from typing import Any, Dict, List, Optional, Tuple

from diagnostic_msgs.msg import DiagnosticArray
from diagnostic_msgs.srv import AddDiagnostics
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from unity_kernel_core.bus.patterns import any_match
from unity_kernel_core.config.documents import loads_json
from unity_kernel_core.config.kernel_config import DEFAULT_EXCLUDE, QosSettings
from unity_kernel_core.errors import SecretError, UnityKernelError
from unity_kernel_core.intake import qos_profile, SubscriptionPlan, TopicFollower, Want, Wanted
from unity_kernel_core.paths import default_ament_prefix_path, resolve_path, share_dir
from unity_kernel_core.ros import callbacks, lifecycle_base
from unity_kernel_core.ros.diagnostics import ERROR, OK, status, WARN
from unity_kernel_core.ros.lifecycle_base import ManagedLifecycleNode
from unity_kernel_core.ros.parameters import Applies, ParamSpec
from unity_llm_bridge.actions import Action
from unity_llm_bridge.bridge import Bridge, Outcome
from unity_llm_bridge.config import LlmBridgeConfig, load_bridge_config
from unity_llm_bridge.dead_letter import DeadLetterSink, RedisDeadLetters
from unity_llm_bridge.errors import BridgeConfigError, LlmError
from unity_llm_bridge.memory import connect_store, MemoryStore, RedisStore
from unity_llm_bridge.providers import make_provider
from unity_llm_bridge.ros_fields import message_fields
from unity_llm_bridge.routing import LlmRequest, new_id

_LOG = logging.getLogger('unity_kernel.llm_bridge')
INFRASTRUCTURE = DEFAULT_EXCLUDE  # never routed: ROS infrastructure, the kernel's outputs
EVENT_QOS = Wanted(QosSettings(depth=10))
"""Graph topics are taken with this QoS, adapted to their publishers."""


def default_config_path() -> pathlib.Path:
    """Return the shipped ``config/llm_bridge.yaml``."""
    return share_dir() / 'config' / 'llm_bridge.yaml'


def _string(payload: Dict[str, Any]) -> String:
    return String(data=json.dumps(payload, ensure_ascii=False, default=str))


class RosOutput:
    """Publish the bridge's results as JSON ``std_msgs/String`` messages."""

    def __init__(self, response: Any, error: Any, actions: Dict[str, Any]) -> None:
        self._response = response
        self._error = error
        self._actions = actions

    def chunk(self, request: LlmRequest, route: str, model: str, seq: int, delta: str) -> None:
        self._response.publish(_string({'id': request.request_id, 'route': route, 'model': model,
                                        'seq': seq, 'delta': delta, 'final': False}))

    def final(self, outcome: Outcome) -> None:
        self._response.publish(_string(outcome.to_json()))

    def action(self, outcome: Outcome, action: Action) -> None:
        self._actions[action.topic].publish(_string({
            'id': outcome.request.request_id, 'route': outcome.route, 'model': outcome.model,
            'action': action.name, 'arguments': action.arguments}))

    def error(self, outcome: Outcome) -> None:
        self._error.publish(_string(outcome.to_json()))


class QueryServer:
    """
    The one-shot query service, on its own helper node and executor thread.

    A query waits for its answer; doing that here keeps the bridge node's executor free
    (single-threaded: a multi-threaded executor stalled the intake for up to 300 ms, see
    docs/performance.md). Up to ``threads`` queries wait at once.
    """

    def __init__(self, parent: Any, service: str, callback: Any, threads: int = 4) -> None:
        self.node = rclpy.create_node(f'{parent.get_name()}_query',
                                      namespace=parent.get_namespace(), context=parent.context,
                                      use_global_arguments=False)
        callbacks.service(self.node, AddDiagnostics, service, callback,
                          callback_group=ReentrantCallbackGroup())
        self.executor = MultiThreadedExecutor(num_threads=threads, context=parent.context)
        self.executor.add_node(self.node)
        self._running = True
        self._thread = threading.Thread(target=self._spin, name='llm_bridge_query', daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self._running and callbacks.spin_once(self.executor, 0.1,
                                                    name='executor of llm_bridge_query'):
            pass

    def close(self) -> None:
        """Stop serving queries and destroy the helper node."""
        self._running = False
        self.executor.shutdown(timeout_sec=5.0)
        self._thread.join(5.0)
        self.node.destroy_node()


PARAMETERS = [
    ParamSpec('config_file', '', 'Bridge config file (YAML or JSON), read at configure; empty: '
              'the shipped config/llm_bridge.yaml. A lifecycle cleanup + configure re-reads '
              'it.', Applies.START),
    ParamSpec('autostart', False, 'Configure and activate at start.', Applies.START),
]


class LlmBridgeNode(ManagedLifecycleNode):
    """The LLM bridge lifecycle node."""

    def __init__(self, node_name: str = 'llm_bridge', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.declare_specs(PARAMETERS)
        self.config: Optional[LlmBridgeConfig] = None
        self.bridge: Optional[Bridge] = None
        self._query: Optional[QueryServer] = None
        self._request_subs: List[Any] = []
        self._bridge_timers: List[Any] = []
        self._output_pubs: List[Any] = []
        self._follower: Optional[TopicFollower] = None
        self._redis: Optional[Any] = None
        self._diag_pub: Optional[Any] = None
        self._prev: Dict[str, Dict[str, Any]] = {}
        self._prev_intake: Dict[str, int] = {}
        self._active = threading.Event()
        self.intake_counters = {'requests_lost': 0, 'refused_inactive': 0}
        """Requests that never reached the bridge, and callbacks that failed (diagnostics)."""

    # -- lifecycle -------------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        param = str(self.get_parameter('config_file').value or '')
        try:
            # (package://<package>/<path> too; a relative path: the working folder's)
            path = resolve_path(param, None) if param else default_config_path()
            config = load_bridge_config(path)
        except FileNotFoundError as exc:  # a package:// URL of a package not installed
            self.get_logger().error(f'config: config_file {param!r}: {exc}')
            return TransitionCallbackReturn.FAILURE
        except BridgeConfigError as exc:
            for issue in exc.issues:
                self.get_logger().error(f'config: {issue}')
            return TransitionCallbackReturn.FAILURE
        b = config.bridge
        persistent: Optional[MemoryStore] = None
        dead_letters: Optional[DeadLetterSink] = None
        if b.redis_url:
            try:
                self._redis, keys = connect_store(b)
            except UnityKernelError as exc:
                self.get_logger().error(f'configure failed: {exc}')
                return TransitionCallbackReturn.FAILURE
            persistent = RedisStore(self._redis, keys.prefix, keys.robot_id)
            dead_letters = RedisDeadLetters(
                self._redis, b.dead_letter_stream or keys.dead_letter_stream('llm'),
                b.dead_letter_maxlen, b.request_topic)
        depth = b.request_queue_depth  # one reply per request: the same room as requests
        response = self.create_lifecycle_publisher(String, b.response_topic, depth)
        error = self.create_lifecycle_publisher(String, b.error_topic, depth)
        action_topics = sorted({a.topic for r in config.routes for a in r.actions.values()})
        actions = {t: self.create_lifecycle_publisher(String, t, 100) for t in action_topics}
        self._output_pubs = [response, error, *actions.values()]
        providers = {name: make_provider(name, settings)
                     for name, settings in config.models.items()}
        bridge = Bridge(config, providers, RosOutput(response, error, actions), persistent,
                        dead_letters)
        try:
            bridge.start()
        except (LlmError, SecretError) as exc:
            self.get_logger().error(f'configure failed: {exc}')
            bridge.stop()
            self._destroy_entities()
            return TransitionCallbackReturn.FAILURE
        self.config, self.bridge = config, bridge
        self._follower = TopicFollower(
            self, self._want(config, bridge), self._subscribe_event,
            report=lambda topic, why: self.get_logger().warning(f'not routing {topic}: {why}'),
            dropped=lambda plan, why: self.get_logger().info(
                f'no longer routing {plan.topic}: {why}'))
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._request_subs = [callbacks.subscribe(
            self, String, b.request_topic, self._on_request,
            QoSProfile(depth=b.request_queue_depth, reliability=ReliabilityPolicy.RELIABLE,
                       history=HistoryPolicy.KEEP_LAST),
            event_callbacks=SubscriptionEventCallbacks(message_lost=self._on_lost))]
        self._query = QueryServer(self, b.service, self._on_query)
        self._bridge_timers = [
            callbacks.timer(self, b.diagnostics_period_s, self._publish_diagnostics),
            callbacks.timer(self, b.discovery_period_s, self._discover)]
        self.get_logger().info(
            f'configured from {path}: models {", ".join(config.models) or "none"}; routes '
            f'{", ".join(r.name for r in config.routes) or "none"}; requests on '
            f'{b.request_topic}, answers on {b.response_topic}, errors on {b.error_topic}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active.set()
        self._discover()
        self.get_logger().info('active: taking requests')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active.clear()
        self.get_logger().info('inactive: not taking requests (running ones finish)')
        return super().on_deactivate(state)

    def halt(self) -> None:
        """Stop taking requests (shutdown, error)."""
        self._active.clear()

    def release(self) -> None:
        """Stop the workers, close the backends and Redis (cleanup, shutdown, error)."""
        self._teardown()

    def _teardown(self) -> None:
        bridge, self.bridge = self.bridge, None
        if bridge is not None:
            bridge.stop()
        self._destroy_entities()
        if self._redis is not None:
            self._redis.close()
            self._redis = None
        self.config = None

    def _destroy_entities(self) -> None:
        if self._follower is not None:
            self._follower.clear()
            self._follower = None
        for sub in self._request_subs:
            self.destroy_subscription(sub)
        if self._query is not None:
            self._query.close()
            self._query = None
        for timer in self._bridge_timers:
            self.destroy_timer(timer)
        for pub in self._output_pubs:
            self.destroy_lifecycle_publisher(pub)
        if self._diag_pub is not None:
            self.destroy_publisher(self._diag_pub)
        self._request_subs = []
        self._bridge_timers, self._output_pubs = [], []
        self._diag_pub = None

    # -- requests --------------------------------------------------------------------------

    def _on_request(self, msg: String) -> None:
        self._take_request(msg.data)

    def _take_request(self, raw: str) -> None:
        bridge, config = self.bridge, self.config
        if bridge is None or config is None or not self._active.is_set():
            # the error topic is down with the node; the dead letter keeps the request
            self.intake_counters['refused_inactive'] += 1
            if bridge is not None:
                bridge.dead_letters.put({'id': _id_of(raw), 'text': raw[:2000]}, 'inactive',
                                        f'bridge is {self.state_label}')
            return
        limit = config.bridge.max_request_bytes
        try:
            request = LlmRequest.from_json(raw, max_bytes=limit)
        except ValueError as exc:
            bridge.reject(LlmRequest(request_id=_id_of(raw, limit), text=raw[:2000]),
                          'invalid_request', str(exc))
            return
        bridge.submit(request)

    def _on_lost(self, info: Any) -> None:
        lost = int(getattr(info, 'total_count_change', 0) or 0)
        self.intake_counters['requests_lost'] += lost
        self.get_logger().error(f'{lost} request(s) dropped by the middleware before the '
                                'bridge saw them (raise bridge.request_queue_depth)')

    def _on_event(self, topic: str, type_name: str, msg: Any) -> None:
        bridge = self.bridge
        if bridge is None or not self._active.is_set():
            return
        text = msg.data if isinstance(getattr(msg, 'data', None), str) else ''
        bridge.submit(LlmRequest(request_id=new_id(), topic=topic, type_name=type_name,
                                 fields=message_fields(msg), text=text))

    def _on_query(self, request: AddDiagnostics.Request,
                  response: AddDiagnostics.Response) -> AddDiagnostics.Response:
        try:
            return self._answer_query(request, response)
        except Exception as exc:  # the query is answered in its own JSON form: counted too
            callbacks.ERRORS.record('service query', exc)
            response.success = False
            response.message = json.dumps({'ok': False, 'reason': 'internal_error',
                                           'error': f'{type(exc).__name__}: {exc}'})
            return response

    def _answer_query(self, request: AddDiagnostics.Request,
                      response: AddDiagnostics.Response) -> AddDiagnostics.Response:
        bridge, config = self.bridge, self.config
        if bridge is None or config is None or not self._active.is_set():
            response.success = False
            response.message = json.dumps({'ok': False, 'reason': 'inactive',
                                           'error': f'bridge is {self.state_label}'})
            return response
        limit = config.bridge.max_request_bytes
        try:
            query = LlmRequest.from_json(request.load_namespace, max_bytes=limit)
        except ValueError as exc:
            outcome = bridge.reject(LlmRequest(request_id=_id_of(request.load_namespace,
                                                                 limit)),
                                    'invalid_request', str(exc))
        else:
            future = bridge.submit(query, publish=False)
            try:
                outcome = future.result(timeout=config.bridge.service_timeout_s)
            except TimeoutError:
                outcome = Outcome(query, reason='timeout', error='no outcome within '
                                  f'service_timeout_s={config.bridge.service_timeout_s}')
            except concurrent.futures.CancelledError:
                outcome = Outcome(query, reason='busy', error='bridge stopped')
        response.success = outcome.ok
        response.message = json.dumps(outcome.to_json(), ensure_ascii=False, default=str)
        return response

    # -- graph topics ----------------------------------------------------------------------

    def _want(self, config: LlmBridgeConfig, bridge: Bridge) -> Want:
        """Return the follower's question: graph topics a route matches, not the bridge's own."""
        b = config.bridge
        own = [b.request_topic, b.response_topic, b.error_topic, *INFRASTRUCTURE,
               *(a.topic for r in config.routes for a in r.actions.values())]
        patterns = bridge.router.patterns()

        def want(topic: str) -> Optional[Wanted]:
            if any_match(own, topic) or not any_match(patterns, topic):
                return None
            return EVENT_QOS
        return want

    def _subscribe_event(self, plan: SubscriptionPlan, msg_type: Any) -> Tuple[Any, Any]:
        topic, type_name = plan.topic, plan.type_name
        sub = callbacks.subscribe(self, msg_type, topic,
                                  lambda m: self._on_event(topic, type_name, m),
                                  qos_profile(plan.qos), name=f'event {topic}')
        self.get_logger().info(f'routing events of {topic} ({type_name})')
        return self, sub

    def _discover(self) -> None:
        if self._follower is not None and self._active.is_set():
            self._follower.sync()

    # -- diagnostics -----------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        bridge, pub = self.bridge, self._diag_pub
        if bridge is None or pub is None:
            return
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        name = self.get_name()
        counters = {**bridge.counters, **self.intake_counters,
                    'callback_errors': callbacks.ERRORS.total}
        before = self._prev_intake
        new = {k: v - before.get(k, 0) for k, v in counters.items() if v - before.get(k, 0) > 0}
        self._prev_intake = counters
        trouble = [f'{k} {new[k]}' for k in
                   ('requests_lost', 'callback_errors', 'busy', 'refused_inactive') if k in new]
        level = OK if self.state_label == 'active' and not trouble else WARN
        if any(k in new for k in ('requests_lost', 'callback_errors')):
            level = ERROR
        follower = self._follower
        array.status.append(status(
            f'{name}: bridge', level,
            self.state_label + (': ' + ', '.join(trouble) if trouble else ''),
            {'state': self.state_label, **counters,
             'event_topics': len(follower.plans) if follower else 0},
            hardware_id=name))
        snapshot = bridge.snapshot()
        for model, values in snapshot.items():
            prev = self._prev.get(model, {})
            new_errors = values['errors'] - prev.get('errors', 0)
            new_rejected = sum(values['rejected'].values()) - sum(
                prev.get('rejected', {}).values())
            breaker = values['breaker']
            level = ERROR if breaker == 'open' else \
                WARN if breaker == 'half_open' or new_errors or new_rejected else OK
            message = f'breaker {breaker}' + (f', {new_errors} new errors' if new_errors else '') \
                + (f', {new_rejected} answers rejected' if new_rejected else '')
            flat = {k: (json.dumps(v, sort_keys=True) if isinstance(v, dict) else v)
                    for k, v in values.items()}
            flat['latency_p50_ms'] = f'{values["latency_p50_ms"]:.1f}'
            flat['latency_p99_ms'] = f'{values["latency_p99_ms"]:.1f}'
            array.status.append(status(f'{name}: model {model}', level, message, flat,
                                       hardware_id=values['base_url']))
        self._prev = snapshot
        pub.publish(array)


_ID_TEXT = re.compile(r'"id"\s*:\s*"([A-Za-z0-9_.:-]{1,128})"')


def _id_of(raw: str, max_bytes: int = 64 * 1024) -> str:
    """
    Return the ``id`` of a request that did not validate, if it has one (within limits).

    A request too large or too deep to parse still has its id salvaged from its first 4 KiB
    (a plain ``"id": "..."``), so the sender can match the error to what it sent.
    """
    try:
        data = loads_json(raw, max_bytes=max_bytes, duplicates=True)
    except ValueError:
        match = _ID_TEXT.search(raw[:4096])
        return match.group(1) if match else new_id()
    value = data.get('id') if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else new_id()


def main(args: Optional[List[str]] = None) -> int:
    """Run the bridge node (``ros2 run unity_kernel llm_bridge``)."""
    default_ament_prefix_path()
    return lifecycle_base.run(LlmBridgeNode, args)


if __name__ == '__main__':
    sys.exit(main())
