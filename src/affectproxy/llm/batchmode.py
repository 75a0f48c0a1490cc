"""Batch mode: an LLM evaluator's requests as provider batch jobs, at the batch price (half the online price; answers
within up to 24 h).

``ap.evaluate(..., batch=True)`` (CLI ``affectproxy run study.toml --batch``) runs each LLM evaluator this way:

1. every pending task's requests are built up front (``evaluator.requests(segments, context)``);
2. answers the response cache already holds are served from it (nothing paid);
3. the rest go to the provider as **one job per (provider, model)**, cut into several jobs where one would pass the
   provider's per-job limits (:attr:`BatchViaModule.batch_max_requests`, :attr:`BatchViaModule.batch_max_bytes`:
   Gemini 20 MB of inlined requests, OpenAI 50,000 requests or a 200 MB file, Anthropic 100,000 requests or
   256 MB) or the ``max_requests_per_job`` / ``max_bytes_per_job`` options; before each job is submitted an intent
   is recorded in the store (table ``batch_jobs``, state ``submitting``, under a local token that the job carries
   where the API allows: Gemini's display name, OpenAI's metadata), with its requests' cache keys; the moment the
   provider answers, the token is replaced by the job's id (state ``submitted``, one transaction);
4. the job is polled (a progress bar per job); each answer is validated against its schema and committed to the
   cache and the call log (``batch = 1``, cost at ``Price.cost(usage, batch=True)``) as the job returns it;
5. ``evaluator.read`` turns each task's answers into estimates, saved through the engine's validation and commit
   path; a :class:`~affectproxy.llm.types.FollowUp` round (TRUST's supervisor) becomes a second job.

Resume: a rerun first settles the evaluator's intents left in ``submitting`` by a process killed (or failed) while a
submission was in flight: the provider is asked for the job (``find_batch``: Gemini and OpenAI by the token;
Anthropic, whose batches carry no name, the earliest batch since the intent with as many requests and an id not
recorded yet). A job found is recorded and polled like any other (answers are matched by cache key, so adopting a
wrong job costs waiting, never money); an intent without a job is dropped; for a provider that cannot look jobs up
the intent is dropped with a warning (check the provider's console). Then the rerun polls the recorded unfinished
jobs of the evaluator and submits only requests that are neither cached nor in such a job, so a process killed while
submitting or waiting never submits (or pays for) a job twice. A job that expired, failed or was cancelled, and
requests a finished job answered with an error, are resubmitted (``resubmits`` more jobs in the same run, default 1)
as a job of only those requests; what is still missing then fails its segments, and the next run asks only for it.

No repair round in batch mode: an answer that does not fit its schema (or was blocked) fails its segment and is
not cached, so the next run asks for it again.

Budget (``max_cost``): each request reserves its expected cost at the batch price before the job is submitted;
requests that do not fit are left out of the job and the evaluator stops with the budget message.

A provider without a batch API is refused before anything is submitted. The provider side is an optional
protocol (:class:`BatchProvider`).
"""

from __future__ import annotations

import functools
import json
import os
import time
import uuid
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from affectproxy.errors import AffectProxyError, AuthenticationError, BudgetExceededError, ServiceError
from affectproxy.llm.types import FollowUp, LLMAnswer, LLMRequest, ProviderResponse
from affectproxy.llm.validate import BlockedError, InvalidAnswerError, parse_answer

#: Environment variable overriding the default seconds between polls.
POLL_VARIABLE = "AFFECTPROXY_BATCH_POLL_SECONDS"
#: Job states that end a job.
FINISHED = ("succeeded", "failed", "cancelled", "expired")


