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
The authoring API of in-process modules.

An in-process module is a class deriving from :class:`Module`, named by the ``entry`` of its
manifest. The kernel creates it with a :class:`ModuleContext` and calls its hooks through
the module lifecycle; decorated methods are attached to the bus while the module is active::

    from unity_kernel_core.supervision.module_api import Module, on_event, periodic

    class Monitor(Module):
        def on_configure(self) -> None:
            self.timeout_s = float(self.context.parameters.get('timeout_s', 3.0))

        @on_event('/examples/heartbeat', tier='NORMAL')
        def on_heartbeat(self, event) -> None:
            self.context.logger.info(f'beat {event.message.data}')

        @periodic(1.0)
        def check(self) -> None:
            ...

Handlers run on the bus worker of the event's tier; a handler that raises is retried by the
bus and then dead-lettered; the module's error rate is reported on ``/diagnostics``.
"""

import logging
import pathlib
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, TypeVar

from unity_kernel_core.bus.events import Event, Tier

F = TypeVar('F', bound=Callable[..., Any])

_EVENT_ATTR = '_unity_on_event'
_PERIODIC_ATTR = '_unity_periodic'


def on_event(pattern: str, *, tier: 'Optional[str | Tier | Iterable[str | Tier]]' = None
             ) -> Callable[[F], F]:
    """Call the decorated method with every bus event whose topic matches ``pattern``."""
    if tier is None:
        tiers: Optional[Tuple[Tier, ...]] = None
    elif isinstance(tier, (str, Tier)):
        tiers = (Tier.parse(tier),)
    else:
        tiers = tuple(Tier.parse(t) for t in tier)

    def mark(func: F) -> F:
        setattr(func, _EVENT_ATTR, getattr(func, _EVENT_ATTR, ()) + ((pattern, tiers),))
        return func
    return mark


def periodic(seconds: float) -> Callable[[F], F]:
    """Call the decorated method every ``seconds`` while the module is active."""
    if not seconds > 0:
        raise ValueError(f'periodic period must be > 0 seconds, got {seconds!r}')

    def mark(func: F) -> F:
        setattr(func, _PERIODIC_ATTR, float(seconds))
        return func
    return mark


class ModuleContext:
    """What the kernel gives an in-process module."""

    def __init__(self, name: str, parameters: Dict[str, Any], state_dir: pathlib.Path,
                 publish: Callable[..., Optional[Event]]) -> None:
        self.name = name
        self.parameters = dict(parameters)
        self.state_dir = state_dir
        self.logger = logging.getLogger(f'unity_kernel.modules.{name}')
        self._publish = publish

    def publish(self, topic: str, type_name: str, message: Any, *,
                tier: 'Optional[str | Tier]' = None) -> Optional[Event]:
        """Publish a ROS message onto the kernel's bus (tier from the topic rules by default)."""
        return self._publish(topic, type_name, message, tier=tier, source=f'module:{self.name}')


class Module:
    """Base class of in-process modules; override the hooks you need."""

    def __init__(self, context: ModuleContext) -> None:
        self.context = context

    def on_configure(self) -> None:
        """Read parameters, allocate what the module needs (no bus traffic yet)."""

    def on_activate(self) -> None:
        """Start working; event handlers and periodic methods are attached after this."""

    def on_deactivate(self) -> None:
        """Stop working; handlers and periodic methods are already detached."""

    def on_cleanup(self) -> None:
        """Release what on_configure allocated."""

    def health(self) -> Optional[str]:
        """Return a problem description when the module is unhealthy, else None."""
        return None


def event_handlers(module: Module) -> List[Tuple[str, Optional[Tuple[Tier, ...]], str,
                                                 Callable[[Event], Any]]]:
    """Return (pattern, tiers, method name, bound method) for each ``@on_event`` method."""
    out = []
    for name in sorted(dir(type(module))):
        func = getattr(type(module), name, None)
        for pattern, tiers in getattr(func, _EVENT_ATTR, ()):
            out.append((pattern, tiers, name, getattr(module, name)))
    return out


def periodic_methods(module: Module) -> List[Tuple[float, str, Callable[[], Any]]]:
    """Return (period, method name, bound method) for each ``@periodic`` method."""
    out = []
    for name in sorted(dir(type(module))):
        func = getattr(type(module), name, None)
        period = getattr(func, _PERIODIC_ATTR, None)
        if period is not None:
            out.append((period, name, getattr(module, name)))
    return out
