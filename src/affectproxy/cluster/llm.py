"""One LLM limiter, cache and budget for the whole cluster.

:class:`LLMHub` runs as one named Ray actor per run. It holds one :class:`~affectproxy.llm.limits.Limiter` per
(provider, model), so requests/min, tokens/min and requests in flight are counted over every worker, not per
worker; the response cache (loaded from the store at the start; new answers added as they are paid for); and the
spend against the run's budget. Paid responses and call-log rows go to the hub the moment a worker has them (the
worker waits for the hub's receipt), and the driver, the one writer, moves them into the SQLite store every few
hundred milliseconds (:meth:`LLMHub.drain`).

On a worker, :class:`ClusterLayer` is the ordinary :class:`~affectproxy.llm.layer.LLMLayer` (retries, repairs,
validation, cost) whose limiter and store are proxies of the hub.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from affectproxy.llm.budget import Budget
from affectproxy.llm.config import LLMConfig, ProviderConfig
from affectproxy.llm.layer import LLMLayer
from affectproxy.llm.limits import Grant, Limiter


class LLMHub:
    """The cluster's limiter, cache and budget (run it as a threaded Ray actor: ``max_concurrency`` high, since
    :meth:`acquire` blocks until a slot is free).

    Args:
        llm: the run's LLM options (as for ``ap.evaluate(llm=...)``).
        cache: response cache entries already in the store (key -> bytes).
        window: the rate window in seconds (60; shorter in tests).
        max_cost: the run's budget in USD for paid calls (None: no limit).
    """

    def __init__(self, llm: Mapping[str, Any] | None, cache: Mapping[str, bytes], window: float = 60.0,
                 max_cost: float | None = None) -> None:
        self._config = LLMConfig.from_mapping(llm or {})
        self._window = float(window)
        self._lock = threading.Lock()
        self._limiters: dict[tuple[str, str], Limiter] = {}
        self._grants: dict[int, tuple[Limiter, Grant]] = {}
        self._ids = itertools.count()
        self._cache = dict(cache)
        self._outbox: list[tuple[str, Any]] = []
        self._budget = None if max_cost is None else Budget(max_cost)
        self._holds: dict[int, Any] = {}

    def _limiter(self, provider: str, model: str) -> Limiter:
        with self._lock:
            key = (provider, model)
            if key not in self._limiters:
                cfg: ProviderConfig = self._config.provider(provider)
                self._limiters[key] = Limiter(cfg.max_in_flight, cfg.rpm, cfg.tpm, window=self._window)
            return self._limiters[key]

    def acquire(self, provider: str, model: str, tokens: float) -> int:
        """Block until one more request to (provider, model) may start; returns the grant's id."""
        limiter = self._limiter(provider, model)
        grant = limiter.acquire(tokens)
        with self._lock:
            gid = next(self._ids)
            self._grants[gid] = (limiter, grant)
        return gid

    def release(self, gid: int, tokens: float | None = None) -> None:
        """Record the tokens a request used and free its slot."""
        with self._lock:
            limiter, grant = self._grants.pop(gid)
        if tokens is not None:
            grant.settle(tokens)
        limiter.release()

    def pause(self, provider: str, model: str, seconds: float) -> None:
        """Start nothing for (provider, model) for ``seconds`` (a Retry-After seen by any worker)."""
        self._limiter(provider, model).pause(seconds)

    def reserve(self, amount: float, what: str) -> int:
        """Reserve one paid attempt's expected cost against the cluster's one budget; returns the hold's id.

        Raises:
            BudgetExceededError: the attempt would take the run past ``max_cost`` (the layer's own message).
        """
        assert self._budget is not None
        hold = self._budget.reserve(amount, what=what)
        with self._lock:
            hid = next(self._ids)
            self._holds[hid] = hold
        return hid

    def settle(self, hid: int, cost: float | None) -> None:
        """Replace a reservation by what the attempt cost."""
        with self._lock:
            hold = self._holds.pop(hid)
        hold.settle(cost)

    def cache_get(self, key: str) -> bytes | None:
        with self._lock:
            return self._cache.get(key)

    def cache_put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._cache[key] = value
            self._outbox.append(("cache", (key, value)))

    def log_call(self, row: dict[str, Any], answer: tuple[str, bytes] | None = None) -> None:
        with self._lock:
            if answer is not None:
                self._cache[answer[0]] = answer[1]
            self._outbox.append(("call", (row, answer)))

    def drain(self) -> list[tuple[str, Any]]:
        """Hand the rows received since the last call to the driver (the one writer)."""
        with self._lock:
            out, self._outbox = self._outbox, []
        return out

    def spent(self) -> float:
        """USD spent by the run's paid calls so far (0 without a budget)."""
        return 0.0 if self._budget is None else self._budget.spent


