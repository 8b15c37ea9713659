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

"""Events: what flows through the kernel's priority bus."""

import enum
import time
from typing import Any, Optional

from unity_kernel_core.ros import message_types


class Tier(enum.IntEnum):
    """Priority tiers; a lower value is more urgent."""

    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3
    DEFERRED = 4

    @classmethod
    def parse(cls, value: 'str | int | Tier') -> 'Tier':
        """Return the tier named (case-insensitive) or numbered by ``value``."""
        if isinstance(value, Tier):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            names = ', '.join(t.name for t in cls)
            raise ValueError(f'unknown tier {value!r}: expected one of {names}') from None


class Event:
    """
    One message accepted by the kernel.

    ``seq`` is assigned by the bus, strictly increasing across all topics and tiers, and is
    the kernel's global order. The payload is held as a ROS message, as CDR bytes, or
    both; whichever is missing is made on first access (``message`` / ``cdr``).
    """

    __slots__ = ('topic', 'type_name', 'tier', 'seq', 'stamp_ns', 'mono_ns', 'source',
                 '_message', '_cdr')

    def __init__(self, topic: str, type_name: str, tier: Tier, seq: int,
                 message: Any = None, cdr: Optional[bytes] = None,
                 stamp_ns: Optional[int] = None, mono_ns: Optional[int] = None,
                 source: str = '') -> None:
        self.topic = topic
        self.type_name = type_name
        self.tier = tier
        self.seq = seq
        self.stamp_ns = time.time_ns() if stamp_ns is None else stamp_ns
        self.mono_ns = time.monotonic_ns() if mono_ns is None else mono_ns
        self.source = source
        self._message = message
        self._cdr = cdr

    @property
    def message(self) -> Any:
        """Return the payload: a ROS message, or a plain object for in-process events."""
        if self._message is None and self._cdr is not None:
            self._message = message_types.deserialize(self._cdr, self.type_name)
        return self._message

    @property
    def cdr(self) -> Optional[bytes]:
        """Return the CDR-serialized payload, or None for a payload that is no ROS message."""
        if self._cdr is None and self._message is not None and '/msg/' in self.type_name:
            self._cdr = message_types.serialize(self._message)
        return self._cdr

    def __repr__(self) -> str:
        return (f'Event(seq={self.seq}, topic={self.topic!r}, type={self.type_name!r}, '
                f'tier={self.tier.name})')
