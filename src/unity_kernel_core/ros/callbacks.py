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
The one guarded path of every callback of the package's nodes: none can end the process.

Anything on the ROS graph can send a node bytes it did not expect: a malformed CDR message on
a topic it subscribes to, a request its service cannot take, a transition event from an
impostor. In rclpy, an exception from a callback (or from the deserialization before it)
leaves ``spin_once`` and ends whatever spins it: the kernel and every module with it. So:

- :func:`subscribe`, :func:`timer` and :func:`service` make every subscription, timer and
  service of the package. A subscription always takes the raw CDR and deserializes it inside
  the guard; a callback that raises is logged and counted; a service that raises answers
  with ``success=False`` and the reason where its response has those fields.
- :func:`spin_once` is the one way the package's executors turn: what still escapes a
  callback (a request the middleware could not deserialize, an event callback) is logged and
  counted there, and spinning goes on.

Every error is counted per callback in the process's :data:`ERRORS`, which each node reports
on ``/diagnostics`` (``callback_errors``). The first error of each callback and exception type
is logged with its traceback; repeats are logged as one line at 1, 10, 100, ... occurrences,
so a flood of bad messages cannot flood the log. ``tests/lint`` checks that nothing else in
``src/`` creates a subscription, timer or service.
"""

import logging
import threading
import traceback
from typing import Any, Callable, Dict, Optional, Tuple

from rclpy.executors import ExternalShutdownException, ShutdownException
from rclpy.serialization import deserialize_message

_LOG = logging.getLogger('unity_kernel.callbacks')


class CallbackErrors:
    """The process's callback failures, counted per callback name (thread-safe)."""

    def __init__(self, logger: logging.Logger = _LOG) -> None:
        self._lock = threading.Lock()
        self._counts: Dict[str, int] = {}
        self._kinds: Dict[Tuple[str, str], int] = {}
        self._logger = logger

    @property
    def total(self) -> int:
        """Return how many callbacks failed in this process so far."""
        with self._lock:
            return sum(self._counts.values())

    def counts(self) -> Dict[str, int]:
        """Return the failures so far per callback name."""
        with self._lock:
            return dict(self._counts)

    def record(self, name: str, exc: BaseException) -> None:
        """Count a failure of callback ``name`` and log it (with a traceback the first time)."""
        kind = (name, type(exc).__name__)
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + 1
            seen = self._kinds.get(kind, 0) + 1
            self._kinds[kind] = seen
        if seen == 1:
            self._logger.error('callback %s failed (%s: %s); it goes on with the next one\n%s',
                               name, kind[1], _short(exc), traceback.format_exc())
        elif _is_power_of_ten(seen):
            self._logger.error('callback %s failed %d times with %s (last: %s)',
                               name, seen, kind[1], _short(exc))


ERRORS = CallbackErrors()
"""Every callback failure of this process (reported on ``/diagnostics`` as callback_errors)."""


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).replace('\n', ' ')
    return text if len(text) <= limit else text[:limit] + '...'


def _is_power_of_ten(n: int) -> bool:
    while n % 10 == 0:
        n //= 10
    return n == 1


def guarded(name: str, callback: Callable[..., Any],
            errors: CallbackErrors = ERRORS) -> Callable[..., Any]:
    """Return ``callback`` wrapped so that an exception is counted and logged, never raised."""
    def run(*args: Any) -> Any:
        try:
            return callback(*args)
        except Exception as exc:  # the one place a callback's failure is caught: counted, logged
            errors.record(name, exc)
            return None
    run.__name__ = getattr(callback, '__name__', name)
    return run


def subscribe(node: Any, msg_type: Any, topic: str, callback: Callable[[Any], None],
              qos: Any, *, raw: bool = False, name: Optional[str] = None,
              errors: CallbackErrors = ERRORS, **kwargs: Any) -> Any:
    """
    Create a subscription whose callback can never end the process.

    The middleware always hands over the raw CDR; with ``raw=False`` it is deserialized to
    ``msg_type`` inside the guard, so a malformed message is one counted error. ``name``
    (default: the topic) is what errors are counted under.
    """
    label = name or f'subscription {topic}'
    if raw:
        handler = callback
    else:
        def handler(cdr: bytes) -> None:
            callback(deserialize_message(cdr, msg_type))
        handler.__name__ = getattr(callback, '__name__', label)
    return node.create_subscription(msg_type, topic, guarded(label, handler, errors), qos,
                                    raw=True, **kwargs)


def timer(node: Any, period_s: float, callback: Callable[[], None], *,
          name: Optional[str] = None, errors: CallbackErrors = ERRORS, **kwargs: Any) -> Any:
    """Create a timer whose callback can never end the process."""
    label = name or f'timer {getattr(callback, "__name__", "?")}'
    return node.create_timer(period_s, guarded(label, callback, errors), **kwargs)


def service(node: Any, srv_type: Any, srv_name: str, callback: Callable[[Any, Any], Any], *,
            name: Optional[str] = None, errors: CallbackErrors = ERRORS, **kwargs: Any) -> Any:
    """
    Create a service whose callback can never end the process.

    A callback that raises is counted and the caller gets an answer anyway: the response's
    ``success`` is False and its ``message`` names the error, where the type has them.
    """
    label = name or f'service {srv_name}'

    def handle(request: Any, response: Any) -> Any:
        try:
            return callback(request, response)
        except Exception as exc:  # the service answers: counted, logged, the reason returned
            errors.record(label, exc)
            failed = srv_type.Response()
            if hasattr(failed, 'success'):
                failed.success = False
            if hasattr(failed, 'message'):
                failed.message = f'internal error: {type(exc).__name__}: {_short(exc)}'
            return failed
    handle.__name__ = getattr(callback, '__name__', label)
    return node.create_service(srv_type, srv_name, handle, **kwargs)


def spin_once(executor: Any, timeout_sec: float, *, name: str, context: Any = None,
              errors: CallbackErrors = ERRORS) -> bool:
    """
    Turn ``executor`` once; return False when it or its context is shut down (stop spinning).

    What escapes a callback here (the middleware could not deserialize a request, an event
    callback raised) is counted under ``name`` and logged; the executor goes on. The context
    (default: the executor's) is asked only when a turn raises: a shut-down context makes
    ``spin_once`` raise, which is the end of spinning, not an error.
    """
    try:
        executor.spin_once(timeout_sec=timeout_sec)
    except (ExternalShutdownException, ShutdownException):
        return False
    except Exception as exc:  # the executor goes on: counted, logged (unless shutting down)
        context = context if context is not None else getattr(executor, 'context', None)
        if context is not None and not context.ok():
            return False
        errors.record(name, exc)
    return True
