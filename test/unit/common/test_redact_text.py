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

"""Log lines never carry a secret: redact_text, its logging filter, the ROS log handler."""

import logging

import pytest

from unity_kernel_core.common.credentials import redact_text, RedactingFilter
from unity_kernel_core.ros.log_forwarding import RosLogHandler


@pytest.mark.parametrize('line, shown', [
    ('GET /?token=abc123&x=1 HTTP/1.1', 'GET /?token=***&x=1 HTTP/1.1'),
    ('to redis://robot:pw@10.0.0.5:6379/0 now', 'to redis://robot:***@10.0.0.5:6379/0 now'),
    ('X-Auth-Token=9 api_key=sk-1 passwd=hunter2', 'X-Auth-Token=*** api_key=*** passwd=***'),
    ('monkey=banana keyframe=3 topic=/a', 'monkey=banana keyframe=3 topic=/a'),
    ('ws://127.0.0.1:8765/?token=deadbeef', 'ws://127.0.0.1:8765/?token=***'),
])
def test_secrets_in_a_line_are_shown_as_stars_and_nothing_else_changes(line, shown):
    assert redact_text(line) == shown


class Keep(logging.Handler):

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_the_filter_redacts_a_record_at_its_logger_whatever_handler_takes_it():
    logger = logging.getLogger('test.redact.filter')
    logger.propagate, logger.level = False, logging.DEBUG
    keep = Keep()
    logger.addHandler(keep)
    logger.addFilter(RedactingFilter())
    logger.debug('< GET %s HTTP/1.1', '/?token=s3cr3t')
    logger.removeHandler(keep)
    assert keep.lines == ['< GET /?token=*** HTTP/1.1']


def test_what_the_nodes_send_to_the_ros_log_is_redacted():
    class RosLogger:

        def __init__(self):
            self.lines = []

        def info(self, text):
            self.lines.append(text)
    ros = RosLogger()
    handler = RosLogHandler(ros)
    record = logging.LogRecord('unity_kernel.x', logging.INFO, __file__, 1,
                               'url %s', ('redis://:pw@host/0',), None)
    handler.emit(record)
    assert ros.lines == ['url redis://:***@host/0']
