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

"""Turn a ROS message into plain JSON-able fields for a prompt (bounded in size)."""

import array
from typing import Any

MAX_ITEMS = 64
"""Sequences longer than this are cut (an image's pixels do not belong in a prompt)."""
MAX_DEPTH = 8


def message_fields(message: Any, max_items: int = MAX_ITEMS, depth: int = 0) -> Any:
    """Return the fields of a ROS message (or any value inside one) as JSON-able values."""
    if depth > MAX_DEPTH:
        return '...'
    if hasattr(message, 'get_fields_and_field_types'):
        return {name: message_fields(getattr(message, name), max_items, depth + 1)
                for name in message.get_fields_and_field_types()}
    if isinstance(message, (bytes, bytearray)):
        return f'<{len(message)} bytes>'
    if isinstance(message, (list, tuple, array.array)) or type(message).__name__ == 'ndarray':
        items = list(message[:max_items])
        out = [message_fields(v, max_items, depth + 1) for v in items]
        if len(message) > max_items:
            out.append(f'... {len(message) - max_items} more')
        return out
    if isinstance(message, (bool, int, float, str)) or message is None:
        return message
    if hasattr(message, 'item'):  # numpy scalars
        return message.item()
    return str(message)