def save_drained(store: Any, items: list[tuple[str, Any]]) -> None:
    """Write what :meth:`LLMHub.drain` returned into the store (the driver does this)."""
    for kind, value in items:
        if kind == "cache":
            store.cache_put(*value)
        else:
            row, answer = value
            store.log_call(answer=answer, **row)


class _RemoteGrant:
    def __init__(self) -> None:
        self.tokens: float | None = None

    def settle(self, tokens: float) -> None:
        self.tokens = float(tokens)


class RemoteLimiter:
    """A worker's view of one (provider, model) limiter held by the hub."""

    def __init__(self, hub: Any, provider: str, model: str) -> None:
        self._hub, self._provider, self._model = hub, provider, model

    @contextmanager
    def slot(self, tokens: float = 0.0) -> Iterator[_RemoteGrant]:
        import ray

        gid = ray.get(self._hub.acquire.remote(self._provider, self._model, float(tokens)))
        grant = _RemoteGrant()
        try:
            yield grant
        finally:
            ray.get(self._hub.release.remote(gid, grant.tokens))

    def pause(self, seconds: float) -> None:
        import ray

        ray.get(self._hub.pause.remote(self._provider, self._model, float(seconds)))


class _RemoteHold:
    def __init__(self, hub: Any, hid: int) -> None:
        self._hub, self._hid, self._open = hub, hid, True

    def settle(self, cost: float | None) -> None:
        import ray

        if self._open:
            self._open = False
            ray.get(self._hub.settle.remote(self._hid, cost))


class RemoteBudget:
    """A worker's view of the run's one budget, held by the hub (what the layer's ``hold_for`` needs)."""

    def __init__(self, hub: Any, max_cost: float) -> None:
        self._hub = hub
        self.max_cost = float(max_cost)
        self._lock = threading.Lock()
        self._refused = 0  # unpriced models refused here (the hub counts the rest)

    def reserve(self, amount: float, *, what: str = "the next call") -> _RemoteHold:
        import ray

        try:
            hid = ray.get(self._hub.reserve.remote(float(amount), what))
        except ray.exceptions.RayTaskError as exc:  # refused: raise the budget's own one-line error
            raise exc.cause from None
        return _RemoteHold(self._hub, hid)


class HubStore:
    """What the LLM layer and :class:`~affectproxy.cache.ResponseCache` need of a store, served by the hub (each
    write returns once the hub holds it)."""

    def __init__(self, hub: Any) -> None:
        self._hub = hub

    def cache_get(self, key: str) -> bytes | None:
        import ray

        return ray.get(self._hub.cache_get.remote(key))  # type: ignore[no-any-return]

    def cache_put(self, key: str, value: bytes) -> None:
        import ray

        ray.get(self._hub.cache_put.remote(key, value))

    def log_call(self, *, answer: tuple[str, bytes] | None = None, **row: Any) -> None:
        import ray

        from affectproxy.hashing import check_no_secrets

        check_no_secrets(row, "call log")
        ray.get(self._hub.log_call.remote(dict(row), answer))

    def calls(self) -> list[dict[str, Any]]:
        return []


class ClusterLayer(LLMLayer):
    """The LLM layer on a worker: everything as usual, but limits, cache and call log live in the hub."""

    def __init__(self, hub: Any, llm: Mapping[str, Any] | None, max_cost: float | None = None) -> None:
        super().__init__(HubStore(hub), config=LLMConfig.from_mapping(llm or {}),  # type: ignore[arg-type]
                         budget=None if max_cost is None else RemoteBudget(hub, max_cost),
                         limiter=lambda provider, model, cfg: RemoteLimiter(hub, provider, model))


__all__ = ["ClusterLayer", "HubStore", "LLMHub", "RemoteBudget", "RemoteLimiter", "save_drained"]
