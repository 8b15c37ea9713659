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
Field types and bounds shared by every schema: ROS names, topic patterns, numbers in range.

Every number a config hands to Redis, rclpy or the clock must be finite and fit what takes
it, or the failure shows up at run time, far from the file (docs/kernel.md, "Limits").
"""

import re
from typing import Annotated, Optional

from pydantic import AfterValidator

from unity_kernel_core.bus.patterns import compile_pattern
from unity_kernel_core.errors import PatternError

TOPIC_MAX_LENGTH = 255 - 8
"""rmw's limit on a fully qualified topic name (255 minus the DDS prefix)."""
NODE_MAX_LENGTH = 255
REDIS_COUNT_MAX = 10 ** 12
"""Largest stream length (MAXLEN) we hand to Redis (it takes a signed 64-bit count)."""
DURATION_MS_MAX = 1e12
"""Longest QoS duration in ms (about 31 years; rclpy counts nanoseconds in 64 bits)."""
AGE_S_MAX = 100 * 365 * 86400
"""Longest retention age in seconds (100 years; Redis IDs count ms since 1970 in 64 bits)."""
WAIT_MS_MAX = 86_400_000
"""Longest time a publisher may block on a full tier (one day; the clock takes less than
``threading.TIMEOUT_MAX``)."""

_TOKEN = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
_NODE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


def topic_name_problem(name: object) -> Optional[str]:
    """Return why ``name`` is not a fully qualified ROS topic name, or None when it is."""
    if not isinstance(name, str) or not name:
        return f'a topic name must be a non-empty string, got {name!r}'
    if not name.startswith('/'):
        return f"topic {name!r} must be an absolute name: start with '/' (like '/a/b')"
    if len(name) > TOPIC_MAX_LENGTH:
        return f'topic name is {len(name)} characters, longer than {TOPIC_MAX_LENGTH}'
    if name.endswith('/'):
        return f"topic {name!r} must not end with '/'"
    for token in name[1:].split('/'):
        if not token:
            return f"topic {name!r} has an empty token ('//')"
        if not _TOKEN.match(token):
            if token[0].isdigit():
                return f'topic {name!r}: token {token!r} starts with a digit'
            return (f'topic {name!r}: token {token!r} may hold only letters, digits and '
                    "'_'")
    return None


def node_name_problem(name: object) -> Optional[str]:
    """Return why ``name`` is not a valid ROS node name, or None when it is."""
    if not isinstance(name, str) or not name:
        return f'a node name must be a non-empty string, got {name!r}'
    if len(name) > NODE_MAX_LENGTH:
        return f'node name is {len(name)} characters, longer than {NODE_MAX_LENGTH}'
    if not _NODE.match(name):
        return (f'{name!r} is not a valid ROS node name (letters, digits and _, not '
                'starting with a digit)')
    return None


def _topic(value: str) -> str:
    problem = topic_name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _node(value: str) -> str:
    problem = node_name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _pattern(value: str) -> str:
    try:
        compile_pattern(value)
    except PatternError as exc:
        raise ValueError(str(exc)) from None
    return value


TopicName = Annotated[str, AfterValidator(_topic)]
"""A fully qualified ROS topic (or service) name, validated as rcl does."""
NodeName = Annotated[str, AfterValidator(_node)]
"""A ROS node name, validated as rcl does."""
TopicPattern = Annotated[str, AfterValidator(_pattern)]
"""A topic pattern (``*`` within a name segment, ``**`` across segments)."""
