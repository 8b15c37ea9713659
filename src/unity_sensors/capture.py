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
Capture plumbing shared by the sensor nodes, plain Python (no ROS).

- :class:`SampleQueue`: a bounded drop-oldest queue between capture and publishing.
- :class:`Counters`: thread-safe captured/published/dropped/late/error counts for diagnostics.
- :class:`Pacer`: paces a loop at a rate that can change while it runs; counts late ticks.
- :class:`CaptureWorker`: a capture thread (``read`` the device, reopen it with back-off
  when it is lost: :mod:`unity_kernel_core.common.backoff`) feeding a publish thread
  (``handle`` each sample) through a ``SampleQueue``.
"""

import collections
import dataclasses
import logging
import threading
import time
from typing import Any, Callable, Deque, Dict, Generic, Optional, TypeVar

from unity_kernel_core.common.backoff import Backoff, BackoffCounter, ExponentialBackoff
from unity_sensors.errors import DeviceLostError, SensorError

T = TypeVar('T')
_LOG = logging.getLogger('unity_kernel.sensors.capture')

REOPEN_BACKOFF = ExponentialBackoff(0.1, 5.0)
"""A lost device is reopened after 0.1 s, then twice as long each time, at most 5 s."""


class SampleQueue(Generic[T]):
    """A bounded FIFO: when full, ``put`` drops the oldest item (and counts it)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f'queue capacity must be >= 1, got {capacity}')
        self._items: Deque[T] = collections.deque()
        self._capacity = capacity
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Append ``item``; return False when the oldest item was dropped to make room."""
        with self._cond:
            dropped = len(self._items) >= self._capacity
            if dropped:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()
            return not dropped

    def get(self, timeout: float) -> Optional[T]:
        """Return the oldest item, or None when nothing arrived within ``timeout`` seconds."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def clear(self) -> int:
        """Drop everything queued; return how many items were dropped."""
        with self._cond:
            n = len(self._items)
            self._items.clear()
            return n

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


@dataclasses.dataclass
class Counters:
    """What a sensor has done since it was activated (read with :meth:`snapshot`)."""

    captured: int = 0
    published: int = 0
    dropped: int = 0
    late: int = 0
    errors: int = 0
    reopens: int = 0
    last_sample: Optional[float] = None
    """``time.monotonic()`` of the last captured sample."""
    last_error: str = ''
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False,
                                             compare=False)

    def add(self, **deltas: int) -> None:
        """Increase the named counters by the given amounts (``captured=1``, ``late=2``)."""
        with self.lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)
            if deltas.get('captured'):
                self.last_sample = time.monotonic()

    def error(self, exc: BaseException) -> None:
        """Count an error and remember its message."""
        with self.lock:
            self.errors += 1
            self.last_error = str(exc)

    def snapshot(self) -> Dict[str, Any]:
        """Return the counters as a plain dict (consistent at one instant)."""
        with self.lock:
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                    if f.name != 'lock'}

    def reset(self) -> None:
        """Zero everything."""
        with self.lock:
            for f in dataclasses.fields(self):
                if f.name != 'lock':
                    setattr(self, f.name, f.default)


