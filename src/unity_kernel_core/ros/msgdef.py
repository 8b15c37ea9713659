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
Full ``ros2msg`` message definitions (a type and all it depends on), as rosbag2 writes them.

The form is the one rosbag2 (``LocalMessageDefinitionSource``) and foxglove_bridge write, and
the one Foxglove's parser (``@foxglove/rosmsg``) resolves: the ``.msg`` file of the type
itself, then each type it depends on, once, depth first, in sorted order per file, as a
newline, a line of 80 ``=``, a line ``MSG: <name>`` and the ``.msg`` file's text. A
dependency is named as the field that uses it writes it (``std_msgs/Header``; a type of the
same package written bare, ``Point``, as ``geometry_msgs/Point``; the bare ``Header`` as
``std_msgs/Header``), so every field's type is found under a ``MSG:`` line of exactly that
name. The live view's ``ros2msg`` schemas, the MCAP export and the rosbag2 export use
:func:`full_definition`.

Pure text processing over the ``.msg`` files that message packages install into their share
directory.
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
MAX_DEPTH = 50
"""Nesting beyond this is refused (rosbag2's bound): a definition that includes itself."""

_FIELD_TYPE = re.compile(r'^([A-Za-z][A-Za-z0-9_/]*)')


def dependencies(text: str, package: str) -> List[str]:
    """
    Return the message types the fields of a ``.msg`` text use, named as written, sorted.

    ``package`` is the package of the file: a type written bare (``Point``) is in it, except
    ``Header``, which is ``std_msgs/Header``.
    """
    found: Set[str] = set()
    for raw in text.splitlines():
        line = raw.split('#', 1)[0].strip()
        tokens = line.split()
        if len(tokens) < 2:
            continue
        m = _FIELD_TYPE.match(tokens[0])
        if not m or m.group(1) in PRIMITIVES:
            continue  # a constant's type is a primitive, so it never names a dependency
        base = m.group(1)
        if base == 'Header':
            found.add('std_msgs/Header')
        elif '/' in base:
            found.add(base)
        else:
            found.add(f'{package}/{base}')
    return sorted(found)


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


def read_msg_file(type_name: str) -> str:
    """Return the text of a type's installed ``.msg`` file."""
    return share_msg_file(type_name).read_text(encoding='utf-8')


def full_definition(type_name: str,
                    read: Optional[Callable[[str], str]] = None) -> str:
    """Return the concatenated definition of ``type_name`` and every type it depends on."""
    reader = read or read_msg_file
    seen: Set[str] = set()

    def append(name: str, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise MessageTypeError(f'definition of {type_name} nests deeper than {MAX_DEPTH} '
                                   f'types (at {name})')
        text = reader(name)
        parts = [text]
        for dep in dependencies(text, message_types.normalize_type_name(name).split('/')[0]):
            if dep not in seen:
                seen.add(dep)
                parts.append(f'\n{SEPARATOR}\nMSG: {dep}\n')
                parts.append(append(dep, depth + 1))
        return ''.join(parts)

    message_types.normalize_type_name(type_name)  # a malformed name: MessageTypeError
    return append(type_name, 1)
