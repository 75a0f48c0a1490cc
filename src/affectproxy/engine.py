"""The run engine: audio in, estimates out, every result committed to the store as it arrives.

For each evaluator the engine skips segments already done under the same fingerprint, checks each remaining
segment (duration, transcript, audio) before the evaluator sees it, batches the rest (or hands whole groups
when the evaluator declares ``group_by``), validates what comes back, and commits each batch in one
transaction. A batch that raises is rerun one segment at a time so one bad segment never costs the others;
what still fails is recorded with its error and retried on the next run.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from affectproxy.cache import ResponseCache
from affectproxy.errors import (
    AffectProxyError,
    AudioError,
    EvaluatorOutputError,
    InvalidSegmentError,
)
from affectproxy.evaluator import Evaluator
from affectproxy.model import EmotionEstimate, Segment
from affectproxy.registry import get_evaluator
from affectproxy.results import Results
from affectproxy.store import Failure, Store

DEFAULT_BATCH_SIZE = 8
_RANGE_SLACK = 1e-6


def _resolve(evaluators: Sequence[str | Evaluator | Mapping[str, Any]] | str | Evaluator) -> list[Evaluator]:
    if isinstance(evaluators, (str, Mapping)) or not isinstance(evaluators, Sequence):
        evaluators = [evaluators]  # type: ignore[list-item]
    out: list[Evaluator] = []
    for ev in evaluators:
        if isinstance(ev, str):
            out.append(get_evaluator(ev))
        elif isinstance(ev, Mapping):
            options = dict(ev)
            out.append(get_evaluator(options.pop("type"), **options))
        else:
            out.append(ev)
    names = [ev.name for ev in out]
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


def _where(seg: Segment) -> str:
    src = seg.recording.path or seg.recording.id
    return f"segment {seg.id!r} ({src}, {seg.start:.2f}-{seg.end:.2f} s)"


def _failure(ev: Evaluator, fp: str, seg: Segment, exc: BaseException) -> Failure:
    msg = str(exc)
    if seg.id not in msg:
        msg = f"{ev.name} on {_where(seg)}: {msg}"
    return Failure(seg.id, ev.name, fp, type(exc).__name__, msg)


def check_estimate(ev: Evaluator, seg: Segment, est: Any) -> None:
    """Raise EvaluatorOutputError unless ``est`` is an EmotionEstimate for ``seg`` whose values are declared
    dimensions of ``ev``, finite and within their ranges (the engine and ``check_evaluator`` both use this)."""
    if not isinstance(est, EmotionEstimate):
        raise EvaluatorOutputError(f"{ev.name!r} returned {type(est).__name__} for {_where(seg)}, "
                                   "not an EmotionEstimate.")
    if est.segment_id != seg.id:
        raise EvaluatorOutputError(
            f"{ev.name!r} returned an estimate for segment {est.segment_id!r} where {seg.id!r} was "
            "expected: evaluate() must return one estimate per segment, in order."
        )
    dims = {d.name: d for d in ev.dimensions}
    for name, value in est.values.items():
        dim = dims.get(name)
        if dim is None:
            raise EvaluatorOutputError(
                f"{ev.name!r} returned dimension {name!r} for {_where(seg)}, which it does not declare "
                f"(declared: {', '.join(dims)})."
            )
        if not math.isfinite(value):
            raise EvaluatorOutputError(
                f"{ev.name!r} returned {name}={value} for {_where(seg)}. An evaluator must leave a "
                "dimension out rather than return NaN/inf; check the segment's audio (silence? clipping?)."
            )
        if not (dim.low - _RANGE_SLACK <= value <= dim.high + _RANGE_SLACK):
            raise EvaluatorOutputError(
                f"{ev.name!r} returned {name}={value} for {_where(seg)}, outside its declared range "
                f"[{dim.low}, {dim.high}]."
            )
    if est.categories is not None and not all(math.isfinite(p) for p in est.categories.values()):
        raise EvaluatorOutputError(f"{ev.name!r} returned a non-finite category probability for {_where(seg)}.")


@attrs.define
class _Run:
    ev: Evaluator
    fp: str
    store: Store
    reader: Any
    batch_size: int

    def precheck(self, seg: Segment) -> Segment:
        """Fill the audio and check what can be checked before the evaluator sees the segment."""
        if seg.duration < self.ev.min_duration:
            raise InvalidSegmentError(
                f"{_where(seg)} lasts {seg.duration:.3f} s, shorter than {self.ev.name!r}'s minimum of "
                f"{self.ev.min_duration} s. Merge it with a neighbour or drop it from the segment table."
            )
        if getattr(self.ev, "needs_text", False) and not seg.text.strip():
            raise InvalidSegmentError(
                f"{_where(seg)} has an empty transcript, and {self.ev.name!r} needs text. Add the transcript or "
                "drop the segment."
            )
        if self.ev.sample_rate is None:
            return seg
        if not seg.recording.path:
            raise AudioError(
                f"{_where(seg)} has no audio file, and {self.ev.name!r} needs audio. Pass audio= to "
                "load_segments or add an audio column to the segment table."
            )
        audio = self.reader.read(seg.recording.path, seg.start, seg.end, self.ev.sample_rate, segment_id=seg.id)
        return attrs.evolve(seg, audio=audio)

    def validate(self, seg: Segment, est: Any) -> EmotionEstimate:
        check_estimate(self.ev, seg, est)
        return attrs.evolve(est, evaluator=self.ev.name, fingerprint=self.fp)

    def call(self, batch: Sequence[Segment]) -> list[EmotionEstimate]:
        out = self.ev.evaluate(list(batch))
        if not isinstance(out, list) or len(out) != len(batch):
            n = len(out) if isinstance(out, list) else type(out).__name__
            raise EvaluatorOutputError(
                f"{self.ev.name!r}.evaluate() returned {n} results for {len(batch)} segments; it must return a "
                "list with one estimate per segment, in order."
            )
        return out

    def run_batch(self, batch: Sequence[Segment], *, grouped: bool) -> None:
        """Evaluate and commit one batch (estimates and failures in one transaction)."""
        ready, failures = [], []
        for seg in batch:
            try:
                ready.append(self.precheck(seg))
            except AffectProxyError as exc:
                failures.append(_failure(self.ev, self.fp, seg, exc))
        done: list[EmotionEstimate] = []
        if ready:
            try:
                results = self.call(ready)
                pairs = list(zip(ready, results, strict=True))
            except Exception as exc:
                if grouped or len(ready) == 1:
                    failures += [_failure(self.ev, self.fp, seg, exc) for seg in ready]
                    pairs = []
                else:
                    pairs = []
                    for seg in ready:
                        try:
                            pairs.append((seg, self.call([seg])[0]))
                        except Exception as one:
                            failures.append(_failure(self.ev, self.fp, seg, one))
            for seg, est in pairs:
                try:
                    done.append(self.validate(seg, est))
                except EvaluatorOutputError as exc:
                    failures.append(_failure(self.ev, self.fp, seg, exc))
        self.store.commit(self.fp, done, failures)


def _batches(ev: Evaluator, todo: Sequence[Segment], every: Sequence[Segment], size: int
             ) -> Iterator[tuple[list[Segment], bool]]:
    group_by = getattr(ev, "group_by", None)
    if group_by is None:
        for i in range(0, len(todo), size):
            yield list(todo[i:i + size]), False
        return
    if group_by not in ("speaker", "recording"):
        raise AffectProxyError(f"Evaluator {ev.name!r} declares group_by={group_by!r}; use 'speaker' or 'recording'.")

    def key(s: Segment) -> str:
        return s.speaker_or_recording if group_by == "speaker" else s.recording.id

    pending = {key(s) for s in todo}
    groups: dict[str, list[Segment]] = {}
    for seg in every:
        if key(seg) in pending:
            groups.setdefault(key(seg), []).append(seg)
    for members in groups.values():
        yield members, True


def evaluate(
    segments: Sequence[Segment],
    evaluators: Sequence[str | Evaluator | Mapping[str, Any]] | str | Evaluator,
    *,
    store: str | Path | Store | None = None,
    batch_size: int | None = None,
    progress: bool = True,
) -> Results:
    """Run evaluators over segments, committing every estimate to a SQLite store as it arrives.

    A rerun with the same store skips every (segment, evaluator fingerprint) already done and retries recorded
    failures. One segment's failure (bad audio, too short, an evaluator error, NaN output) is recorded in
    ``Results.failures`` and never loses the others.

    Args:
        segments: the ordered segments (see :func:`affectproxy.load_segments`).
        evaluators: registry names, evaluator instances, or mappings ``{"type": name, **options}``.
        store: a SQLite file path (created if missing), a :class:`~affectproxy.store.Store`, or None for an
            in-memory store (nothing survives the process).
        batch_size: segments per ``evaluate`` call; default: each evaluator's ``batch_size`` attribute, else 8.
        progress: show a tqdm progress bar per evaluator.

    Returns:
        :class:`Results` over the given segments and evaluators.

    Raises:
        UnknownEvaluatorError, MissingDependencyError: an evaluator name cannot be resolved.
        InvalidSegmentError: duplicate segment ids.
        StoreError: the store cannot be opened or written, or holds other segments under the same ids.

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
    """
    with warnings.catch_warnings():  # tqdm.auto warns in notebooks without ipywidgets, then falls back
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm

    from affectproxy.audio import AudioReader

    segments = list(segments)
    check_unique_ids(segments)
    evs = _resolve(evaluators)
    db = store if isinstance(store, Store) else Store(store)
    fingerprints = []
    try:
        db.put_segments(segments)
        with AudioReader() as reader:
            for ev in evs:
                fp = db.put_evaluator(ev.name, ev.fingerprint(), ev.dimensions)
                if callable(getattr(ev, "use_cache", None)):
                    ev.use_cache(ResponseCache(db))  # type: ignore[attr-defined]
                fingerprints.append(fp)
                done = db.done(fp)
                todo = [s for s in segments if s.id not in done]
                size = batch_size or int(getattr(ev, "batch_size", None) or DEFAULT_BATCH_SIZE)
                run = _Run(ev, fp, db, reader, size)
                with tqdm(total=len(segments), initial=len(segments) - len(todo), desc=ev.name, unit="seg",
                          disable=not progress, leave=True) as bar:
                    for batch, grouped in _batches(ev, todo, segments, size):
                        run.run_batch(batch, grouped=grouped)
                        bar.update(sum(s.id not in done for s in batch))
        return Results.from_store(db, segments=segments, fingerprints=fingerprints)
    finally:
        if not isinstance(store, Store):
            db.close()


__all__ = ["check_estimate", "check_unique_ids", "evaluate"]
