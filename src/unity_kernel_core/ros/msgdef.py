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
Full ``ros2msg`` message definitions (a type and all it depends on), as MCAP and rosbag2 store.

Pure text processing over the ``.msg`` files that message packages install into their share
directory: the definition of the type itself, then for each nested type, once, a separator
line of 80 ``=``, ``MSG: pkg/msg/Name`` and its text.
"""

import pathlib
import re
from typing import Callable, List, Optional, Set

from unity_kernel_core.errors import MessageTypeError
from unity_kernel_core.ros import message_types

PRIMITIVES = frozenset((
    'bool', 'byte', 'char', 'float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32',
    'uint32', 'int64', 'uint64', 'string', 'wstring', 'time', 'duration'))
SEPARATOR = '=' * 80

_FIELD_TYPE = re.compile(r'^([A-Za-z][A-Za-z0-9_/]*)')


def nested_types(text: str, package: str) -> List[str]:
    """Return the ``pkg/msg/Name`` types used by the fields of a ``.msg`` text, in order."""
    found: List[str] = []
    for raw in text.splitlines():
        line = raw.split('#', 1)[0].strip()
        if not line:
            continue
        tokens = line.split()
        if len(tokens) < 2:
            continue  # constants are primitives, so only field types matter here
        m = _FIELD_TYPE.match(tokens[0])
        if not m:
            continue
        base = m.group(1)
        if base in PRIMITIVES:
            continue
        if base == 'Header':
            name = 'std_msgs/msg/Header'
        elif '/' in base:
            name = message_types.normalize_type_name(base)
        else:
            name = f'{package}/msg/{base}'
        if name not in found:
            found.append(name)
    return found


def share_msg_file(type_name: str) -> pathlib.Path:
    """Return the installed ``.msg`` file of a type (from the ament index)."""
    from ament_index_python.packages import get_package_share_directory
    pkg, kind, name = message_types.normalize_type_name(type_name).split('/')
    try:
        share = pathlib.Path(get_package_share_directory(pkg))
    except (LookupError, ValueError, OSError) as exc:
        raise MessageTypeError(f'no definition for {type_name}: package {pkg!r} is not in '
                               f'the ament index ({exc}); set AMENT_PREFIX_PATH') from None
    path = share / kind / f'{name}.msg'
    if not path.is_file():
        raise MessageTypeError(f'no definition for {type_name}: {path} does not exist')
    return path


def full_definition(type_name: str,
                    read: Optional[Callable[[str], str]] = None) -> str:
    """Return the concatenated definition of ``type_name`` and its nested types."""
    reader = read or (lambda t: share_msg_file(t).read_text(encoding='utf-8'))
    root = message_types.normalize_type_name(type_name)
    parts = [reader(root).rstrip('\n')]
    seen: Set[str] = {root}
    todo = nested_types(parts[0], root.split('/')[0])
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        text = reader(name).rstrip('\n')
        parts.append(f'{SEPARATOR}\nMSG: {name}\n{text}')
        todo.extend(nested_types(text, name.split('/')[0]))
    return '\n'.join(parts) + '\n'
