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
The bridge itself, without ROS: route a request, try its models in order, check the answer.

For each request the route's models are tried in order. A model is skipped when its circuit
breaker is open, its concurrency limit is reached or its budget for the minute would be
exceeded; a call that fails (connection refused, timeout, HTTP error, broken answer) or an
answer the route does not accept (too long, malformed JSON, undeclared action, invalid
arguments) moves on to the next model. When none succeeds the request fails: the
:class:`BridgeOutput` gets an error and the request goes to the dead-letter sink.

Requests run on a bounded pool of worker threads (``bridge.workers``, at most
``bridge.max_pending`` waiting); the caller never blocks on a model.
"""

import collections
import concurrent.futures
import dataclasses
import logging
import threading
import time
from typing import Any, Deque, Dict, List, Optional, Protocol, Set

from unity_llm_bridge import actions
from unity_llm_bridge.breaker import CircuitBreaker
from unity_llm_bridge.config import LlmBridgeConfig, ModelSettings, RouteSettings
from unity_llm_bridge.dead_letter import DeadLetterSink, LogDeadLetters
from unity_llm_bridge.errors import AllModelsFailed, BridgeBusy, NoRoute, OutputRejected
from unity_llm_bridge.errors import ProviderError
from unity_llm_bridge.limits import Budget, ConcurrencyLimit
from unity_llm_bridge.memory import history, InMemoryStore, MemoryStore
from unity_llm_bridge.providers import Provider
from unity_llm_bridge.routing import LlmRequest, messages_tokens, render_messages, Router

_LOG = logging.getLogger('unity_kernel.llm_bridge')
LATENCY_SAMPLES = 256


@dataclasses.dataclass
class Outcome:
    """What became of one request."""

    request: LlmRequest
    route: str = ''
    ok: bool = False
    model: str = ''
    text: str = ''
    action: Optional[actions.Action] = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: List[str] = dataclasses.field(default_factory=list)
    reason: str = ''
    """On failure: ``all_models_failed``, ``no_route``, ``busy``, ``invalid_request``."""
    error: str = ''
    latency_s: float = 0.0

    def to_json(self) -> Dict[str, Any]:
        """Return the JSON form published on the response (or error) topic."""
        out: Dict[str, Any] = {'id': self.request.request_id, 'route': self.route, 'final': True,
                               'ok': self.ok}
        if self.ok:
            out.update(model=self.model, text=self.text,
                       usage={'prompt_tokens': self.prompt_tokens,
                              'completion_tokens': self.completion_tokens},
                       latency_ms=round(self.latency_s * 1000, 3))
            if self.action is not None:
                out['action'] = {'name': self.action.name, 'topic': self.action.topic,
                                 'arguments': self.action.arguments}
        else:
            out.update(reason=self.reason, error=self.error, topic=self.request.topic)
        out['attempts'] = list(self.attempts)
        return out


class BridgeOutput(Protocol):
    """Where the bridge's results go (the ROS node publishes them)."""

    def chunk(self, request: LlmRequest, route: str, model: str, seq: int, delta: str) -> None:
        """Publish one streamed piece of an answer."""

    def final(self, outcome: Outcome) -> None:
        """Publish a successful answer."""

    def action(self, outcome: Outcome, action: actions.Action) -> None:
        """Publish a validated action on its declared topic."""

    def error(self, outcome: Outcome) -> None:
        """Publish a failed request."""


@dataclasses.dataclass
class ModelStats:
    """Counters of one model, for /diagnostics."""

    calls: int = 0
    ok: int = 0
    errors: Dict[str, int] = dataclasses.field(default_factory=dict)
    rejected: Dict[str, int] = dataclasses.field(default_factory=dict)
    skipped: Dict[str, int] = dataclasses.field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    last_error: str = ''
    latencies: Deque[float] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=LATENCY_SAMPLES))

    def count(self, table: Dict[str, int], key: str) -> None:
        """Increment ``table[key]``."""
        table[key] = table.get(key, 0) + 1


