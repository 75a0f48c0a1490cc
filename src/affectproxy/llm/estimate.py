"""Know the cost before paying: what a run's LLM calls would cost, without making one paid call.

:func:`estimate` plans the run exactly as :func:`affectproxy.evaluate` would (the same pending segments, the
same tasks, the same ``requests(segments, context)`` calls with audio filled and neighbours given), then prices
every request instead of sending it:

- **calls**: one per request not yet answered (requests whose answer is already in the store's response cache
  are listed as cached and cost nothing);
- **input tokens by modality**: audio at the provider's tokens per second
  (:attr:`~affectproxy.llm.types.ProviderSpec.audio_tokens_per_second`, e.g. 32 for Gemini); text counted by the
  provider's own count-tokens call where it has one (``count_tokens(request) -> int``, given the request without
  its audio; free of charge: Gemini's countTokens, which counts the system prompt as one more text part since it
  takes none, and Anthropic's messages.count_tokens, with the system prompt and output schema as sent), else
  estimated at 4 characters per token (OpenAI: chat completions have no count call), and the result says which;
  the providers built for counting are closed before :func:`estimate` returns;
- **output tokens**: the evaluator's ``expected_output_tokens`` per request, always an estimate;
- **cost**: from the provider's price table (or the ``llm`` option ``prices``), None when the model has no price.

Rounds that depend on answers (a :class:`~affectproxy.llm.types.FollowUp`, e.g. TRUST's ``llm`` supervisor) and
repair retries cannot be known in advance and are not included; the result's notes say so.

Example::

    est = ap.estimate(segments, ["gemini"], store="study.sqlite")
    print(est.format())
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from affectproxy.hashing import canonical_json
from affectproxy.llm.types import LLMRequest, Price, Usage

#: Characters per token for text that no count-tokens call counted.
CHARS_PER_TOKEN = 4.0


@attrs.frozen
class RequestCost:
    """The estimate for one request.

    Attributes:
        evaluator: the evaluator's instance name.
        provider, model: where the request would go.
        segment_ids: the segments it is about.
        input_tokens: modality -> prompt tokens (audio from its seconds, text counted or estimated).
        text_counted: True when the provider's count-tokens call counted the text; False when estimated.
        output_tokens: the evaluator's expected answer length (an estimate).
        audio_seconds: seconds of audio sent.
        cost: USD, None when the model has no known price (0.0 when cached).
        cached: the answer is already in the store's response cache (nothing to pay).
    """

    evaluator: str
    provider: str
    model: str
    segment_ids: tuple[str, ...]
    input_tokens: Mapping[str, int]
    text_counted: bool
    output_tokens: int
    audio_seconds: float
    cost: float | None
    cached: bool = False


@attrs.frozen
class Estimate:
    """What a run would cost (see the module docstring).

    Attributes:
        requests: one :class:`RequestCost` per request the run would make (cached ones included, flagged).
        pending: evaluator name -> segments not yet done in the store.
        notes: what the estimate leaves out or could not count (one line each).
    """

    requests: tuple[RequestCost, ...] = ()
    pending: Mapping[str, int] = attrs.field(factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def cost(self) -> float | None:
        """The total in USD for the calls to pay for, None when any of them has no known price."""
        costs = [r.cost for r in self.requests if not r.cached]
        return None if any(c is None for c in costs) else float(sum(c for c in costs if c is not None))

    @property
    def known_cost(self) -> float:
        """The total over the calls with a known price."""
        return float(sum(r.cost for r in self.requests if not r.cached and r.cost is not None))

    def to_pandas(self) -> Any:
        """One row per (evaluator, provider, model): calls, cached, input tokens per modality (``tokens_<m>``),
        ``text`` ("counted" / "estimated" / "mixed"), ``output_tokens_est``, ``audio_hours``, ``cost``."""
        import pandas as pd

        groups: dict[tuple[str, str, str], list[RequestCost]] = {}
        for r in self.requests:
            groups.setdefault((r.evaluator, r.provider, r.model), []).append(r)
        modalities = sorted({m for r in self.requests for m in r.input_tokens})
        rows = []
        for (ev, provider, model), reqs in groups.items():
            paid = [r for r in reqs if not r.cached]
            row: dict[str, Any] = {"evaluator": ev, "provider": provider, "model": model, "calls": len(paid),
                                   "cached": len(reqs) - len(paid)}
            for m in modalities:
                row[f"tokens_{m}"] = sum(int(r.input_tokens.get(m, 0)) for r in paid)
            counted = {r.text_counted for r in paid}
            row["text"] = "counted" if counted == {True} else ("estimated" if counted == {False} else
                                                                ("mixed" if counted else ""))
            row["output_tokens_est"] = sum(r.output_tokens for r in paid)
            row["audio_hours"] = sum(r.audio_seconds for r in paid) / 3600.0
            costs = [r.cost for r in paid]
            row["cost"] = None if any(c is None for c in costs) else float(sum(c for c in costs if c is not None))
            rows.append(row)
        columns = ["evaluator", "provider", "model", "calls", "cached", *[f"tokens_{m}" for m in modalities],
                   "text", "output_tokens_est", "audio_hours", "cost"]
        return pd.DataFrame(rows, columns=columns)

    def format(self) -> str:
        """The dry run's printout: one block per evaluator, then the total and the notes."""
        lines = []
        frame = self.to_pandas()
        for ev, pending in self.pending.items():
            part = frame[frame["evaluator"] == ev]
            if part.empty:
                lines.append(f"{ev}: {pending} pending segment(s), no paid calls")
                continue
            for _, row in part.iterrows():
                tokens = ", ".join(f"{c[len('tokens_'):]} {int(row[c]):,}" for c in frame.columns
                                   if c.startswith("tokens_") and row[c])
                text = {"counted": " (text counted by the provider)",
                        "estimated": " (text estimated at ~4 characters per token)",
                        "mixed": " (text partly counted, partly estimated)"}.get(row["text"], "")
                cost = "unknown (no price for this model)" if _missing(row["cost"]) else f"${row['cost']:.4f}"
                cached = f", {int(row['cached'])} answered from the cache" if row["cached"] else ""
                lines.append(f"{ev} [{row['provider']}/{row['model']}]: {pending} pending segment(s), "
                             f"{int(row['calls'])} call(s){cached}; input tokens: {tokens or 'none'}{text}; "
                             f"output tokens ~{int(row['output_tokens_est']):,} (estimate); cost {cost}")
        total = self.cost
        calls = sum(1 for r in self.requests if not r.cached)
        money = f"${total:.4f}" if total is not None else (
            f"unknown (priced part ${self.known_cost:.4f}; some models have no price)")
        lines.append(f"total: {calls} paid call(s), cost {money} (output tokens are estimates); no call was made.")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(math.isnan(float(value)))
    except (TypeError, ValueError):
        return False