@runtime_checkable
class BatchProvider(Protocol):
    """What a provider with a batch API adds to :class:`~affectproxy.llm.types.Provider`.

    ``submit_batch`` submits one job (requests of one model) and returns its id; ``poll_batch`` returns
    ``(state, answers ready, total)`` with state ``pending``, ``running``, ``succeeded``, ``failed``,
    ``cancelled`` or ``expired`` (counts 0 when the API does not say); ``batch_results`` maps each answered
    request's cache key to its :class:`~affectproxy.llm.types.ProviderResponse` or the exception that explains
    its failure; ``cancel_batch`` cancels. Errors are the ServiceError family, as for ``generate``.

    Optional: ``find_batch(token, *, created_after, n_requests, exclude=())`` returns the id of the job submitted
    with ``token`` (created at or after ``created_after``, a Unix time; ``n_requests`` requests; not one of the ids
    in ``exclude``) or None when there is none. A provider that has it is called ``submit_batch(requests,
    token=...)`` and tags the job with the token where its API allows.
    """

    name: str

    def submit_batch(self, requests: list[LLMRequest]) -> str: ...

    def poll_batch(self, job_id: str) -> tuple[str, int, int]: ...

    def batch_results(self, job_id: str) -> dict[str, ProviderResponse | BaseException]: ...

    def cancel_batch(self, job_id: str) -> None: ...


#: Bytes a request adds to a job beyond its text and audio (JSON framing, options, metadata), and what an audio
#: part sent as a file reference costs.
REQUEST_OVERHEAD = 1024


