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
from typing import Any, Optional, Protocol

from unity_kernel_core.errors import BusError


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


class PayloadCodec(Protocol):
    """
    Turns a payload from bytes to a message and back (the ROS edge gives the CDR codec).

    The bus is pure: it holds whatever codec its creator passes and never imports ROS.
    """

    def decode(self, cdr: bytes, type_name: str) -> Any:
        """Return the message ``cdr`` holds, as ``type_name``."""

    def encode(self, message: Any) -> bytes:
        """Return the serialized bytes of ``message``."""


class Event:
    """
    One message accepted by the kernel.

    ``seq`` is assigned by the bus, strictly increasing across all topics and tiers, and is
    the kernel's global order. The payload is held as a ROS message, as CDR bytes, or
    both; whichever is missing is made on first access (``message`` / ``cdr``) by the
    ``codec`` the bus was given (none: the payload stays as it came).
    """

    __slots__ = ('topic', 'type_name', 'tier', 'seq', 'stamp_ns', 'mono_ns', 'source',
                 'codec', '_message', '_cdr')

    def __init__(self, topic: str, type_name: str, tier: Tier, seq: int,
                 message: Any = None, cdr: Optional[bytes] = None,
                 stamp_ns: Optional[int] = None, mono_ns: Optional[int] = None,
                 source: str = '', codec: Optional[PayloadCodec] = None) -> None:
        self.topic = topic
        self.type_name = type_name
        self.tier = tier
        self.seq = seq
        self.stamp_ns = time.time_ns() if stamp_ns is None else stamp_ns
        self.mono_ns = time.monotonic_ns() if mono_ns is None else mono_ns
        self.source = source
        self.codec = codec
        self._message = message
        self._cdr = cdr

    @property
    def message(self) -> Any:
        """Return the payload: a ROS message, or a plain object for in-process events."""
        if self._message is None and self._cdr is not None:
            if self.codec is None:
                raise BusError(f'{self!r} holds CDR bytes and its bus has no codec to '
                               'decode them')
            self._message = self.codec.decode(self._cdr, self.type_name)
        return self._message

    @property
    def cdr(self) -> Optional[bytes]:
        """Return the CDR-serialized payload, or None for a payload that is no ROS message."""
        if self._cdr is None and self._message is not None and '/msg/' in self.type_name \
                and self.codec is not None:
            self._cdr = self.codec.encode(self._message)
        return self._cdr

    def __repr__(self) -> str:
        return (f'Event(seq={self.seq}, topic={self.topic!r}, type={self.type_name!r}, '
                f'tier={self.tier.name})')