def audio_tokens(request: LLMRequest, tokens_per_second: float | None) -> tuple[int, float]:
    """(audio tokens, seconds) of a request: each audio or file part's seconds times the provider's rate,
    rounded per part (as the services count)."""
    rate = 32.0 if tokens_per_second is None else float(tokens_per_second)
    seconds = [p.seconds for p in request.parts if p.kind in ("audio", "file")]
    return sum(round(s * rate) for s in seconds), float(sum(seconds))


def text_request(request: LLMRequest) -> LLMRequest:
    """The request without its audio and file parts (system prompt, text and schema kept), for counting; a
    provider whose count call takes no system prompt counts it as one more text part itself."""
    return attrs.evolve(request, parts=tuple(p for p in request.parts if p.kind == "text"))


def estimate_text_tokens(request: LLMRequest) -> int:
    """Text tokens estimated at :data:`CHARS_PER_TOKEN` characters per token (system prompt and text parts)."""
    chars = len(request.system) + sum(len(p.text) for p in request.parts if p.kind == "text")
    return math.ceil(chars / CHARS_PER_TOKEN)


class _Pricer:
    """Prices, token rates and token counters per provider, from the ``llm`` options and the provider specs."""

    def __init__(self, llm: Mapping[str, Any] | None, count: bool) -> None:
        from affectproxy.llm.config import LLMConfig

        self.config = LLMConfig.from_mapping(llm or {})
        self.count = count
        self.notes: list[str] = []
        self._counters: dict[tuple[str, str], Any] = {}
        self._built: list[Any] = []  # the providers built for counting; close() closes them
        self._counted: dict[tuple[str, ...], int] = {}  # the same text is counted once
        self._noted: set[tuple[str, ...]] = set()

    def note(self, key: tuple[str, ...], text: str) -> None:
        if key not in self._noted:
            self._noted.add(key)
            self.notes.append(text)

    def spec(self, provider: str) -> Any:
        from affectproxy.llm.providers import get_provider_spec

        return get_provider_spec(provider)

    def price(self, provider: str, model: str) -> Price | None:
        from affectproxy.llm.types import PriceTable

        override = PriceTable(self.config.provider(provider).prices).get(model)
        return override if override is not None else self.spec(provider).prices.get(model)

    def counter(self, request: LLMRequest) -> Any:
        """The ``count_tokens`` of a provider instance built for this estimate (one per provider options; closed
        by :meth:`close`), or None (no such method, no key, not installed)."""
        from affectproxy.errors import AffectProxyError
        from affectproxy.llm.providers import build_provider, options_key

        options = {**self.config.provider(request.provider).provider_options(), **dict(request.provider_options)}
        key = (request.provider, options_key(options))
        if key not in self._counters:
            fn = None
            try:
                provider = build_provider(request.provider, **options)
                self._built.append(provider)
                fn = getattr(provider, "count_tokens", None)
                if fn is None:
                    self.note(("nocount", request.provider),
                              f"{request.provider} has no count-tokens call: its text tokens are estimated at "
                              f"~{CHARS_PER_TOKEN:g} characters per token.")
            except AffectProxyError as exc:
                self.note(("nobuild", request.provider),
                          f"{request.provider}: text tokens estimated at ~{CHARS_PER_TOKEN:g} characters per token, "
                          f"since its count-tokens call cannot be used here ({type(exc).__name__}: {exc}).")
            self._counters[key] = fn
        return self._counters[key]

    def close(self) -> None:
        """Close the providers built for counting (their SDK clients' connections); a failure is a note."""
        built, self._built = self._built, []
        self._counters.clear()
        for provider in built:
            close = getattr(provider, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:  # cleanup must not hide the estimate
                    self.note(("closefail", provider.name), f"{provider.name}: closing the provider used for "
                                                            f"counting failed ({type(exc).__name__}: {exc}).")

    def text_tokens(self, request: LLMRequest) -> tuple[int, bool]:
        if not any(p.kind == "text" and p.text for p in request.parts) and not request.system:
            return 0, True
        if self.count:
            fn = self.counter(request)
            if fn is not None:
                from affectproxy.errors import AffectProxyError

                timeout = self.config.provider(request.provider).timeout
                texts = text_request(request)
                schema = canonical_json(dict(request.schema)) if request.schema is not None else ""
                memo = (request.provider, request.model, request.system, schema, *(p.text for p in texts.parts))
                if memo in self._counted:
                    return self._counted[memo], True
                try:
                    self._counted[memo] = int(fn(texts, timeout=timeout))
                    return self._counted[memo], True
                except AffectProxyError as exc:
                    self.note(("countfail", request.provider),
                              f"{request.provider}: the count-tokens call failed ({type(exc).__name__}: {exc}); "
                              f"text tokens estimated at ~{CHARS_PER_TOKEN:g} characters per token instead.")
        return estimate_text_tokens(request), False

    def cost_of(self, evaluator: str, request: LLMRequest, cached: bool) -> RequestCost:
        spec = self.spec(request.provider)
        audio, seconds = audio_tokens(request, spec.audio_tokens_per_second)
        text, counted = (0, True) if cached else self.text_tokens(request)
        inputs = {"text": text}
        if audio:
            inputs["audio"] = audio
        price = self.price(request.provider, request.model)
        if cached:
            cost: float | None = 0.0
        elif price is None:
            cost = None
            self.note(("noprice", request.provider, request.model),
                      f"{request.provider}/{request.model} has no known price: its cost is unknown (add it with "
                      f"llm={{'{request.provider}': {{'prices': {{'{request.model}': {{'input': ..., "
                      "'output': ...}}}}}}}}, USD per 1M tokens).")
        else:
            cost = price.cost(Usage(inputs, request.expected_output_tokens))
        return RequestCost(evaluator, request.provider, request.model, tuple(request.segment_ids), inputs, counted,
                           request.expected_output_tokens, seconds, cost, cached)


def _open_store(store: Any) -> tuple[Any, bool]:
    """(store or None, whether we opened it). A path that does not exist is an empty store (nothing created)."""
    from affectproxy.store import Store

    if store is None or isinstance(store, Store):
        return store, False
    if not Path(store).exists():
        return None, False
    return Store(store), True


def estimate(
    segments: Sequence[Any],
    evaluators: Any,
    store: Any = None,
    llm: Mapping[str, Any] | None = None,
    *,
    batch_size: int | None = None,
    count: bool = True,
    route: Any = None,
) -> Estimate:
    """What running ``evaluators`` over ``segments`` would cost in LLM calls, for what is not yet done in
    ``store``; no paid call is made (see the module docstring).

    Args:
        segments: the run's segments.
        evaluators: as for :func:`affectproxy.evaluate` (names, mappings with ``type``, instances).
        store: the study's store (a path or a :class:`~affectproxy.store.Store`): segments done there and answers
            in its response cache are not counted. None, or a path that does not exist yet: nothing is done.
        llm: the LLM options of the run (price overrides, ``base_url``, keys), as for ``evaluate``.
        batch_size: as for ``evaluate``.
        count: count text with the providers' count-tokens calls where they have one (free, but one call per
            request); False estimates every text at ~4 characters per token.
        route: a routing step as for ``evaluate`` (:class:`affectproxy.routing.Route` or a mapping): ``then`` is
            priced only on the segments the rule selects from ``first``'s estimates in the store; segments
            ``first`` has not rated yet count as routed (an upper bound; run ``first`` first to tighten it).

    Returns:
        An :class:`Estimate`; ``print(est.format())`` gives the dry run's printout.
    """
    from affectproxy.engine import check_unique_ids, resolve
    from affectproxy.execution import Context, Execution, Readers
    from affectproxy.hashing import fingerprint_hash
    from affectproxy.planning import batch_size as _batch_size
    from affectproxy.planning import is_llm, plan_tasks

    segments = list(segments)
    check_unique_ids(segments)
    built: list[Any] = [ev for ev, _ in resolve(evaluators)]
    plan = _route(route, built)
    db, opened = _open_store(store)
    pricer = _Pricer(llm, count)
    readers = Readers()
    out: list[RequestCost] = []
    pending: dict[str, int] = {}
    failing: dict[str, int] = {}
    try:
        for ev in built:
            mine = segments
            if plan is not None and ev.name == plan.then:
                ev, mine = _routed(ev, plan, built, segments, db, pricer)
            fp = fingerprint_hash(ev.fingerprint())
            done = db.done(fp) if db is not None else set()
            pending[ev.name] = sum(s.id not in done for s in mine)
            if not is_llm(ev):
                continue
            tasks, _ = plan_tasks(ev, mine, done, set(), _batch_size(ev, batch_size))
            execution = Execution(ev, fp, readers, segments, None, "")
            context = Context(segments, ev.sample_rate, readers)
            for task in tasks:
                ready, failures = execution._prepare(task)
                failing[ev.name] = failing.get(ev.name, 0) + len(failures)
                if not ready:
                    continue
                for request in ev.requests(ready, context):
                    cached = db is not None and db.cache_get(request.cache_key()) is not None
                    out.append(pricer.cost_of(ev.name, request, cached))
            if getattr(ev, "supervisor", None) == "llm" or callable(getattr(ev, "followups", None)):
                pricer.note(("followup", ev.name), f"{ev.name}: rounds that depend on the answers (e.g. an llm "
                                                   "supervisor) are not included.")
    finally:
        pricer.close()
        readers.close()
        if opened:
            db.close()
    notes = list(pricer.notes)
    for name, n in failing.items():
        if n:
            notes.append(f"{name}: {n} segment(s) would fail before any request (too short, no text or no audio); "
                         "they are not counted.")
    if out:
        notes.append("Repair retries (answers sent back for not matching the schema) and retries after errors are "
                     "not included; failed attempts are not billed.")
    return Estimate(tuple(out), pending, tuple(notes))


def _route(route: Any, built: Sequence[Any]) -> Any:
    """The routing step as a :class:`~affectproxy.routing.Route`, checked against the evaluators (or None)."""
    if route is None:
        return None
    from affectproxy.routing import Route, RoutingError

    plan = route if isinstance(route, Route) else Route.from_mapping(route)
    names = [ev.name for ev in built]
    for role in ("first", "then"):
        if getattr(plan, role) not in names:
            raise RoutingError(f"routing {role} = {getattr(plan, role)!r} is not one of the evaluators "
                               f"({', '.join(names)}).")
    return plan


def _routed(ev: Any, plan: Any, built: Sequence[Any], segments: Sequence[Any], db: Any, pricer: _Pricer
            ) -> tuple[Any, list[Any]]:
    """``then`` as the routed evaluator, and the segments it would see."""
    from affectproxy.hashing import fingerprint_hash
    from affectproxy.routing import RoutedEvaluator, select

    first = next(e for e in built if e.name == plan.first)
    first_fp = fingerprint_hash(first.fingerprint())
    firsts = {e.segment_id: e for e in db.estimates(first_fp)} if db is not None else {}
    decisions = select(segments, firsts, plan.when)
    mine = [s for s in segments if decisions[s.id]["routed"]]
    unrated = sum(not d["first_estimate"] for d in decisions.values())
    text = (f"routing: {len(mine)} of {len(segments)} segment(s) go to {plan.then!r} "
            f"({plan.when.describe()} on {plan.first!r})")
    if unrated:
        text += (f"; {unrated} of them have no {plan.first!r} estimate in the store yet and count as routed (an "
                 f"upper bound: run {plan.first!r} first for a tighter estimate)")
    pricer.note(("route", plan.then), text + ".")
    return RoutedEvaluator(ev, plan, first_fp, segments), mine


def dry_run(study: Any, *, store: Any = None, batch_size: int | None = None) -> str:
    """The printout of ``affectproxy run STUDY --dry-run``: the study's segments and evaluators (built, but not
    required to be able to run here: a dry run needs no key), priced against its store.

    Args:
        study: a :class:`~affectproxy.study.Study`.
        store: another store than the study's (the CLI's ``--store``).
        batch_size: as for the run.
    """
    target = store or study.store
    est = estimate(study.load_segments(), list(study.evaluators), store=target, llm=study.llm or None,
                   batch_size=batch_size, route=getattr(study, "routing", None))
    head = f"Dry run of {study.source} against {target} (no paid call is made):"
    text = head + "\n" + est.format()
    if study.max_cost is not None:
        total = est.cost if est.cost is not None else est.known_cost
        verdict = "within" if total <= study.max_cost else "OVER"
        from affectproxy.llm.budget import usd

        text += (f"\nbudget: max_cost {usd(study.max_cost)}; this estimate ({usd(total)}) is {verdict} it "
                 "(each run may spend up to max_cost).")
    return text


__all__ = ["CHARS_PER_TOKEN", "Estimate", "RequestCost", "audio_tokens", "dry_run", "estimate",
           "estimate_text_tokens", "text_request"]