class ModelSlot:
    """A configured model with its provider, breaker, budget, concurrency limit and stats."""

    def __init__(self, name: str, settings: ModelSettings, provider: Provider) -> None:
        self.name = name
        self.settings = settings
        self.provider = provider
        self.breaker = CircuitBreaker(settings.breaker.failure_threshold,
                                      settings.breaker.cooldown_s)
        self.budget = Budget(settings.tokens_per_minute, settings.cost_per_minute,
                             settings.cost_per_1k_prompt_tokens,
                             settings.cost_per_1k_completion_tokens)
        self.concurrency = ConcurrencyLimit(settings.max_concurrency)
        self.stats = ModelStats()
        self.lock = threading.Lock()

    def snapshot(self) -> Dict[str, Any]:
        """Return the model's state and counters as plain values."""
        with self.lock:
            s = self.stats
            samples = sorted(s.latencies)
            used_tokens, used_cost = self.budget.used()
            return {
                'model': self.settings.model, 'api': self.settings.api,
                'base_url': self.settings.base_url, 'breaker': self.breaker.state.value,
                'calls': s.calls, 'ok': s.ok, 'errors': sum(s.errors.values()),
                'errors_by_kind': dict(s.errors), 'rejected': dict(s.rejected),
                'skipped': dict(s.skipped), 'in_flight': self.concurrency.in_flight,
                'prompt_tokens': s.prompt_tokens, 'completion_tokens': s.completion_tokens,
                'cost': round(s.cost, 6), 'tokens_last_minute': used_tokens,
                'cost_last_minute': round(used_cost, 6),
                'latency_p50_ms': _percentile(samples, 0.5) * 1000,
                'latency_p99_ms': _percentile(samples, 0.99) * 1000,
                'last_error': s.last_error,
            }


def _percentile(samples: List[float], q: float) -> float:
    if not samples:
        return 0.0
    return samples[min(len(samples) - 1, int(q * len(samples)))]


