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

"""Resolve ROS 2 message types from their names, and (de)serialize CDR payloads."""

import functools
import importlib
import re
from typing import Any

from unity_kernel_core.errors import MessageTypeError

_TYPE_NAME = re.compile(r'^([A-Za-z][A-Za-z0-9_]*)/(?:(msg|srv|action)/)?([A-Z][A-Za-z0-9_]*)$')


def normalize_type_name(type_name: str) -> str:
    """Return the canonical ``pkg/msg/Name`` form of a type name (``pkg/Name`` is accepted)."""
    m = _TYPE_NAME.match(type_name or '')
    if not m:
        raise MessageTypeError(
            f'malformed ROS type name {type_name!r}: expected "package/msg/Type"')
    pkg, kind, name = m.group(1), m.group(2) or 'msg', m.group(3)
    return f'{pkg}/{kind}/{name}'


@functools.lru_cache(maxsize=512)
def import_message_type(type_name: str) -> Any:
    """Import and return the Python class of a ROS message type such as ``std_msgs/msg/String``."""
    canonical = normalize_type_name(type_name)
    pkg, kind, name = canonical.split('/')
    try:
        module = importlib.import_module(f'{pkg}.{kind}')
    except ImportError as exc:
        raise MessageTypeError(
            f'cannot import message type {canonical}: Python package {pkg!r} is not installed '
            f'({exc})') from exc
    try:
        cls = getattr(module, name)
    except AttributeError:
        raise MessageTypeError(
            f'cannot import message type {canonical}: {pkg}.{kind} has no {name!r}') from None
    if not hasattr(cls, '_TYPE_SUPPORT') and not hasattr(cls, '__import_type_support__'):
        raise MessageTypeError(f'{canonical} is not a ROS message class')
    return cls


def serialize(message: Any) -> bytes:
    """Serialize a ROS message to CDR bytes."""
    from rclpy.serialization import serialize_message
    return bytes(serialize_message(message))


def deserialize(cdr: bytes, type_name: str) -> Any:
    """Deserialize CDR bytes as ``type_name``; raise MessageTypeError when they do not decode."""
    from rclpy.serialization import deserialize_message
    cls = import_message_type(type_name)
    try:
        return deserialize_message(cdr, cls)
    except Exception as exc:  # the C layer raises plain exceptions for bad bytes
        raise MessageTypeError(
            f'cannot decode {len(cdr)} bytes as {type_name}: {exc}') from exc


class CdrCodec:
    """The CDR codec the bus's events use (``unity_kernel_core.bus.events.PayloadCodec``)."""

    def decode(self, cdr: bytes, type_name: str) -> Any:
        """Deserialize ``cdr`` as ``type_name`` (MessageTypeError when it does not decode)."""
        return deserialize(cdr, type_name)

    def encode(self, message: Any) -> bytes:
        """Serialize a ROS message to CDR bytes."""
        return serialize(message)


CDR = CdrCodec()
"""The one codec instance: pass it to ``EventBus(codec=...)``."""