class Pacer:
    """
    Pace a loop at ``rate_hz`` on a fixed schedule (no drift); the rate may change any time.

    :meth:`wait` sleeps until the next tick. A tick that comes later than one whole period
    is *late*: the schedule restarts from now (no burst to catch up) and the number of
    periods missed is returned, so a caller can count late/dropped frames.
    """

    def __init__(self, rate_hz: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Optional[Callable[[float], Any]] = None) -> None:
        self._clock = clock
        self._sleep = sleep or time.sleep
        self._next: Optional[float] = None  # time of the last tick
        self.period_s = 0.0
        self.set_rate(rate_hz)

    def set_rate(self, rate_hz: float) -> None:
        """Change the rate; the next tick is one new period after the previous one."""
        if not rate_hz > 0:
            raise ValueError(f'rate must be > 0 Hz, got {rate_hz!r}')
        self.period_s = 1.0 / rate_hz

    def wait(self) -> int:
        """Sleep until the next tick; return how many ticks were missed (0 when on time)."""
        now = self._clock()
        if self._next is None:
            self._next = now
            return 0
        target = self._next + self.period_s
        if now < target:
            self._sleep(target - now)
            self._next = target
            return 0
        missed = int((now - target) // self.period_s)
        self._next = now if missed else target
        return missed


class CaptureWorker(Generic[T]):
    """
    Run a sensor's capture loop and publish loop in two threads joined by a bounded queue.

    The capture thread calls ``read()`` (which may block briefly, and returns a sample or
    None for "nothing yet"). :class:`DeviceLostError` from ``read`` (or a
    :class:`SensorError` from ``reopen``) closes the device and reopens it with
    :class:`~unity_kernel_core.common.backoff.Backoff` (``backoff``, default
    :data:`REOPEN_BACKOFF`) until it is back or the worker is stopped; while it is away
    ``reconnecting`` is True. Any other exception is a fault: it is passed to ``on_fault``
    (once) and the worker stops capturing. The publish thread hands every sample to
    ``handle``; an exception there is a fault too. Samples arriving faster than ``handle``
    consumes them replace the oldest queued ones, counted in ``counters.dropped``.

    A source that pushes samples itself (an audio callback) passes ``read=None`` and calls
    :meth:`put`.
    """

    def __init__(self, name: str, handle: Callable[[T], None], *,
                 read: Optional[Callable[[], Optional[T]]] = None,
                 reopen: Optional[Callable[[], None]] = None,
                 close: Optional[Callable[[], None]] = None,
                 on_fault: Optional[Callable[[BaseException], None]] = None,
                 counters: Optional[Counters] = None, queue_size: int = 2,
                 backoff: Optional[Backoff] = None) -> None:
        self.name = name
        self.counters = counters or Counters()
        self.queue: SampleQueue[T] = SampleQueue(queue_size)
        self.reopen_delays = BackoffCounter(backoff or REOPEN_BACKOFF)
        self.reconnecting = False
        self._handle = handle
        self._read = read
        self._reopen = reopen
        self._close = close
        self._on_fault = on_fault
        self._stop = threading.Event()
        self._faulted = False
        self._threads: list = []

    # -- control ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the threads (the device is already open)."""
        self._stop.clear()
        self._faulted = False
        targets = [('publish', self._publish_loop)]
        if self._read is not None:
            targets.insert(0, ('capture', self._capture_loop))
        self._threads = [threading.Thread(target=fn, name=f'{self.name}-{what}', daemon=True)
                         for what, fn in targets]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop both threads; return False when one did not end within ``timeout``."""
        self._stop.set()
        ok = True
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
                ok = ok and not thread.is_alive()
        self._threads = []
        self.queue.clear()
        return ok

    @property
    def running(self) -> bool:
        """Return True while the threads run."""
        return any(t.is_alive() for t in self._threads)

    def sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; return False when the worker is stopping (use in ``read``)."""
        return not self._stop.wait(seconds)

    @property
    def stopping(self) -> bool:
        """Return True once :meth:`stop` was called."""
        return self._stop.is_set()

    def put(self, sample: T) -> None:
        """Queue a captured sample (from ``read`` or from a device callback)."""
        self.counters.add(captured=1)
        if not self.queue.put(sample):
            self.counters.add(dropped=1)

    # -- threads ---------------------------------------------------------------------------

    def _fault(self, exc: BaseException) -> None:
        self.counters.error(exc)
        if not self._faulted:
            self._faulted = True
            _LOG.error(f'{self.name}: {type(exc).__name__}: {exc}')
            if self._on_fault is not None:
                self._on_fault(exc)
        self._stop.set()

    def _capture_loop(self) -> None:
        assert self._read is not None
        while not self._stop.is_set():
            if self.reconnecting:
                if not self._try_reopen():
                    continue
            try:
                sample = self._read()
            except DeviceLostError as exc:
                self.counters.error(exc)
                _LOG.warning(f'{self.name}: {exc}; reopening with back-off')
                self._release()
                self.reconnecting = True
                continue
            except Exception as exc:  # a fault: reported to the node, which decides
                self._fault(exc)
                return
            if sample is not None:
                self.put(sample)

    def _try_reopen(self) -> bool:
        if self._stop.wait(self.reopen_delays.next_delay()):
            return False
        try:
            if self._reopen is None:
                raise DeviceLostError('device lost and this source cannot be reopened')
            self._reopen()
        except SensorError as exc:
            self.counters.error(exc)
            _LOG.debug(f'{self.name}: reopen failed: {exc}')
            return False
        except Exception as exc:  # unexpected: a fault
            self._fault(exc)
            return False
        self.reopen_delays.reset()
        self.reconnecting = False
        self.counters.add(reopens=1)
        _LOG.info(f'{self.name}: device reopened')
        return True

    def _release(self) -> None:
        if self._close is not None:
            try:
                self._close()
            except Exception as exc:  # closing a lost device may fail; it is gone anyway
                self.counters.error(exc)

    def _publish_loop(self) -> None:
        while not self._stop.is_set():
            sample = self.queue.get(timeout=0.1)
            if sample is None:
                continue
            try:
                self._handle(sample)
            except Exception as exc:  # a fault: reported to the node, which decides
                self._fault(exc)
                return
            self.counters.add(published=1)