class Bridge:
    """Routes requests to models with failover; thread-safe; owns its worker pool."""

    def __init__(self, config: LlmBridgeConfig, providers: Dict[str, Provider],
                 output: BridgeOutput, persistent_memory: Optional[MemoryStore] = None,
                 dead_letters: Optional[DeadLetterSink] = None) -> None:
        """
        Wire the parts; nothing starts before :meth:`start`.

        ``persistent_memory`` (Redis) keeps the memory of routes with ``memory.persist``;
        the other routes (and all of them without it) keep theirs in this process.
        """
        self.config = config
        self.router = Router(config)
        self.models = {name: ModelSlot(name, config.models[name], provider)
                       for name, provider in providers.items()}
        self.output = output
        self.memory: MemoryStore = InMemoryStore()
        self.persistent_memory = persistent_memory
        self.dead_letters = dead_letters or LogDeadLetters()
        self._pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._queued = 0
        self._futures: Set['concurrent.futures.Future[Outcome]'] = set()
        self._lock = threading.Lock()
        self.counters = {'requests': 0, 'ok': 0, 'failed': 0, 'busy': 0, 'actions': 0}

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Connect every provider and start the workers (SecretError: an API key unreadable)."""
        for slot in self.models.values():
            slot.provider.connect()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.config.bridge.workers, thread_name_prefix='llm_bridge')

    def stop(self, drain_s: float = 5.0) -> None:
        """
        Stop taking requests and close everything.

        Queued requests are cancelled; running ones get ``drain_s`` seconds to finish, then
        the backends are closed under them (they fail as ``closed``).
        """
        with self._lock:
            pool, self._pool = self._pool, None
            running = set(self._futures)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
            concurrent.futures.wait(running, timeout=drain_s)
        for slot in self.models.values():
            slot.provider.close()
        if pool is not None:
            pool.shutdown(wait=True)
        self.memory.close()
        if self.persistent_memory is not None:
            self.persistent_memory.close()
        self.dead_letters.close()

    # -- requests --------------------------------------------------------------------------

    def submit(self, request: LlmRequest,
               publish: bool = True) -> 'concurrent.futures.Future[Outcome]':
        """
        Queue ``request`` for a worker and return a future of its outcome.

        When ``max_pending`` requests already wait, the request fails at once (``busy``).
        With ``publish`` False the answer only goes to the future (actions and errors are
        still published).
        """
        limit = self.config.bridge.max_pending + self.config.bridge.workers
        with self._lock:
            pool = self._pool
            refused = pool is None or self._queued >= limit
            if not refused:
                self._queued += 1
        if refused or pool is None:
            outcome = Outcome(request, reason='busy',
                              error=str(BridgeBusy(f'{self._queued} requests pending (limit '
                                                   f'{limit})' if pool else 'bridge stopped')))
            self._fail(outcome)
            done: 'concurrent.futures.Future[Outcome]' = concurrent.futures.Future()
            done.set_result(outcome)
            return done
        try:
            future = pool.submit(self._run, request, publish)
        except RuntimeError:  # the pool was shut down between the check and here
            with self._lock:
                self._queued -= 1
            outcome = Outcome(request, reason='busy', error='bridge stopped')
            self._fail(outcome)
            done = concurrent.futures.Future()
            done.set_result(outcome)
            return done
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: 'concurrent.futures.Future[Outcome]') -> None:
        with self._lock:
            self._futures.discard(future)
            if future.cancelled():
                self._queued -= 1

    def reject(self, request: LlmRequest, reason: str, error: str) -> Outcome:
        """Fail a request that cannot be handled at all (e.g. invalid JSON); publish it."""
        outcome = Outcome(request, reason=reason, error=error)
        self._fail(outcome)
        return outcome

    def _run(self, request: LlmRequest, publish: bool) -> Outcome:
        try:
            return self.handle(request, publish)
        finally:
            with self._lock:
                self._queued -= 1

    def handle(self, request: LlmRequest, publish: bool = True) -> Outcome:
        """Answer ``request`` on the calling thread (workers call this)."""
        started = time.monotonic()
        with self._lock:
            self.counters['requests'] += 1
        try:
            route = self.router.route_for(request)
        except NoRoute as exc:
            return self._fail(Outcome(request, reason='no_route', error=str(exc)))
        outcome = Outcome(request, route=route.name)
        past = self._history(route)
        messages = render_messages(route, request, past)
        stream = route.stream if request.stream is None else request.stream
        for name in route.models:
            answer = self._try_model(self.models[name], route, request, messages, stream,
                                     outcome)
            if answer is None:
                continue
            outcome.ok = True
            outcome.model = name
            outcome.text = answer.text
            outcome.action = answer.action
            outcome.latency_s = time.monotonic() - started
            self._remember(route, messages[-1], answer.text)
            with self._lock:
                self.counters['ok'] += 1
            if answer.action is not None:
                with self._lock:
                    self.counters['actions'] += 1
                self.output.action(outcome, answer.action)
            if publish:
                self.output.final(outcome)
            return outcome
        outcome.reason = 'all_models_failed'
        outcome.error = str(AllModelsFailed(route.name, outcome.attempts))
        outcome.latency_s = time.monotonic() - started
        return self._fail(outcome)

    def _try_model(self, slot: ModelSlot, route: RouteSettings, request: LlmRequest,
                   messages: List[Dict[str, str]], stream: bool,
                   outcome: Outcome) -> Optional[actions.Answer]:
        """Call one model; return the accepted answer, or None (reason in outcome.attempts)."""
        name = slot.name
        if not slot.breaker.allow():
            self._skip(slot, outcome, 'circuit_open', f'circuit open (retry in '
                       f'{slot.breaker.remaining_cooldown_s():.1f}s)')
            return None
        if not slot.concurrency.try_acquire():
            slot.breaker.release()
            self._skip(slot, outcome, 'busy', f'{slot.settings.max_concurrency} calls in flight')
            return None
        reservation = slot.budget.reserve(messages_tokens(messages), slot.settings.max_tokens)
        if reservation is None:
            slot.concurrency.release()
            slot.breaker.release()
            self._skip(slot, outcome, 'over_budget', 'over its budget for this minute')
            return None
        seq = [0]

        def on_delta(delta: str) -> None:
            seq[0] += 1
            self.output.chunk(request, route.name, name, seq[0], delta)

        prompt_tokens = completion_tokens = 0
        try:
            with slot.lock:
                slot.stats.calls += 1
            completion = slot.provider.chat(
                messages, json_mode=route.output == 'action',
                on_delta=on_delta if stream else None, max_chars=route.max_answer_chars)
            prompt_tokens, completion_tokens = (completion.prompt_tokens,
                                                completion.completion_tokens)
            answer = actions.accept(route, completion.text)
        except ProviderError as exc:
            slot.breaker.record_failure()
            with slot.lock:
                slot.stats.count(slot.stats.errors, exc.kind)
                slot.stats.last_error = str(exc)
            outcome.attempts.append(f'{name}: {exc.kind}: {_tail(str(exc))}')
            _LOG.warning(f'request {request.request_id} route {route.name}: {exc}')
            return None
        except OutputRejected as exc:
            slot.breaker.record_success()  # the server works; the answer is what is wrong
            with slot.lock:
                slot.stats.count(slot.stats.rejected, exc.reason)
                slot.stats.last_error = str(exc)
            outcome.attempts.append(f'{name}: rejected: {exc}')
            _LOG.warning(f'request {request.request_id} route {route.name}: answer of model '
                         f'{name!r} rejected: {exc}')
            return None
        except Exception as exc:  # a bug behind the provider or checker: this model failed
            slot.breaker.record_failure()  # (the breaker's trial is given back, not held)
            with slot.lock:
                slot.stats.count(slot.stats.errors, 'internal')
                slot.stats.last_error = f'{type(exc).__name__}: {exc}'
            outcome.attempts.append(f'{name}: internal: {type(exc).__name__}: '
                                    f'{_tail(str(exc))}')
            _LOG.error(f'request {request.request_id} route {route.name}: model {name!r} '
                       f'failed unexpectedly', exc_info=True)
            return None
        finally:
            slot.concurrency.release()
            slot.budget.settle(reservation, prompt_tokens, completion_tokens)
        slot.breaker.record_success()
        outcome.prompt_tokens, outcome.completion_tokens = prompt_tokens, completion_tokens
        with slot.lock:
            s = slot.stats
            s.ok += 1
            s.prompt_tokens += prompt_tokens
            s.completion_tokens += completion_tokens
            s.cost += slot.budget.cost(prompt_tokens, completion_tokens)
            s.latencies.append(completion.latency_s)
        return answer

    def _skip(self, slot: ModelSlot, outcome: Outcome, key: str, why: str) -> None:
        with slot.lock:
            slot.stats.count(slot.stats.skipped, key)
        outcome.attempts.append(f'{slot.name}: skipped: {why}')

    def _fail(self, outcome: Outcome) -> Outcome:
        with self._lock:
            self.counters['busy' if outcome.reason == 'busy' else 'failed'] += 1
        rid = outcome.request.request_id
        _LOG.error(f'request {rid} failed ({outcome.reason}): {outcome.error}')
        self.output.error(outcome)
        try:
            self.dead_letters.put(outcome.request.to_json(), outcome.reason, outcome.error,
                                  outcome.route, len(outcome.attempts))
        except Exception as exc:  # redis down: the error topic has it; say so loudly
            _LOG.error(f'request {rid}: could not write the dead letter: {exc}')
        return outcome

    # -- memory ----------------------------------------------------------------------------

    def _store(self, route: RouteSettings) -> MemoryStore:
        if route.memory.persist and self.persistent_memory is not None:
            return self.persistent_memory
        return self.memory

    def _history(self, route: RouteSettings) -> List[Dict[str, str]]:
        m = route.memory
        if not m.max_events:
            return []
        try:
            return history(self._store(route), route.name, m.max_events, m.max_tokens)
        except Exception as exc:  # memory store down: answer without context, and say so
            _LOG.error(f'route {route.name}: conversation memory unavailable: {exc}')
            return []

    def _remember(self, route: RouteSettings, user: Dict[str, str], answer: str) -> None:
        if not route.memory.max_events:
            return
        try:
            exchange = [user, {'role': 'assistant', 'content': answer}]
            self._store(route).append(route.name, exchange, route.memory.max_events)
        except Exception as exc:  # memory store down: the answer still goes out
            _LOG.error(f'route {route.name}: could not store conversation memory: {exc}')

    # -- observability ---------------------------------------------------------------------

    def snapshot(self) -> Dict[str, Dict[str, Any]]:
        """Return every model's state and counters."""
        return {name: slot.snapshot() for name, slot in self.models.items()}


def _tail(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + '...'
