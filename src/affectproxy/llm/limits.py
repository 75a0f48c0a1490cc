"""Concurrency, requests-per-minute and tokens-per-minute limits for one (provider, model), shared by threads.

A :class:`Limiter` hands out slots: :meth:`Limiter.slot` blocks until one more request may start (fewer than
``max_in_flight`` in flight, fewer than ``rpm`` starts and ``tpm`` tokens in the last minute, and no pause asked
for by a Retry-After), and frees the concurrency slot when the block ends. Rates are sliding windows, which is
how the services count them. A request larger than the whole token budget still starts when the window is empty,
so nothing waits forever.

Examples:
    >>> lim = Limiter(max_in_flight=2, rpm=100)
    >>> with lim.slot(tokens=10) as grant:
    ...     lim.in_flight
    1
    >>> lim.in_flight
    0
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import attrs


@attrs.define
class Grant:
    """One started request's reservation; :meth:`settle` replaces the token estimate by the real count."""

    _limiter: Limiter
    _entry: list[float] | None
    tokens: float

    def settle(self, tokens: float) -> None:
        """Record the tokens the request actually used (input + output)."""
        if self._entry is not None:
            with self._limiter._cond:
                self._entry[1] = float(tokens)
                self._limiter._cond.notify_all()
        self.tokens = float(tokens)


class Limiter:
    """Limits for one (provider, model).

    Args:
        max_in_flight: requests in flight at once.
        rpm: request starts per ``window`` (None: no limit).
        tpm: tokens per ``window`` (None: no limit).
        window: the rate window in seconds (60; smaller in tests).
        clock: a monotonic clock (seconds).
    """

    def __init__(self, max_in_flight: int = 16, rpm: float | None = None, tpm: float | None = None, *,
                 window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_in_flight = int(max_in_flight)
        self.rpm = rpm
        self.tpm = tpm
        self.window = float(window)
        self._clock = clock
        self._cond = threading.Condition()
        self._in_flight = 0
        self._starts: collections.deque[float] = collections.deque()
        self._tokens: collections.deque[list[float]] = collections.deque()
        self._paused_until = 0.0
        self.waited = 0.0  # seconds spent waiting for a slot, over all threads (for diagnostics)

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    def pause(self, seconds: float) -> None:
        """Start nothing for ``seconds`` (a Retry-After seen by one thread holds back every thread)."""
        with self._cond:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def _prune(self, now: float) -> None:
        edge = now - self.window
        while self._starts and self._starts[0] <= edge:
            self._starts.popleft()
        while self._tokens and self._tokens[0][0] <= edge:
            self._tokens.popleft()

    def _wait_needed(self, now: float, tokens: float) -> float:
        """0 when a request may start now, else seconds until it might."""
        waits = [self._paused_until - now]
        if self._in_flight >= self.max_in_flight:
            waits.append(self.window)  # woken by a release
        if self.rpm is not None and len(self._starts) >= self.rpm:
            waits.append(self._starts[0] + self.window - now)
        if self.tpm is not None and self._tokens:
            used = sum(e[1] for e in self._tokens)
            if used + tokens > self.tpm:
                waits.append(self._tokens[0][0] + self.window - now)
        return max(0.0, *waits)

    def acquire(self, tokens: float = 0.0) -> Grant:
        """Block until a request may start; the caller must :meth:`release` the grant."""
        start = self._clock()
        with self._cond:
            while True:
                now = self._clock()
                self._prune(now)
                wait = self._wait_needed(now, tokens)
                if wait <= 0:
                    break
                self._cond.wait(timeout=min(wait, self.window))
            self._in_flight += 1
            self._starts.append(now)
            entry = None
            if self.tpm is not None:
                entry = [now, float(tokens)]
                self._tokens.append(entry)
            self.waited += now - start
        return Grant(self, entry, float(tokens))

    def release(self) -> None:
        """Free a concurrency slot."""
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    @contextmanager
    def slot(self, tokens: float = 0.0) -> Iterator[Grant]:
        """``with limiter.slot(tokens) as grant:`` run one request; ``grant.settle(real_tokens)`` after it."""
        grant = self.acquire(tokens)
        try:
            yield grant
        finally:
            self.release()


__all__ = ["Grant", "Limiter"]
