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
Topic name patterns: ``*`` matches within one name segment, ``**`` across segments.

Examples: ``/safety/*`` matches ``/safety/estop`` but not ``/safety/arm/estop``;
``/sensors/**`` matches ``/sensors``, ``/sensors/imu`` and ``/sensors/cam/image_raw``;
``?`` matches one character other than ``/``. Patterns are absolute (start with ``/``).
"""

import functools
import re
from typing import Iterable, Optional, Pattern, Sequence, Tuple, TypeVar

from unity_kernel_core.errors import PatternError

T = TypeVar('T')

_ALLOWED = re.compile(r'^[A-Za-z0-9_/*?{}~]+$')


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Pattern[str]:
    """Compile a topic glob to an anchored regular expression, or raise PatternError."""
    if not isinstance(pattern, str) or not pattern:
        raise PatternError(f'topic pattern must be a non-empty string, got {pattern!r}')
    if not pattern.startswith('/'):
        raise PatternError(f"topic pattern {pattern!r} must start with '/'")
    if not _ALLOWED.match(pattern):
        raise PatternError(
            f'topic pattern {pattern!r} may only contain letters, digits, _ / * ?')
    if '***' in pattern:
        raise PatternError(f"topic pattern {pattern!r}: '***' is not a valid wildcard")
    if '//' in pattern:
        raise PatternError(f"topic pattern {pattern!r}: empty name segment '//'")
    out = []
    i = 0
    n = len(pattern)
    while i < n:
        if pattern.startswith('/**', i) and (i + 3 == n or pattern[i + 3] == '/'):
            # '/**' : zero or more whole segments
            out.append('(?:/[^/]+)*')
            i += 3
        elif pattern.startswith('**', i):
            raise PatternError(
                f"topic pattern {pattern!r}: '**' must be a whole segment, as in '/a/**'")
        elif pattern[i] == '*':
            out.append('[^/]*')
            i += 1
        elif pattern[i] == '?':
            out.append('[^/]')
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile('^' + ''.join(out) + '$')


def matches(pattern: str, topic: str) -> bool:
    """Return True when ``topic`` matches ``pattern``."""
    return compile_pattern(pattern).match(topic) is not None


def first_match(rules: Sequence[Tuple[str, T]], topic: str) -> Optional[T]:
    """Return the value of the first ``(pattern, value)`` rule matching ``topic``."""
    for pattern, value in rules:
        if matches(pattern, topic):
            return value
    return None


def any_match(patterns: Iterable[str], topic: str) -> bool:
    """Return True when any of ``patterns`` matches ``topic``."""
    return any(matches(p, topic) for p in patterns)
