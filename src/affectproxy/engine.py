"""The run engine: plan, execute, save.

- **plan** (:mod:`affectproxy.planning`): which (segment, evaluator) pairs are pending, in which batches, groups or
  LLM request calls. Resume is one rule: skip the (segment, fingerprint) pairs already saved.
- **execute** (:mod:`affectproxy.execution`): read audio, call the evaluator, validate; returns results and
  failures and touches no store. An executor (:mod:`affectproxy.executors`) runs it: sequentially (acoustic
  models; the default) or on threads (LLM evaluators, with the LLM layer's limits deciding how many requests are
  in flight).
- **save**: this module's driver loop is the one writer; it commits each outcome the moment its call completes.

Group-wise evaluators that split their work into a per-segment ``measure`` and a per-group ``combine`` are run
incrementally: per-segment results are saved as they come and never recomputed, the group step runs when its
group is complete, and the progress bar moves per segment.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

import attrs

from affectproxy.errors import AffectProxyError, InvalidSegmentError
from affectproxy.evaluator import Evaluator
from affectproxy.execution import Execution, Outcome, Readers, check_estimate
from affectproxy.executors import Executor, SequentialExecutor, ThreadExecutor
from affectproxy.model import Segment
from affectproxy.planning import DEFAULT_BATCH_SIZE, Recipe, Task, group_key, is_incremental, is_llm, plan_tasks
from affectproxy.planning import batch_size as _batch_size
from affectproxy.registry import check_evaluators, get_evaluator
from affectproxy.results import Results
from affectproxy.store import Store

EvaluatorLike = str | Evaluator | Mapping[str, Any]


class RunFailuresWarning(RuntimeWarning):
    """Some segments failed in a run (one warning per evaluator; the details are in ``Results.failures``)."""


@attrs.frozen
class RunSummary:
    """What one evaluator did in one run.

    Attributes:
        evaluator: the instance name.
        total: segments in the run.
        new: estimates saved by this run.
        already_done: segments that already had an estimate under the same fingerprint.
        failed: segments that have no estimate and a recorded failure after this run.
        first_failure: the first failure's message ('' when none).
        stopped: why the evaluator stopped early ('' when it did not; e.g. credentials refused).
    """

    evaluator: str
    total: int
    new: int
    already_done: int
    failed: int
    first_failure: str = ""
    stopped: str = ""

    def line(self) -> str:
        """One line for the CLI: ``prosody: 12 new, 39 already done, 0 failed``."""
        text = f"{self.evaluator}: {self.new} new, {self.already_done} already done, {self.failed} failed"
        if self.first_failure:
            text += f" (first: {self.first_failure})"
        if self.stopped:
            text += f"; stopped: {self.stopped}"
        return text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def resolve(evaluators: Sequence[EvaluatorLike] | EvaluatorLike) -> list[tuple[Evaluator, Recipe | None]]:
    """Build evaluators from names, ``{"type": name, **options}`` mappings or instances; each with the recipe
    that rebuilds it elsewhere (None for an instance given directly)."""
    if isinstance(evaluators, (str, Mapping)) or not isinstance(evaluators, Sequence):
        evaluators = [evaluators]  # type: ignore[list-item]
    out: list[tuple[Evaluator, Recipe | None]] = []
    for i, ev in enumerate(evaluators, start=1):
        if isinstance(ev, str):
            out.append((get_evaluator(ev), Recipe(ev)))
        elif isinstance(ev, Mapping):
            options = dict(ev)
            if "type" not in options:
                raise AffectProxyError(f"Evaluator #{i} {options!r} has no 'type': give the registry name, e.g. "
                                       "{'type': 'table', 'path': ...}.")
            kind = options.pop("type")
            options.pop("ray", None)  # cluster resources for engine="ray"; nothing to do locally
            try:
                out.append((get_evaluator(kind, **options), Recipe(kind, options)))
            except AffectProxyError:
                raise
            except (TypeError, ValueError) as exc:
                raise AffectProxyError(f"Evaluator #{i} ({kind!r}) rejected its options "
                                       f"{', '.join(sorted(options)) or '(none)'}: {exc}") from exc
        else:
            out.append((ev, None))
    names = [ev.name for ev, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise AffectProxyError(
            f"Two evaluators are named {dup[0]!r}: give each its own label with the name= option, e.g. "
            f"get_evaluator('table', path=..., name='trust')."
        )
    return out


def check_unique_ids(segments: Sequence[Segment]) -> None:
    """Raise InvalidSegmentError naming the ids that occur more than once."""
    seen: set[str] = set()
    dup = [s.id for s in segments if s.id in seen or seen.add(s.id)]  # type: ignore[func-returns-value]
    if dup:
        raise InvalidSegmentError(
            f"Duplicate segment ids: {sorted(set(dup))[:10]}. Each segment needs its own id; fix the segment table."
        )


def _executor(choice: str | Executor | None, ev: Evaluator, layer: Any) -> Executor:
    if choice is not None and not isinstance(choice, str):
        return choice
    if choice is None:
        choice = "threads" if is_llm(ev) else "sequential"
    if choice == "sequential":
        return SequentialExecutor()
    if choice == "threads":
        workers = getattr(layer, "max_in_flight", None) or getattr(ev, "max_workers", None) or 4
        return ThreadExecutor(int(workers))
    raise AffectProxyError(f"Unknown executor {choice!r}: use 'sequential', 'threads' or an Executor instance.")


@attrs.define
class _Driver:
    """Runs one evaluator: keeps the executor fed, saves each outcome at once, adds group steps when due."""

    ev: Evaluator
    fp: str
    db: Store
    every: list[Segment]
    execution: Execution
    executor: Executor
    bar: Any
    todo: set[str]
    new: int = 0
    stopped: str = ""

    def run(self, tasks: list[Task], groups: dict[Any, list[Segment]]) -> None:
        queue: deque[Task] = deque(tasks)
        waiting: dict[Any, set[str]] = {}
        key = group_key(self.ev)
        if groups:
            measured = set(self.db.partials(self.fp, [s.id for m in groups.values() for s in m]))
            for k, members in groups.items():
                waiting[k] = {s.id for s in members if s.id not in measured}
                if not waiting[k]:
                    queue.append(self._combine(k, members))
        in_flight: dict[Future[Outcome], Task] = {}
        try:
            while queue or in_flight:
                while queue and len(in_flight) < self.executor.capacity and not self.stopped:
                    task = queue.popleft()
                    in_flight[self.executor.submit(self.execution, task)] = task
                if not in_flight:
                    break
                finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                for fut in finished:
                    in_flight.pop(fut)
                    outcome = fut.result()
                    self._save(outcome)
                    if outcome.stop and not self.stopped:
                        self.stopped = outcome.stop
                    if outcome.task.kind == "measure":
                        for seg in outcome.task.segments:
                            k = key(seg)
                            waiting[k].discard(seg.id)
                            if not waiting[k]:
                                queue.append(self._combine(k, groups[k]))
        finally:
            for fut in in_flight:
                fut.cancel()

    def _combine(self, k: Any, members: list[Segment]) -> Task:
        measures = self.db.partials(self.fp, [s.id for s in members])
        return Task(self.ev.name, "combine", [s for s in members if s.id in measures], grouped=True,
                    measures=measures)

    def _save(self, outcome: Outcome) -> None:
        if outcome.measures:
            self.db.put_partials(self.fp, outcome.measures)
        if outcome.estimates or outcome.failures:
            self.db.commit(self.fp, outcome.estimates, outcome.failures)
        self.new += sum(e.segment_id in self.todo for e in outcome.estimates)
        if outcome.task.kind != "combine":  # the bar moves per segment handled (measured, scored or failed)
            self.bar.update(sum(s.id in self.todo for s in outcome.task.segments))


def preflight(evaluators: Sequence[Evaluator], llm: Mapping[str, Any] | None) -> None:
    """Stop before anything starts when an evaluator cannot run here, naming every problem at once (LLM
    evaluators' checks see the run's ``llm`` settings).

    Raises:
        AffectProxyError: the problems, each with its fix; LLMConfigError: bad ``llm`` settings.
    """
    problems = check_evaluators(evaluators, llm=llm)
    if problems:
        raise AffectProxyError(
            f"{_plural(len(problems), 'evaluator')} cannot run here, so nothing was started: "
            + "; ".join(str(p) for p in problems)
            + ". Fix these, or leave those evaluators out (CLI: --skip-unavailable)."
        )


def evaluate(
    segments: Sequence[Segment],
    evaluators: Sequence[EvaluatorLike] | EvaluatorLike,
    *,
    store: str | Path | Store | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    executor: str | Executor | None = None,
    llm: Mapping[str, Any] | None = None,
    max_cost: float | None = None,
    replace_changed: bool = False,
    audio_hint: str = "",
    engine: str = "local",
    address: str | None = None,
    route: Any = None,
    batch: bool | Mapping[str, Any] = False,
) -> Results:
    """Run evaluators over segments, committing every estimate to a SQLite store as it arrives.

    A rerun with the same store skips every (segment, evaluator fingerprint) already done and retries recorded
    failures. One segment's failure (bad audio, too short, an evaluator error, NaN output) is recorded in
    ``Results.failures`` and never loses the others; one warning per evaluator with failures says how many and
    the first. ``Results.summary`` holds a :class:`RunSummary` per evaluator.

    Args:
        segments: the ordered segments (see :func:`affectproxy.load_segments`).
        evaluators: registry names, evaluator instances, or mappings ``{"type": name, **options}``.
        store: a SQLite file path (created if missing), a :class:`~affectproxy.store.Store`, or None for an
            in-memory store (nothing survives the process).
        batch_size: segments per ``evaluate`` call; default: each evaluator's ``batch_size`` attribute, else 8
            (1 for LLM evaluators).
        progress: show a tqdm progress bar per evaluator.
        executor: ``"sequential"`` (the default for acoustic evaluators), ``"threads"`` (the default for LLM
            evaluators: as many tasks in flight as the LLM layer allows), or an executor instance.
        llm: options for the LLM layer, per provider (``{"gemini": {"max_in_flight": 8, "rpm": 60}}``); see
            :class:`affectproxy.llm.layer.LLMConfig`.
        max_cost: a budget in USD for this run's paid LLM calls (None: no limit). No call starts that would
            exceed it; then the evaluators stop (``Results.summary[i].stopped`` says so), every finished answer
            is kept, and a rerun continues. See docs/cost.md.
        replace_changed: a stored segment whose times, text or recording changed and that already has estimates
            is refused unless this is True; then its old estimates are deleted and it is evaluated again.
            (A changed segment with no estimates always takes its new times and text.)
        audio_hint: appended to "no audio file" messages (the CLI names the study file's ``audio`` key).
        engine: ``"local"`` (this process; the default) or ``"ray"`` (a Ray cluster: the ``affectproxy[ray]``
            extra; see docs/scaling.md and :func:`affectproxy.cluster.engine.evaluate_on_ray`).
        address: the Ray cluster's address for ``engine="ray"`` (None: start a local one).
        route: a routing step, ``{"first": "emotion2vec", "then": "gemini", "when": "top_probability < 0.6"}`` (or
            an :class:`affectproxy.routing.Route`): ``then`` runs only on the segments the rule selects from
            ``first``'s estimates (see :mod:`affectproxy.routing` and docs/cost.md).
        batch: run LLM evaluators as provider batch jobs at the batch price (answers within up to 24 h; resumable;
            see :mod:`affectproxy.llm.batchmode` and docs/cost.md); True, or options such as
            ``{"poll_interval": 30}``. Local engine only.

    Returns:
        :class:`Results` over the given segments and evaluators.

    Raises:
        UnknownEvaluatorError, MissingDependencyError: an evaluator name cannot be resolved.
        InvalidSegmentError: duplicate segment ids.
        StoreError: the store cannot be opened or written, or holds changed segments that have estimates.

    Examples:
        >>> import affectproxy as ap, pandas as pd, tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> pd.DataFrame({"segment_id": ["a", "b"], "arousal": [0.2, -0.4]}).to_csv(folder / "r.csv", index=False)
        >>> rec = ap.Recording("talk")
        >>> segs = [ap.Segment("a", rec, 0, 2), ap.Segment("b", rec, 2, 4)]
        >>> res = ap.evaluate(segs, [{"type": "table", "path": folder / "r.csv", "name": "human"}], progress=False)
        >>> res.to_pandas()[["segment_id", "evaluator", "dimension", "value"]]
          segment_id evaluator dimension  value
        0          a     human   arousal    0.2
        1          b     human   arousal   -0.4
        >>> res.summary[0].line()
        'human: 2 new, 0 already done, 0 failed'
    """
    with warnings.catch_warnings():  # tqdm.auto warns in notebooks without ipywidgets, then falls back
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm

    from affectproxy.llm.batchmode import BatchOptions

    batching = BatchOptions.of(batch)
    if batching is not None and (route is not None or engine != "local"):
        raise AffectProxyError("batch mode runs on the local engine without a route: drop batch, or route/engine.")
    if route is not None:
        from affectproxy.routing import evaluate_routed

        return evaluate_routed(segments, evaluators, route, store=store, batch_size=batch_size, progress=progress,
                               executor=executor, llm=llm, max_cost=max_cost, replace_changed=replace_changed,
                               audio_hint=audio_hint, engine=engine, address=address)
    if engine == "ray":
        from affectproxy.cluster.engine import evaluate_on_ray

        return evaluate_on_ray(segments, evaluators, store=store, batch_size=batch_size, progress=progress, llm=llm,
                               replace_changed=replace_changed, audio_hint=audio_hint, address=address,
                               max_cost=max_cost)
    if engine != "local":
        raise AffectProxyError(f"Unknown engine {engine!r}: use 'local' or 'ray'.")
    segments = list(segments)
    check_unique_ids(segments)
    built = resolve(evaluators)
    preflight([ev for ev, _ in built], llm)
    db = store if isinstance(store, Store) else Store(store)
    readers = Readers()
    layer = None
    fingerprints: list[str] = []
    summaries: list[RunSummary] = []
    try:
        db.put_segments(segments, replace=replace_changed)
        if any(is_llm(ev) for ev, _ in built):
            from affectproxy.llm.layer import LLMConfig, LLMLayer

            layer = LLMLayer(db, config=LLMConfig.from_mapping(llm or {}), max_cost=max_cost)
        for ev, _recipe in built:
            fp = db.put_evaluator(ev.name, ev.fingerprint(), ev.dimensions)
            if callable(getattr(ev, "use_cache", None)):
                from affectproxy.cache import ResponseCache

                ev.use_cache(ResponseCache(db))  # type: ignore[attr-defined]
            fingerprints.append(fp)
            done = db.done(fp)
            todo = {s.id for s in segments if s.id not in done}
            measured = set(db.partials(fp)) if is_incremental(ev) else set()
            tasks, groups = plan_tasks(ev, segments, done, measured, _batch_size(ev, batch_size))
            execution = Execution(ev, fp, readers, segments, layer, audio_hint)
            with _executor(executor, ev, layer) as pool, tqdm(  # type: ignore[attr-defined]
                total=len(segments), initial=len(segments) - len(todo), desc=ev.name, unit="seg",
                disable=not progress, leave=True,
            ) as bar:
                driver = _Driver(ev, fp, db, segments, execution, pool, bar, todo)
                if batching is not None and is_llm(ev):
                    from affectproxy.llm.batchmode import run_batch

                    run_batch(driver, tasks, batching)
                else:
                    driver.run(tasks, groups)
            failures = [f for f in db.failures(fp) if f.segment_id in todo and f.segment_id not in db.done(fp)]
            summaries.append(RunSummary(ev.name, len(segments), driver.new, len(segments) - len(todo),
                                        len(failures), failures[0].message if failures else "", driver.stopped))
        res = Results.from_store(db, segments=segments, fingerprints=fingerprints)
        res.summary = summaries
    finally:
        readers.close()
        if layer is not None:
            layer.close()
        if not isinstance(store, Store):
            db.close()
    warn_failures(summaries, stacklevel=3)
    return res


def warn_failures(summaries: Sequence[RunSummary], *, stacklevel: int = 2) -> None:
    """One :class:`RunFailuresWarning` per evaluator that has failures or stopped early (every engine uses this;
    ``stacklevel`` counts from this function, so the warning names the line that called ``evaluate``)."""
    for s in summaries:
        if s.failed or s.stopped:
            warnings.warn(
                f"{s.failed} of {_plural(s.total, 'segment')} failed for {s.evaluator!r}"
                + (f"; first: {s.first_failure.rstrip('.')}" if s.first_failure else "")
                + (f"; stopped early: {s.stopped}" if s.stopped else "")
                + "; see Results.failures (CLI: affectproxy failures STORE).",
                RunFailuresWarning, stacklevel=stacklevel,
            )


__all__ = ["DEFAULT_BATCH_SIZE", "RunFailuresWarning", "RunSummary", "check_estimate", "check_unique_ids", "evaluate",
           "preflight", "resolve"]