def request_bytes(request: LLMRequest, inline_limit: int | None = None) -> int:
    """At least how many bytes ``request`` adds to a batch job: inline audio base64-encoded, text, system prompt and
    schema as JSON with every non-ASCII character escaped (the longest way an SDK may write them), plus framing; an
    audio part over ``inline_limit`` bytes (sent as an uploaded file's URI) and a file part count as a reference."""
    n = REQUEST_OVERHEAD + len(json.dumps(request.system))
    if request.schema is not None:
        n += len(json.dumps(dict(request.schema)))
    for part in request.parts:
        if part.kind == "text":
            n += len(json.dumps(part.text))
        elif part.kind == "audio" and (inline_limit is None or len(part.data) <= inline_limit):
            n += 4 * -(-len(part.data) // 3)
        else:
            n += REQUEST_OVERHEAD
    return n


def split_jobs(requests: Sequence[LLMRequest], size: Callable[[LLMRequest], int], *, max_requests: int | None,
               max_bytes: int | None) -> tuple[list[list[LLMRequest]], list[LLMRequest]]:
    """Cut ``requests`` (in order) into jobs of at most ``max_requests`` requests and ``max_bytes`` bytes (None: no
    limit); also the requests that alone pass ``max_bytes`` and fit no job."""
    jobs: list[list[LLMRequest]] = []
    too_big: list[LLMRequest] = []
    current: list[LLMRequest] = []
    used = 0
    for r in requests:
        n = size(r)
        if max_bytes is not None and n > max_bytes:
            too_big.append(r)
            continue
        if current and ((max_requests is not None and len(current) >= max_requests)
                        or (max_bytes is not None and used + n > max_bytes)):
            jobs.append(current)
            current, used = [], 0
        current.append(r)
        used += n
    if current:
        jobs.append(current)
    return jobs, too_big


class BatchViaModule:
    """A provider mixin serving :class:`BatchProvider` from a module of the plugin's own that defines
    ``submit(provider, requests)``, ``poll(provider, job_id)``, ``results(provider, job_id)`` and
    ``cancel(provider, job_id)`` (imported on first use, so plain online calls never load it). A module that also
    defines ``find(provider, token, created_after, n_requests, exclude)`` serves ``find_batch``, and its ``submit``
    takes ``token=``.

    Attributes:
        batch_module: the module's import name, e.g. ``"affectproxy_gemini.batch"``.
        batch_max_requests: the provider's limit on requests per job (None: none documented).
        batch_max_bytes: the provider's limit on a job's size in bytes, as :meth:`batch_request_bytes` counts it
            (None: none documented).
    """

    batch_module: str
    batch_max_requests: int | None = None
    batch_max_bytes: int | None = None

    def batch_request_bytes(self, request: LLMRequest) -> int:
        """What ``request`` adds to a job's size (:func:`request_bytes`; a provider that uploads large audio
        overrides this)."""
        return request_bytes(request)

    def _batch(self) -> Any:
        import importlib

        return importlib.import_module(self.batch_module)

    def submit_batch(self, requests: list[LLMRequest], token: str = "") -> str:
        """Submit one batch job (one model), tagged with ``token`` where the API allows; its id."""
        module = self._batch()
        if token and hasattr(module, "find"):
            return str(module.submit(self, requests, token=token))
        return str(module.submit(self, requests))

    def find_batch(self, token: str, *, created_after: float, n_requests: int, exclude: Collection[str] = ()
                   ) -> str | None:
        """The id of the job submitted with ``token`` (see :class:`BatchProvider`), or None.

        Raises:
            NotImplementedError: the plugin's batch module has no ``find``.
        """
        module = self._batch()
        if not hasattr(module, "find"):
            raise NotImplementedError(f"{self.batch_module} cannot look batch jobs up")
        found = module.find(self, token, created_after, n_requests, exclude)
        return None if found is None else str(found)

    def poll_batch(self, job_id: str) -> tuple[str, int, int]:
        """(state, answers ready, total); state is pending, running, succeeded, failed, cancelled or expired."""
        return self._batch().poll(self, job_id)  # type: ignore[no-any-return]

    def batch_results(self, job_id: str) -> dict[str, ProviderResponse | BaseException]:
        """The job's answers (or per-request errors) by request cache key."""
        return self._batch().results(self, job_id)  # type: ignore[no-any-return]

    def cancel_batch(self, job_id: str) -> None:
        """Cancel the job."""
        self._batch().cancel(self, job_id)


class BatchUnsupportedError(AffectProxyError):
    """A provider has no batch API."""


@attrs.frozen
class BatchOptions:
    """How batch mode runs.

    Attributes:
        poll_interval: seconds between polls of a job (default 30, or ``AFFECTPROXY_BATCH_POLL_SECONDS``).
        resubmits: how many more jobs one run submits for requests that a job left without an answer.
        max_wait: seconds to wait for a job before giving up for this run (the job stays recorded; a rerun picks
            it up and submits nothing twice).
        max_requests_per_job: cut jobs smaller than the provider's limit (more jobs, each finishing sooner).
        max_bytes_per_job: likewise, in bytes as the provider counts a job's size.
    """

    poll_interval: float = attrs.field(default=30.0, converter=float)
    resubmits: int = attrs.field(default=1, converter=int)
    max_wait: float = attrs.field(default=26 * 3600.0, converter=float)
    max_requests_per_job: int | None = None
    max_bytes_per_job: int | None = None

    @classmethod
    def of(cls, value: bool | Mapping[str, Any] | BatchOptions | None) -> BatchOptions | None:
        """None for ``False``/``None``; the defaults for ``True``; otherwise the mapping's options."""
        if value is None or value is False:
            return None
        if isinstance(value, BatchOptions):
            return value
        env = os.environ.get(POLL_VARIABLE)
        base = cls(poll_interval=float(env)) if env else cls()
        if value is True:
            return base
        if isinstance(value, Mapping):
            names = [f.name for f in attrs.fields(cls)]
            unknown = sorted(set(value) - set(names))
            if unknown:
                raise AffectProxyError(f"Unknown batch option(s) {unknown}: use {', '.join(names)}.")
            for name in ("max_requests_per_job", "max_bytes_per_job"):
                if value.get(name) is not None and (isinstance(value[name], bool) or not isinstance(value[name], int)
                                                    or value[name] < 1):
                    raise AffectProxyError(f"Batch option {name}={value[name]!r}: give a whole number of at least 1.")
            try:
                options = attrs.evolve(base, **dict(value))
            except (TypeError, ValueError) as exc:
                raise AffectProxyError(f"Batch options {dict(value)!r}: {exc}; poll_interval and max_wait are "
                                       "seconds, resubmits a whole number.") from None
            if options.poll_interval <= 0 or options.max_wait <= 0 or options.resubmits < 0:
                raise AffectProxyError(f"Batch options {dict(value)!r}: poll_interval and max_wait must be > 0 "
                                       "seconds and resubmits >= 0.")
            return options
        raise AffectProxyError(f"batch={value!r}: give True, False or a mapping of batch options.")


def supports_batch(provider: Any) -> bool:
    """Whether a provider implements the batch protocol."""
    return all(callable(getattr(provider, m, None)) for m in ("submit_batch", "poll_batch", "batch_results"))


@attrs.define
class _Item:
    """One task on its way through the rounds: its segments, this round's requests and how to read them."""

    task: Any
    ready: list[Any]
    requests: list[LLMRequest]
    read: Callable[[list[LLMAnswer]], Any]
    failures: list[Any]


class _Jobs:
    """Answers one round's requests: cache first, then one job per (provider, model), resumed where recorded."""

    def __init__(self, layer: Any, evaluator: str, options: BatchOptions, progress: bool) -> None:
        self.layer = layer
        self.db = layer.store
        self.evaluator = evaluator
        self.options = options
        self.progress = progress
        self.stop = ""

    def _provider(self, request: LLMRequest) -> Any:
        provider = self.layer.provider_for(request)
        if not supports_batch(provider):
            raise BatchUnsupportedError(
                f"LLM provider {request.provider!r} has no batch mode: run {self.evaluator!r} without batch "
                "(evaluate(batch=False), CLI without --batch).")
        return provider

    def _log(self, request: LLMRequest, status: str, *, error: str = "", response: ProviderResponse | None = None
             ) -> float | None:
        usage = response.usage if response is not None else None
        cost: float | None = 0.0
        if usage is not None:
            price = self.layer.price(request.provider, request.model)
            cost = None if price is None else price.cost(usage, batch=True)
        row: dict[str, Any] = {
            "created": time.time(), "evaluator": self.evaluator, "segment_ids": list(request.segment_ids),
            "provider": request.provider, "model": request.model,
            "model_version": (response.model_version if response is not None else "") or None,
            "cache_key": request.cache_key(), "cached": 0, "batch": 1, "tag": request.tag or None, "status": status,
            "error": error or None, "input_tokens": dict(usage.input_tokens) if usage else {},
            "output_tokens": usage.output_tokens if usage else 0,
            "thinking_tokens": usage.thinking_tokens if usage else 0,
            "cached_tokens": usage.cached_tokens if usage else 0, "cost": cost, "latency": None,
        }
        with self.layer._lock:
            self.layer._rows.append(row)
        if self.db is not None:
            if status == "ok" and response is not None:  # the answer is cached in the same commit as its log row
                from affectproxy.llm.layer import cache_entry

                self.db.log_call(answer=(row["cache_key"], cache_entry(response.text, response.model_version)),
                                 **row)
            else:
                self.db.log_call(**row)
        return cost

    def _commit(self, request: LLMRequest, result: ProviderResponse | BaseException) -> LLMAnswer:
        """Validate one answer of a job, commit it to the cache and the call log, and hand it back."""
        from affectproxy.llm.layer import _restate, _where

        where = _where(request)
        if isinstance(result, BaseException):
            message = f"{type(result).__name__}: {result}"
            self._log(request, "error", error=message)
            return LLMAnswer(request, error=f"{where}: {message}", exception=_restate(result, f"{where}: {message}"))
        usage = result.usage
        if result.blocked or (not result.text.strip() and result.finish_reason == "safety"):
            reason = result.blocked or "safety"
            cost = self._log(request, "blocked", error=reason, response=result)
            error = f"{where}: no answer: {reason}"
            return LLMAnswer(request, error=error, usage=usage, cost=cost, exception=BlockedError(error))
        try:
            data = parse_answer(result.text, request.schema)
        except InvalidAnswerError as exc:
            cost = self._log(request, "invalid", error=str(exc), response=result)
            error = f"{where}: answer invalid (batch mode has no repair round; a rerun asks again): {exc}"
            return LLMAnswer(request, text=result.text, error=error, usage=usage, cost=cost,
                             exception=InvalidAnswerError(error))
        cost = self._log(request, "ok", response=result)
        return LLMAnswer(request, data=data, text=result.text, usage=usage, cost=cost,
                         model_version=result.model_version)

    def run(self, requests: Sequence[LLMRequest]) -> dict[str, LLMAnswer]:
        """Cache key -> answer for every request (an error answer for what could not be had)."""
        from affectproxy.llm.providers import options_key

        unique: dict[str, LLMRequest] = {}
        for r in requests:
            unique.setdefault(r.cache_key(), r)
        answers: dict[str, LLMAnswer] = {}
        groups: dict[tuple[str, str, str], dict[str, LLMRequest]] = {}
        for key, r in unique.items():
            hit = self.layer._from_cache(r, key)
            if hit is not None:
                self.layer._log(r, self.evaluator, "ok", cached=True, cost=0.0, latency=0.0,
                                model_version=hit.model_version)
                answers[key] = hit
                continue
            opts = {**self.layer.config.provider(r.provider).provider_options(), **dict(r.provider_options)}
            groups.setdefault((r.provider, r.model, options_key(opts)), {})[key] = r
        providers = {g: self._provider(next(iter(reqs.values()))) for g, reqs in groups.items()}  # refuse first
        self._settle_intents(providers)
        recorded = self.db.batch_jobs(evaluator=self.evaluator, open_only=True) if self.db is not None else []
        for g, reqs in groups.items():
            provider = providers[g]
            active: list[tuple[str, list[str]]] = []
            for job in recorded:  # resume: jobs submitted by an earlier (killed or stopped) run
                if (job["provider"], job["model"]) == g[:2] and set(job["request_keys"]) & set(reqs):
                    active.append((job["id"], job["request_keys"]))
            covered = {k for _, keys in active for k in keys}
            for attempt in range(self.options.resubmits + 1):
                todo = [k for k in reqs if k not in covered and k not in answers]
                if todo and not self.stop:
                    submitted, too_big = self._submit(provider, g, [reqs[k] for k in todo])
                    active.extend(submitted)
                    answers.update(too_big)
                if not active:
                    break
                for job_id, keys in active:
                    for key, result in self._wait(provider, job_id, keys).items():
                        if key in reqs:
                            answers[key] = self._commit(reqs[key], result)
                active, covered = [], set()
                retry = [k for k in reqs if k in answers and self._retryable(answers[k])]
                if not retry or attempt == self.options.resubmits or self.stop:
                    break
                for k in retry:
                    answers.pop(k)
        for key, r in unique.items():
            if key not in answers:
                exc: BaseException = BudgetExceededError(self.stop) if self.stop else ServiceError(
                    f"{r.provider}/{r.model}: the batch job returned no answer; run again to resubmit it")
                answers[key] = LLMAnswer(r, error=str(exc), exception=exc)
        return answers

    def _settle_intents(self, providers: Mapping[tuple[str, str, str], Any]) -> None:
        """Settle the intents (state ``submitting``) a run killed during submission left for these providers: the
        job the provider finds is recorded as submitted, an intent without one is dropped."""
        if self.db is None:
            return
        by_model = {g[:2]: p for g, p in providers.items()}
        known = {job["id"] for job in self.db.batch_jobs()}
        for job in self.db.batch_jobs(evaluator=self.evaluator):
            provider = by_model.get((job["provider"], job["model"]))
            if job["state"] != "submitting" or provider is None:
                continue
            find = getattr(provider, "find_batch", None)
            found = None
            try:
                if find is not None:
                    found = find(job["id"], created_after=job["created"], n_requests=len(job["request_keys"]),
                                 exclude=known)
            except NotImplementedError:
                find = None
            if find is None:
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job["created"]))
                name, n = job["provider"], len(job["request_keys"])
                warnings.warn(f"{name}/{job['model']}: a batch job of {n} requests may have been submitted at {when} "
                              "without its id being recorded (a run stopped or failed during submission), and "
                              f"{name} cannot look jobs up: check the provider's console and cancel it if it is "
                              "there; its requests are submitted again now.", stacklevel=2)
            if found:
                self.db.settle_batch_job(job["id"], found)
                known.add(found)
            else:
                self.db.drop_batch_job(job["id"])

    @staticmethod
    def _retryable(answer: LLMAnswer) -> bool:
        """A job's per-request error, or no answer from an expired / failed job (not an invalid or blocked
        answer: those are final for this run)."""
        return isinstance(answer.exception, ServiceError) and not isinstance(answer.exception, AuthenticationError)

    def _submit(self, provider: Any, group: tuple[str, str, str], requests: list[LLMRequest]
                ) -> tuple[list[tuple[str, list[str]]], dict[str, LLMAnswer]]:
        """Submit ``requests`` as jobs within the provider's and the options' limits, each recorded as an intent
        before and as submitted after; the jobs (id, keys), and an error answer for each request too large for any
        job."""
        from affectproxy.llm.layer import _where

        budget = self.layer.budget
        if budget is not None:
            requests = self._within_budget(budget, group, requests)
        max_requests = _smallest(getattr(provider, "batch_max_requests", None), self.options.max_requests_per_job)
        max_bytes = _smallest(getattr(provider, "batch_max_bytes", None), self.options.max_bytes_per_job)
        size = getattr(provider, "batch_request_bytes", request_bytes)
        chunks, too_big = split_jobs(requests, size, max_requests=max_requests, max_bytes=max_bytes)
        refused: dict[str, LLMAnswer] = {}
        for r in too_big:
            assert max_bytes is not None
            error = (f"{_where(r)}: the request is {size(r) / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB a "
                     f"{r.provider} batch job may hold; run this evaluator without batch mode, or with shorter "
                     "segments or windows")
            refused[r.cache_key()] = LLMAnswer(r, error=error, exception=AffectProxyError(error))
        jobs = []
        for chunk in chunks:
            keys = [r.cache_key() for r in chunk]
            token = "pending-" + uuid.uuid4().hex
            if self.db is not None:  # a run killed before the id is written leaves this for the rerun to settle
                self.db.put_batch_job(token, provider=group[0], model=group[1], evaluator=self.evaluator, keys=keys,
                                      state="submitting")
            if callable(getattr(provider, "find_batch", None)):
                job_id = provider.submit_batch(chunk, token=token)
            else:
                job_id = provider.submit_batch(chunk)
            if self.db is not None and not self.db.settle_batch_job(token, job_id):  # another run dropped the intent
                self.db.put_batch_job(job_id, provider=group[0], model=group[1], evaluator=self.evaluator, keys=keys)
            jobs.append((job_id, keys))
        return jobs, refused

    def _within_budget(self, budget: Any, group: tuple[str, str, str], requests: list[LLMRequest]
                       ) -> list[LLMRequest]:
        """The requests whose expected cost at the batch price fits the budget (reserved as spent now: a job's
        answers are paid whenever it finishes)."""
        from affectproxy.llm.budget import expected_cost, hold_for
        from affectproxy.llm.providers import get_provider_spec

        price = self.layer.price(group[0], group[1])
        spec = get_provider_spec(group[0])
        tps = getattr(spec, "audio_tokens_per_second", None)
        kept = []
        for r in requests:
            try:
                hold = hold_for(budget, r, price, spec)  # reserves the online price: a safe upper bound
            except BudgetExceededError as exc:
                self.stop = str(exc)
                break
            hold.settle(float(expected_cost(r, price, tps)) * price.batch_factor)  # type: ignore[union-attr]
            kept.append(r)
        return kept

    def _wait(self, provider: Any, job_id: str, keys: list[str]) -> dict[str, ProviderResponse | BaseException]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm

        started = time.monotonic()
        with tqdm(total=len(keys), desc=f"{provider.name} batch {job_id}", unit="req", leave=False,
                  disable=not self.progress) as bar:
            while True:
                state, done, _total = provider.poll_batch(job_id)
                bar.n = min(done, len(keys))
                bar.set_postfix_str(state)
                if state in FINISHED:
                    break
                if time.monotonic() - started > self.options.max_wait:
                    gone = ServiceError(f"batch job {job_id} is still {state} after {self.options.max_wait:g} s; it "
                                        "stays recorded: run again later to collect it (nothing is submitted twice)")
                    self.stop = self.stop or str(gone)
                    return {k: gone for k in keys}
                time.sleep(self.options.poll_interval)
        try:
            results = provider.batch_results(job_id)  # an expired job may still hold some answers (OpenAI)
        except ServiceError:
            results = {}
        if self.db is not None:
            self.db.set_batch_state(job_id, "done" if state == "succeeded" else state)
        missing = ServiceError(f"batch job {job_id} ended {state} without this answer; a rerun resubmits it")
        return {k: results.get(k, missing) for k in keys}


