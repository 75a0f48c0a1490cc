"""The LLM layer: runs :class:`~affectproxy.llm.types.LLMRequest` s through providers, once for every provider.

It owns what every LLM evaluator needs around a provider call: per-(provider, model) limits shared by every
thread and evaluator (requests in flight, requests/min, tokens/min), retries with exponential backoff that honour
Retry-After, a per-request timeout, JSON-schema validation of every answer with repair retries (the error sent
back), safety blocks recorded as failures, the response cache (only validated answers are cached and served),
one call-log row per attempt written at once, and cost from the provider's price table.

Usage (the engine does this; evaluators never call the layer themselves)::

    from affectproxy.llm import LLMLayer, LLMConfig, LLMRequest, Part

    layer = LLMLayer(store, config=LLMConfig.from_mapping({"gemini": {"rpm": 60, "max_in_flight": 8}}))
    try:
        answers = layer.run([LLMRequest("gemini", "gemini-2.5-flash", [Part("text", text="Hello")],
                                        schema={"type": "object"}, segment_ids=("s1",))],
                            evaluator="gemini")
        for a in answers:
            print(a.data if a.ok else a.error, a.cost, a.cached)
        print(layer.usage())          # calls, tokens by modality, cost per evaluator and (provider, model)
    finally:
        layer.close()                 # deletes uploaded files unless the provider was told to keep them

``run`` blocks, is thread-safe, and returns one :class:`~affectproxy.llm.types.LLMAnswer` per request in order.
Per-request failures (retries spent, a safety block, an answer still invalid after the repairs) come back as
``answer.error`` (naming the segments and the reason) with ``answer.exception``; only
:class:`~affectproxy.errors.AuthenticationError` is raised, at once.
"""

from __future__ import annotations

import concurrent.futures
import json
import random
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from affectproxy.errors import (
    AffectProxyError,
    AuthenticationError,
    RateLimitError,
    ServiceError,
    ServiceTimeoutError,
    ServiceUnavailableError,
)
from affectproxy.llm.budget import Budget, hold_for
from affectproxy.llm.config import LLMConfig, ProviderConfig
from affectproxy.llm.limits import Limiter
from affectproxy.llm.providers import build_provider, get_provider_spec, options_key
from affectproxy.llm.types import (
    LLMAnswer,
    LLMRequest,
    Part,
    Price,
    PriceTable,
    Provider,
    ProviderResponse,
    ProviderSpec,
    Usage,
)
from affectproxy.llm.validate import BlockedError, InvalidAnswerError, parse_answer, repair_prompt
from affectproxy.store import Store

RETRYABLE = (RateLimitError, ServiceUnavailableError, ServiceTimeoutError)
CACHE_FORMAT = 1


def cache_entry(text: str, model_version: str = "") -> bytes:
    """How a validated answer is kept in the store's response cache (read back by ``LLMLayer._from_cache``)."""
    return json.dumps({"format": CACHE_FORMAT, "text": text, "model_version": model_version}).encode()


class LLMNote(UserWarning):
    """A note from the LLM layer (an option a provider cannot send, a model version that changed)."""


def estimate_tokens(request: LLMRequest, audio_tokens_per_second: float | None = None) -> int:
    """A rough token count of a request (text ~4 characters per token, audio by its seconds, plus the expected
    answer), for tokens/min limits and dry-run estimates."""
    chars = len(request.system) + (len(json.dumps(request.schema)) if request.schema else 0)
    audio = 0.0
    for part in request.parts:
        if part.kind == "text":
            chars += len(part.text)
        else:
            audio += part.seconds
    tps = 32.0 if audio_tokens_per_second is None else audio_tokens_per_second
    return int(chars / 4 + audio * tps + request.expected_output_tokens)


def _add_usage(a: Usage, b: Usage) -> Usage:
    inp = dict(a.input_tokens)
    for m, n in b.input_tokens.items():
        inp[m] = inp.get(m, 0) + n
    return Usage(inp, a.output_tokens + b.output_tokens, a.thinking_tokens + b.thinking_tokens,
                 a.cached_tokens + b.cached_tokens)


def _restate(exc: BaseException, message: str) -> BaseException:
    """An exception of the same class whose message is ``message`` (which names the segments), caused by ``exc``."""
    if str(exc) == message:
        return exc
    try:
        if isinstance(exc, ServiceError):
            new: BaseException = type(exc)(message, retry_after=exc.retry_after)
        else:
            new = type(exc)(message)
    except Exception:
        new = ServiceError(message)
    new.__cause__ = exc
    return new


