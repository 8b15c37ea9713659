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
Native: the kernel's data path in C, built by the package's own build (``csrc/``).

Owns: ``_core`` (no ROS: the producer of sequence numbers, entry IDs and writer-ring
records under one mutex; the per-tier hand-off queues to the interpreter; the writer
process's RESP packer) and ``_rcl`` (the DDS subscriptions on native threads, one per
tier, against rcl). Both are optional: :func:`core` and :func:`rcl` return the module or
None, and :func:`why_not` says why one is missing (not built on a machine without a
compiler, or the ROS headers); the kernel then runs its pure-Python path.

An edge like ``ros``: imports nothing of the package but ``errors``; ``intake``, ``audit``
and the kernel use it.
"""

import importlib
from types import ModuleType
from typing import Dict, Optional

_loaded: Dict[str, Optional[ModuleType]] = {}
_why: Dict[str, str] = {}


def _load(name: str) -> Optional[ModuleType]:
    if name not in _loaded:
        try:
            _loaded[name] = importlib.import_module(f'{__name__}.{name}')
        except ImportError as exc:
            _loaded[name] = None
            _why[name] = (f'{__name__}.{name} is not built ({exc}); `pip install -e .` or '
                          '`make run` builds it (gcc and the Python headers)')
    return _loaded[name]


def core() -> Optional[ModuleType]:
    """Return the ``_core`` extension (producer, hand-off, packer), or None when not built."""
    return _load('_core')


def rcl() -> Optional[ModuleType]:
    """Return the ``_rcl`` extension (the native intake), or None when not built."""
    if core() is None:
        return None
    import rclpy  # noqa: F401  (loads librcl & co. first: _rcl links against them)
    return _load('_rcl')


def is_producer(obj: object) -> bool:
    """Tell whether ``obj`` is a native producer (``_core.Producer``)."""
    mod = core()
    return mod is not None and isinstance(obj, mod.Producer)


def why_not(name: str = '_rcl') -> str:
    """Return why an extension is missing ('' when it loaded)."""
    if name == '_rcl' and core() is None:
        return _why.get('_core', '')
    return _why.get(name, '')
