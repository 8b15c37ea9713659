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

"""Exception types of the LLM bridge (all are UnityKernelError subclasses)."""

from typing import Optional, Sequence

from unity_kernel_core.errors import ConfigError, UnityKernelError


class BridgeConfigError(ConfigError):
    """The bridge configuration could not be read or did not validate (file:line issues)."""

    what = 'LLM bridge configuration'


class LlmError(UnityKernelError):
    """Base class of the bridge's runtime errors."""


class ProviderError(LlmError):
    """
    One model call failed.

    ``kind`` says how: ``connect`` (refused, unreachable), ``timeout`` (connect, read or the
    whole-request deadline), ``http`` (non-2xx status), ``protocol`` (an answer that is not
    the API's format), ``closed`` (the provider was closed).
    """

    def __init__(self, model: str, kind: str, message: str,
                 status: Optional[int] = None) -> None:
        super().__init__(f'model {model!r}: {kind}: {message}')
        self.model = model
        self.kind = kind
        self.status = status


class OutputRejected(LlmError):
    """
    A model answered, but the answer is not acceptable for its route.

    ``reason``: ``oversized``, ``malformed_json``, ``undeclared_action``, ``invalid_arguments``,
    ``not_an_action``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f'{reason}: {message}')
        self.reason = reason


class AllModelsFailed(LlmError):
    """No model of the route produced an acceptable answer."""

    def __init__(self, route: str, attempts: Sequence[str]) -> None:
        joined = '; '.join(attempts) if attempts else 'no model configured'
        super().__init__(f'route {route!r}: all models failed: {joined}')
        self.route = route
        self.attempts = list(attempts)


class NoRoute(LlmError):
    """No route matches a request's topic (or names it)."""


class BridgeBusy(LlmError):
    """The bridge's bounded request queue is full."""