def _where(request: LLMRequest) -> str:
    ids = list(request.segment_ids)
    if not ids:
        who = "request"
    elif len(ids) == 1:
        who = f"segment {ids[0]!r}"
    elif len(ids) <= 4:
        who = "segments " + ", ".join(repr(i) for i in ids)
    else:
        who = f"segments {ids[0]!r} .. {ids[-1]!r} ({len(ids)})"
    tag = f" [{request.tag}]" if request.tag else ""
    return f"{who}{tag}: {request.provider}/{request.model}"


def _local_limiter(provider: str, model: str, cfg: ProviderConfig) -> Limiter:
    return Limiter(cfg.max_in_flight, cfg.rpm, cfg.tpm)


class LLMLayer:
    """Runs LLM requests for one run (one ``ap.evaluate`` call), shared by every LLM evaluator in it.

    Args:
        store: where the response cache and the call log live; None keeps nothing (no cache).
        config: limits, retries and prices per provider (:class:`~affectproxy.llm.config.LLMConfig`).
        max_cost: the run's budget in USD (None: no limit); no paid call starts that would exceed it
            (:class:`~affectproxy.errors.BudgetExceededError`; see :mod:`affectproxy.llm.budget`).
        budget: a budget shared with other processes instead of one made from ``max_cost`` (anything with
            ``max_cost`` and ``reserve(amount, what=...)``, e.g. a cluster's, held by its hub).
        limiter: ``(provider, model, settings) -> limiter`` making each model's limiter (anything with
            ``slot(tokens)`` and ``pause(seconds)``; default a :class:`~affectproxy.llm.limits.Limiter` of this
            process, from the settings' ``max_in_flight``, ``rpm`` and ``tpm``).
    """

    def __init__(self, store: Store | None, *, config: LLMConfig | None = None, max_cost: float | None = None,
                 budget: Any = None, limiter: Callable[[str, str, ProviderConfig], Any] | None = None) -> None:
        if budget is not None and max_cost is not None:
            raise ValueError("LLMLayer: give max_cost or a shared budget, not both.")
        self.store = store
        self.config = config or LLMConfig()
        self._lock = threading.RLock()
        self._providers: dict[tuple[str, str], Provider] = {}
        self._building: dict[tuple[str, str], threading.Lock] = {}
        self._auth_failed: dict[tuple[str, str], AuthenticationError] = {}
        self._limiters: dict[tuple[str, str], Any] = {}
        self._versions: dict[tuple[str, str], str] = {}
        self._warned: set[tuple[str, ...]] = set()
        self._rows: list[dict[str, Any]] = []
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(32, 4 * self.config.max_in_flight), thread_name_prefix="affectproxy-llm"
        )
        self._closed = False
        self.budget = budget if budget is not None else (None if max_cost is None else Budget(max_cost))
        self._make_limiter = limiter or _local_limiter

    # -- public ----------------------------------------------------------------------------------------------
    @property
    def max_in_flight(self) -> int:
        """Requests in flight at once over all providers (the engine sizes its worker pool with it)."""
        return self.config.max_in_flight

    def run(self, requests: Sequence[LLMRequest], *, evaluator: str) -> list[LLMAnswer]:
        """Run ``requests`` concurrently under the limits; one answer per request, in order.

        Args:
            requests: what to ask.
            evaluator: the evaluator's instance name (for the call log).

        Raises:
            AuthenticationError: a provider refused the credentials (or none were found); raised at once.
        """
        if self._closed:
            raise AffectProxyError("This LLM layer is closed; create a new one for another run.")
        requests = list(requests)
        if len(requests) == 1:
            return [self._run_one(requests[0], evaluator)]
        futures = [self._pool.submit(self._run_one, r, evaluator) for r in requests]
        done, _ = concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
        for f in done:
            exc = f.exception()
            if exc is not None:
                for other in futures:
                    other.cancel()
                raise exc
        return [f.result() for f in futures]

    def usage(self) -> Any:
        """This layer's calls summarised per (evaluator, provider, model) (a DataFrame; see
        :func:`affectproxy.llm.usage.summarize`)."""
        from affectproxy.llm.usage import summarize

        with self._lock:
            rows = list(self._rows)
        return summarize(rows)

    def calls(self) -> list[dict[str, Any]]:
        """The call-log rows this layer wrote (also in the store when it has one)."""
        with self._lock:
            return [dict(r) for r in self._rows]

    def close(self) -> None:
        """Close every provider (uploaded files are deleted unless kept) and stop the worker threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            providers = list(self._providers.values())
        self._pool.shutdown(wait=True, cancel_futures=True)
        for provider in providers:
            close = getattr(provider, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:  # cleanup must not hide the run's results
                    warnings.warn(f"Closing LLM provider {provider.name!r} failed: {type(exc).__name__}: {exc}",
                                  LLMNote, stacklevel=2)

    def __enter__(self) -> LLMLayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def provider_for(self, request: LLMRequest) -> Provider:
        """The provider instance that serves ``request`` (built on first use; one per provider options)."""
        cfg = self.config.provider(request.provider)
        options = {**cfg.provider_options(), **dict(request.provider_options)}
        key = (request.provider, options_key(options))
        with self._lock:
            if key in self._auth_failed:
                raise self._auth_failed[key]
            if key in self._providers:
                return self._providers[key]
            building = self._building.setdefault(key, threading.Lock())
        with building:  # one build per provider (an SDK import can take seconds); other providers go on
            with self._lock:
                if key in self._providers:
                    return self._providers[key]
            try:
                provider = build_provider(request.provider, **options)
            except AuthenticationError as exc:
                with self._lock:
                    self._auth_failed[key] = exc
                raise
            with self._lock:
                self._providers[key] = provider
            return provider

    def price(self, provider: str, model: str) -> Price | None:
        """The price of ``model``: the config's override, else the provider's shipped table; None if unknown."""
        override = PriceTable(self.config.provider(provider).prices).get(model)
        if override is not None:
            return override
        return get_provider_spec(provider).prices.get(model)

    # -- one request -----------------------------------------------------------------------------------------
    def _limiter(self, provider: str, model: str, cfg: ProviderConfig) -> Any:
        with self._lock:
            key = (provider, model)
            if key not in self._limiters:
                self._limiters[key] = self._make_limiter(provider, model, cfg)
            return self._limiters[key]

    def _note(self, key: tuple[str, ...], message: str) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        warnings.warn(message, LLMNote, stacklevel=3)

    def _log(self, request: LLMRequest, evaluator: str, status: str, *, error: str = "", usage: Usage | None = None,
             cost: float | None = 0.0, latency: float | None = None, cached: bool = False,
             model_version: str = "", answer: str | None = None) -> None:
        """Log one call; ``answer`` (the text of a paid, valid answer) is cached in the same commit."""
        usage = usage or Usage()
        row: dict[str, Any] = {
            "created": time.time(), "evaluator": evaluator, "segment_ids": list(request.segment_ids),
            "provider": request.provider, "model": request.model, "model_version": model_version or None,
            "cache_key": request.cache_key(), "cached": int(cached), "batch": 0, "tag": request.tag or None,
            "status": status,
            "error": error or None, "input_tokens": dict(usage.input_tokens),
            "output_tokens": None if cached else usage.output_tokens,
            "thinking_tokens": None if cached else usage.thinking_tokens,
            "cached_tokens": None if cached else usage.cached_tokens, "cost": cost, "latency": latency,
        }
        with self._lock:
            self._rows.append(row)
        if self.store is not None:
            if answer is None:
                self.store.log_call(**row)
            else:
                self.store.log_call(answer=(row["cache_key"], cache_entry(answer, model_version)), **row)

    def _from_cache(self, request: LLMRequest, key: str) -> LLMAnswer | None:
        if self.store is None:
            return None
        blob = self.store.cache_get(key)
        if blob is None:
            return None
        try:
            entry = json.loads(blob)
            data = parse_answer(entry["text"], request.schema)
        except (ValueError, KeyError, TypeError, InvalidAnswerError):
            return None  # an entry written by something else, or a schema that changed meaning: ask again
        return LLMAnswer(request, data=data, text=entry["text"], cached=True, usage=None, cost=0.0,
                         model_version=entry.get("model_version", ""))

    def _check_version(self, request: LLMRequest, version: str) -> None:
        if not version:
            return
        key = (request.provider, request.model)
        with self._lock:
            if key not in self._versions and self.store is not None:
                for row in reversed(self.store.calls()):
                    if (row["provider"], row["model"]) == key and row.get("model_version"):
                        self._versions[key] = row["model_version"]
                        break
            first = self._versions.setdefault(key, version)
        if version != first:
            self._note(("version", *key, version),
                       f"{request.provider}/{request.model}: the API now reports model version {version!r}, "
                       f"earlier answers in this study came from {first!r}; results mix versions (the call log "
                       "records which answer came from which). Pin a versioned model id to avoid this.")

    def _note_unsendable(self, provider: Provider, request: LLMRequest) -> None:
        used = {
            "system": bool(request.system), "schema": request.schema is not None,
            "temperature": request.temperature is not None, "seed": request.seed is not None,
            "max_output_tokens": request.max_output_tokens is not None,
            "audio": any(p.kind == "audio" for p in request.parts),
            "file": any(p.kind == "file" for p in request.parts),
        }
        can = getattr(provider, "can_send", None)
        if can is None:
            return
        for option, set_ in used.items():
            if set_ and option not in can:
                self._note(("option", request.provider, option),
                           f"LLM provider {request.provider!r} cannot send {option!r}; requests go without it "
                           "(the answers are validated all the same).")

    def _backoff(self, cfg: ProviderConfig, retry: int) -> float:
        wait = min(cfg.backoff_max, cfg.backoff * (2 ** retry))
        return wait * (0.5 + 0.5 * random.random()) if cfg.jitter else wait

    def _run_one(self, request: LLMRequest, evaluator: str) -> LLMAnswer:
        where = _where(request)
        try:
            provider = self.provider_for(request)
            spec: ProviderSpec = get_provider_spec(request.provider)
            price = self.price(request.provider, request.model)
        except AuthenticationError:
            raise
        except AffectProxyError as exc:
            return LLMAnswer(request, error=f"{where}: {exc}", exception=exc)
        key = request.cache_key()
        hit = self._from_cache(request, key)
        if hit is not None:
            self._log(request, evaluator, "ok", cached=True, cost=0.0, latency=0.0, model_version=hit.model_version)
            return hit
        self._note_unsendable(provider, request)
        cfg = self.config.provider(request.provider)
        limiter = self._limiter(request.provider, request.model, cfg)
        total = Usage()
        cost: float | None = 0.0
        attempt = request
        retries = repairs = 0
        version = ""

        def failed(message: str, exc: BaseException) -> LLMAnswer:
            error = f"{where}: {message}"
            return LLMAnswer(request, error=error, usage=total, cost=cost, model_version=version,
                             exception=_restate(exc, error))

        while True:
            tokens = estimate_tokens(attempt, spec.audio_tokens_per_second)
            response: ProviderResponse | None = None
            error: BaseException | None = None
            with limiter.slot(tokens) as grant:
                hold = hold_for(self.budget, attempt, price, spec)  # raises BudgetExceededError before paying
                started = time.monotonic()
                try:
                    response = provider.generate(attempt, timeout=cfg.timeout)
                except ServiceError as exc:
                    error = exc
                except Exception as exc:  # a provider bug must fail this request, not the run
                    error = exc
                latency = time.monotonic() - started
                grant.settle(0 if response is None else
                             response.usage.total_input + response.usage.output_tokens + response.usage.thinking_tokens)
                hold.settle(None if response is None or price is None else price.cost(response.usage))
            if error is not None:
                message = f"{type(error).__name__}: {error}"
                self._log(request, evaluator, "error", error=message, latency=latency)
                if isinstance(error, AuthenticationError):
                    with self._lock:
                        cfg_opts = {**cfg.provider_options(), **dict(request.provider_options)}
                        self._auth_failed[(request.provider, options_key(cfg_opts))] = error
                    raise error
                if isinstance(error, RETRYABLE) and retries < cfg.max_retries:
                    asked = getattr(error, "retry_after", None)
                    if asked is not None and asked > cfg.max_wait:
                        return failed(f"the service asked to wait {asked:.0f} s (more than max_wait = "
                                      f"{cfg.max_wait:.0f} s): a quota is spent; run again later", error)
                    if asked is not None:
                        limiter.pause(asked)  # every thread using this model waits, not only this one
                    else:
                        time.sleep(self._backoff(cfg, retries))
                    retries += 1
                    continue
                tries = f" after {retries + 1} attempts" if retries else ""
                return failed(f"{message}{tries}", error)
            assert response is not None
            version = response.model_version or version
            self._check_version(request, response.model_version)
            paid = price.cost(response.usage) if price is not None else None
            total = _add_usage(total, response.usage)
            cost = None if cost is None or paid is None else cost + paid
            if response.blocked or (not response.text.strip() and response.finish_reason == "safety"):
                reason = response.blocked or "safety"
                self._log(request, evaluator, "blocked", error=reason, usage=response.usage, cost=paid,
                          latency=latency, model_version=response.model_version)
                return failed(f"no answer: {reason}", BlockedError(reason))
            try:
                data = parse_answer(response.text, request.schema)
            except InvalidAnswerError as exc:
                self._log(request, evaluator, "invalid", error=str(exc), usage=response.usage, cost=paid,
                          latency=latency, model_version=response.model_version)
                if repairs < cfg.repairs:
                    repairs += 1
                    repair = Part("text", text=repair_prompt(response.text, str(exc)))
                    attempt = attrs.evolve(request, parts=(*request.parts, repair))
                    continue
                cut = " (the answer was cut off at the output limit)" if response.finish_reason == "max_tokens" else ""
                message = f"answer still invalid after {repairs} repair(s): {exc}{cut}"
                return failed(message, InvalidAnswerError(message))
            self._log(request, evaluator, "ok", usage=response.usage, cost=paid, latency=latency,
                      model_version=response.model_version, answer=response.text)
            return LLMAnswer(request, data=data, text=response.text, usage=total, cost=cost, model_version=version)


__all__ = ["LLMConfig", "LLMLayer", "LLMNote", "estimate_tokens"]