def _smallest(*limits: int | None) -> int | None:
    given = [n for n in limits if n is not None]
    return min(given) if given else None


def run_batch(driver: Any, tasks: Sequence[Any], options: BatchOptions) -> None:
    """Run one LLM evaluator's tasks as batch jobs (see the module docstring); saves through ``driver._save``.

    Args:
        driver: the engine's per-evaluator driver (evaluator, execution, store, progress bar).
        tasks: the planned ``llm`` tasks.
        options: the batch options.

    Raises:
        BatchUnsupportedError: a provider the evaluator asks has no batch mode (nothing was submitted).
    """
    from affectproxy.execution import Context, Outcome, failure

    ex = driver.execution
    ev: Any = ex.ev
    context = Context(ex.every, ev.sample_rate, ex.readers, ex.audio_hint)
    items: list[_Item] = []
    for task in tasks:
        ready, failures = ex._prepare(task)
        if not ready:
            driver._save(Outcome(task, failures=failures))
            continue
        try:
            requests = list(ev.requests(ready, context))
        except Exception as exc:
            driver._save(Outcome(task, failures=failures + [failure(ev, ex.fp, s, exc) for s in ready]))
            continue
        items.append(_Item(task, ready, requests, functools.partial(ev.read, ready), failures))
    jobs = _Jobs(ex.layer, ev.name, options, progress=not getattr(driver.bar, "disable", True))
    while items:
        try:
            answers = jobs.run([r for it in items for r in it.requests])
        except AuthenticationError as exc:
            for it in items:
                driver._save(Outcome(it.task, failures=it.failures + [failure(ev, ex.fp, s, exc) for s in it.ready]))
            driver.stopped = driver.stopped or str(exc)
            return
        later: list[_Item] = []
        for it in items:
            mine = [attrs.evolve(answers[r.cache_key()], request=r) for r in it.requests]
            if jobs.stop and any(isinstance(a.exception, BudgetExceededError) for a in mine):
                driver._save(Outcome(it.task, failures=it.failures))  # not started: no failure recorded
                continue
            try:
                result = it.read(mine)
                if isinstance(result, FollowUp):
                    later.append(_Item(it.task, it.ready, list(result.requests), result.read, it.failures))
                    continue
                result = list(result)
                if len(result) != len(it.ready):
                    raise AffectProxyError(f"{ev.name!r}.read() returned {len(result)} results for {len(it.ready)} "
                                           "segments; it must return one estimate (or exception) per segment.")
            except Exception as exc:
                driver._save(Outcome(it.task, failures=it.failures + [failure(ev, ex.fp, s, exc) for s in it.ready]))
                continue
            done, bad = ex._validated(list(zip(it.ready, result, strict=True)))
            driver._save(Outcome(it.task, done, it.failures + bad))
        if jobs.stop:
            driver.stopped = driver.stopped or jobs.stop
        items = later


__all__ = ["POLL_VARIABLE", "REQUEST_OVERHEAD", "BatchOptions", "BatchProvider", "BatchUnsupportedError",
           "BatchViaModule", "request_bytes", "run_batch", "split_jobs", "supports_batch"]
