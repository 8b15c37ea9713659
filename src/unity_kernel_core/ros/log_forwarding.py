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

"""Forward Python's standard logging to the ROS logger of a node, so it reaches /rosout."""

import logging
from typing import Any, Optional

from unity_kernel_core.common.credentials import redact_text


class RosLogHandler(logging.Handler):
    """
    A logging handler writing records to an rclpy logger at the matching severity.

    Each line goes through :func:`~unity_kernel_core.common.credentials.redact_text` first:
    what reaches ``/rosout`` and the ROS log files never holds a token or a password.
    """

    def __init__(self, ros_logger: Any) -> None:
        super().__init__()
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = redact_text(self.format(record))
        except Exception:  # formatting errors are reported by logging itself
            self.handleError(record)
            return
        level = record.levelno
        log = self._ros_logger
        if level >= logging.CRITICAL:
            log.fatal(text)
        elif level >= logging.ERROR:
            log.error(text)
        elif level >= logging.WARNING:
            log.warning(text)
        elif level >= logging.INFO:
            log.info(text)
        else:
            log.debug(text)


_installed: Optional[RosLogHandler] = None


def install(ros_logger: Any, level: int = logging.INFO) -> RosLogHandler:
    """
    Route the ``unity_kernel`` logging tree to ``ros_logger``; return the handler.

    Calling it again replaces the previous handler (one node per process owns the bridge).
    """
    global _installed
    root = logging.getLogger('unity_kernel')
    if _installed is not None:
        root.removeHandler(_installed)
    handler = RosLogHandler(ros_logger)
    handler.setFormatter(logging.Formatter('[%(name)s] %(message)s'))
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    _installed = handler
    return handler


def uninstall(handler: RosLogHandler) -> None:
    """Undo :func:`install` for ``handler``: the tree propagates to Python's root again."""
    global _installed
    root = logging.getLogger('unity_kernel')
    root.removeHandler(handler)
    if _installed is handler:
        _installed = None
        root.propagate = True
        root.setLevel(logging.NOTSET)
