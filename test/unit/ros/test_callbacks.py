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

"""The one guarded callback path: failures are counted and logged, never raised."""

import logging

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from diagnostic_msgs.srv import AddDiagnostics
from rclpy.executors import ExternalShutdownException, ShutdownException
from rclpy.serialization import serialize_message
from std_srvs.srv import Empty

from unity_kernel_core.ros import callbacks


class Capture(logging.Handler):
    """Records of one logger, whatever its propagation (launch turns propagation off)."""

    def __init__(self, logger):
        super().__init__(logging.DEBUG)
        self.records = []
        self.logger = logger
        logger.addHandler(self)

    def emit(self, record):
        self.records.append(record)

    def close(self):
        self.logger.removeHandler(self)
        super().close()


class FakeNode:
    """Keeps what the package would have given rclpy."""

    def __init__(self):
        self.made = []

    def create_subscription(self, msg_type, topic, callback, qos, **kwargs):
        self.made.append(('subscription', topic, callback, kwargs))
        return callback

    def create_timer(self, period, callback, **kwargs):
        self.made.append(('timer', period, callback, kwargs))
        return callback

    def create_service(self, srv_type, name, callback, **kwargs):
        self.made.append(('service', name, callback, kwargs))
        return callback


def errors_with_log():
    logger = logging.getLogger('test.callbacks')
    logger.propagate = False
    return callbacks.CallbackErrors(logger), Capture(logger)


def test_a_failing_callback_is_counted_logged_once_with_its_traceback_then_by_powers_of_ten():
    errors, log = errors_with_log()

    def boom(value):
        raise ValueError(f'bad {value}')
    run = callbacks.guarded('subscription /x', boom, errors)
    for i in range(100):
        assert run(i) is None
    assert errors.total == 100 and errors.counts() == {'subscription /x': 100}
    messages = [r.getMessage() for r in log.records]
    assert len(messages) == 3  # the 1st (with traceback), the 10th and the 100th
    assert 'callback subscription /x failed (ValueError: bad 0)' in messages[0]
    assert 'Traceback' in messages[0]
    assert 'failed 10 times with ValueError' in messages[1]
    assert 'failed 100 times with ValueError (last: bad 99)' in messages[2]
    log.close()


def test_a_subscription_takes_raw_cdr_and_deserializes_inside_the_guard():
    errors, log = errors_with_log()
    node, got = FakeNode(), []
    callbacks.subscribe(node, DiagnosticArray, '/diagnostics', got.append, 10, errors=errors)
    kind, topic, handler, kwargs = node.made[0]
    assert (kind, topic, kwargs) == ('subscription', '/diagnostics', {'raw': True})
    good = DiagnosticArray(status=[DiagnosticStatus(name='a', message='ok')])
    handler(serialize_message(good))
    handler(b'\x00\x01\x00\x00' + b'\xff' * 40)
    handler(b'')
    assert [a.status[0].name for a in got] == ['a']
    assert errors.counts() == {'subscription /diagnostics': 2}
    log.close()


def test_a_raw_subscription_hands_the_bytes_over_unchanged():
    errors, log = errors_with_log()
    node, got = FakeNode(), []
    callbacks.subscribe(node, DiagnosticArray, '/x', got.append, 10, raw=True, name='intake',
                        errors=errors)
    node.made[0][2](b'\x01\x02')
    assert got == [b'\x01\x02'] and errors.total == 0
    log.close()


def test_a_failing_timer_is_counted_under_its_name():
    errors, log = errors_with_log()
    node = FakeNode()

    def tick():
        raise RuntimeError('no')
    callbacks.timer(node, 0.5, tick, errors=errors)
    node.made[0][2]()
    assert errors.counts() == {'timer tick': 1}
    log.close()


def test_a_failing_service_answers_with_the_reason_where_the_response_can_carry_it():
    errors, log = errors_with_log()
    node = FakeNode()

    def handle(request, response):
        raise KeyError('lidar')
    callbacks.service(node, AddDiagnostics, '~/modules/load', handle, errors=errors)
    callbacks.service(node, Empty, '~/ping', handle, errors=errors)
    answer = node.made[0][2](AddDiagnostics.Request(), AddDiagnostics.Response())
    assert answer.success is False
    assert answer.message == "internal error: KeyError: 'lidar'"
    assert isinstance(node.made[1][2](Empty.Request(), Empty.Response()), Empty.Response)
    assert errors.counts() == {'service ~/modules/load': 1, 'service ~/ping': 1}
    log.close()


class Executor:

    def __init__(self, exc, ok=True):
        self.exc, self.context = exc, type('C', (), {'ok': lambda _self: ok})()

    def spin_once(self, timeout_sec):
        if self.exc is not None:
            raise self.exc


def test_spin_once_goes_on_after_an_error_and_stops_at_a_shutdown():
    errors, log = errors_with_log()
    assert callbacks.spin_once(Executor(None), 0.1, name='e', errors=errors)
    assert callbacks.spin_once(Executor(RuntimeError('take failed')), 0.1, name='e',
                               errors=errors)
    assert errors.counts() == {'e': 1}
    assert not callbacks.spin_once(Executor(ExternalShutdownException()), 0.1, name='e',
                                   errors=errors)
    assert not callbacks.spin_once(Executor(ShutdownException()), 0.1, name='e', errors=errors)
    # a shut-down context makes spin_once raise: the end of spinning, not an error
    assert not callbacks.spin_once(Executor(RuntimeError('gone'), ok=False), 0.1, name='e',
                                   errors=errors)
    assert errors.counts() == {'e': 1}
    log.close()
