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
Parameters that mean what they say: each says when it applies, and ``describe`` tells the truth.

Every parameter of the package's nodes is declared from a :class:`ParamSpec` saying when the
node uses it:

- ``LIVE``: applies at once; a new value is checked (``check`` returns why it is refused)
  and the node applies it after it is set;
- ``CONFIGURE``: read at the configure transition; refused while the node is configured
  (inactive or active), with the reason and how to change it (deactivate, cleanup, set,
  configure);
- ``START``: given when the node starts (``--ros-args -p``, a launch file, a module
  manifest); declared ``read_only``, so the parameter service refuses every change.

Values given at start are checked at configure (:func:`start_issues`), so a bad value on the
command line fails the transition with the reason instead of a traceback in the constructor.
"""

import dataclasses
import enum
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult

from unity_kernel_core.errors import UnityKernelError

CONFIGURED = ('inactive', 'active')


class ParameterStartError(UnityKernelError):
    """A value given at start (``--ros-args -p``, a launch file) the node cannot take."""


class Applies(enum.Enum):
    """When a node uses a parameter's value."""

    LIVE = 'live'
    CONFIGURE = 'configure'
    START = 'start'


_WHEN = {
    Applies.LIVE: 'Applies at once.',
    Applies.CONFIGURE: 'Read at configure: while configured, deactivate and cleanup the node, '
                       'set it, configure again.',
    Applies.START: 'Read-only: give it at start (--ros-args -p NAME:=VALUE, a launch file, '
                   "the module's manifest or the kernel config's modules.overrides).",
}


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """One parameter: its default, what it means, when it applies and what it accepts."""

    name: str
    default: Any
    description: str
    applies: Applies = Applies.CONFIGURE
    check: Optional[Callable[[Any], Optional[str]]] = None
    """Return why a value is refused, or None to accept it."""
    constraints: str = ''
    dynamic_typing: bool = False

    def descriptor(self) -> ParameterDescriptor:
        """Return the descriptor ``ros2 param describe`` shows."""
        return ParameterDescriptor(
            name=self.name, description=f'{self.description} {_WHEN[self.applies]}',
            read_only=self.applies is Applies.START, additional_constraints=self.constraints,
            dynamic_typing=self.dynamic_typing)

    def refusal(self, value: Any, state_label: str) -> Optional[str]:
        """Return why setting ``value`` now is refused, or None to accept it."""
        if self.applies is Applies.CONFIGURE and state_label in CONFIGURED:
            return (f'is read at configure; the node is {state_label}: deactivate and cleanup '
                    'it, set the parameter, configure again')
        if self.check is not None:
            return self.check(value)
        return None


def in_range(low: float, high: float, *, zero: str = '', low_open: bool = True,
             unit: str = '') -> Callable[[Any], Optional[str]]:
    """Return a check accepting ``low < v <= high`` (``low <= v`` unless ``low_open``) or 0."""
    def check(value: Any) -> Optional[str]:
        v = float(value)
        if zero and v == 0:
            return None
        if (low < v if low_open else low <= v) and v <= high:
            return None
        span = f'{"(" if low_open else "["}{low:g}, {high:g}]{unit}'
        return f'must be in {span}' + (f' or 0 ({zero})' if zero else '') + f', got {value}'
    return check


def one_of(*choices: str) -> Callable[[Any], Optional[str]]:
    """Return a check accepting one of ``choices`` (case-insensitive)."""
    def check(value: Any) -> Optional[str]:
        if str(value).lower() in choices:
            return None
        return f'must be one of {", ".join(choices)}, got {value!r}'
    return check


class ParameterTable:
    """The specs of one node: declare them, gate changes, check start values."""

    def __init__(self, specs: Sequence[ParamSpec] = ()) -> None:
        self.specs: Dict[str, ParamSpec] = {}
        self.add(specs)

    def add(self, specs: Sequence[ParamSpec]) -> None:
        """Add specs (a subclass adds its own to its base's)."""
        for spec in specs:
            self.specs[spec.name] = spec

    def declare(self, node: Any, specs: Sequence[ParamSpec]) -> None:
        """
        Add ``specs`` and declare them on ``node`` (start values from the command line).

        A start value of another type than the default's (``autostart:=maybe``) is a
        :class:`ParameterStartError` naming it, instead of rclpy's exception.
        """
        from rclpy.exceptions import InvalidParameterTypeException
        from rclpy.exceptions import InvalidParameterValueException
        self.add(specs)
        for spec in specs:
            try:
                node.declare_parameter(spec.name, spec.default, spec.descriptor())
            except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
                why = str(exc.args[0] if exc.args else exc).replace('Trying to set', 'cannot set')
                why = why.removesuffix(f': {spec.name}')
                raise ParameterStartError(f'{why} (as its default {spec.default!r})') from None

    def gate(self, params: Sequence[Any], state_label: str,
             declared: Callable[[str], bool]) -> SetParametersResult:
        """Return the answer to a set-parameters request (first refusal wins)."""
        for param in params:
            spec = self.specs.get(param.name)
            if spec is None or not declared(param.name):
                continue  # being declared: start values are checked at configure
            try:
                reason = spec.refusal(param.value, state_label)
            except (TypeError, ValueError, OverflowError) as exc:  # what its check cannot read
                reason = f'{param.value!r} is not a value it takes ({exc})'
            if reason:
                return SetParametersResult(successful=False, reason=f'{param.name}: {reason}')
        return SetParametersResult(successful=True)

    def live(self, params: Sequence[Any]) -> List[Any]:
        """Return those of ``params`` that apply at once."""
        return [p for p in params
                if p.name in self.specs and self.specs[p.name].applies is Applies.LIVE]

    def start_issues(self, values: Mapping[str, Any]) -> List[str]:
        """Return what is wrong with the current values (checked at configure)."""
        issues = []
        for name, spec in self.specs.items():
            if spec.check is not None and name in values:
                reason = spec.check(values[name])
                if reason:
                    issues.append(f'{name} {reason}')
        return issues
