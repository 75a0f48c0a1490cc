"""The engine's execute step: read audio, call the evaluator, validate. Returns an :class:`Outcome`; touches no
store (an LLM evaluator's paid responses go through the LLM layer, which commits them to the cache at once).

Errors about one segment (bad audio, too short, an evaluator error, NaN output) become failures of that segment.
A batch that raises is rerun one segment at a time, unless the error is about the service
(:class:`~affectproxy.errors.ServiceError`: rate limit, timeout, outage): then its segments fail together and
are retried on the next run, so a refusing service is not asked N more times. An
:class:`~affectproxy.errors.AuthenticationError` stops the evaluator (``Outcome.stop``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from affectproxy.errors import (
    AffectProxyError,
    AudioError,
    AuthenticationError,
    BudgetExceededError,
    EvaluatorOutputError,
    InvalidSegmentError,
    ServiceError,
)
from affectproxy.evaluator import Evaluator
from affectproxy.model import EmotionEstimate, Segment
from affectproxy.planning import Task
from affectproxy.store import Failure

_RANGE_SLACK = 1e-6


@attrs.frozen
class Outcome:
    """What executing one task produced.

    Attributes:
        task: the task.
        estimates: validated estimates, stamped with evaluator name and fingerprint.
        failures: segments that could not be scored, with the error.
        measures: per-segment results of a ``measure`` task (segment id -> JSON-serialisable value).
        stop: a message when the evaluator must stop (credentials refused); no further tasks start.
    """

    task: Task
    estimates: list[EmotionEstimate] = attrs.field(factory=list)
    failures: list[Failure] = attrs.field(factory=list)
    measures: dict[str, Any] = attrs.field(factory=dict)
    stop: str = ""


def where(seg: Segment) -> str:
    """``segment 's3' (speech.wav, 2.00-3.00 s)``: how messages name a segment."""
    src = seg.recording.path or seg.recording.id
    return f"segment {seg.id!r} ({src}, {seg.start:.2f}-{seg.end:.2f} s)"


def failure(ev: Evaluator, fp: str, seg: Segment, exc: BaseException) -> Failure:
    msg = str(exc)
    if seg.id not in msg:
        msg = f"{ev.name} on {where(seg)}: {msg}"
    return Failure(seg.id, ev.name, fp, type(exc).__name__, msg)


def check_estimate(ev: Evaluator, seg: Segment, est: Any) -> None:
    """Raise EvaluatorOutputError unless ``est`` is an EmotionEstimate for ``seg`` whose values are declared
    dimensions of ``ev``, finite and within their ranges (the engine and ``check_evaluator`` both use this)."""
    if not isinstance(est, EmotionEstimate):
        raise EvaluatorOutputError(f"{ev.name!r} returned {type(est).__name__} for {where(seg)}, "
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
                f"{ev.name!r} returned dimension {name!r} for {where(seg)}, which it does not declare "
                f"(declared: {', '.join(dims)})."
            )
        if not math.isfinite(value):
            raise EvaluatorOutputError(
                f"{ev.name!r} returned {name}={value} for {where(seg)}. An evaluator must leave a "
                "dimension out rather than return NaN/inf; check the segment's audio (silence? clipping?)."
            )
        if not (dim.low - _RANGE_SLACK <= value <= dim.high + _RANGE_SLACK):
            raise EvaluatorOutputError(
                f"{ev.name!r} returned {name}={value} for {where(seg)}, outside its declared range "
                f"[{dim.low}, {dim.high}]."
            )
    if est.categories is not None and not all(math.isfinite(p) for p in est.categories.values()):
        raise EvaluatorOutputError(f"{ev.name!r} returned a non-finite category probability for {where(seg)}.")


class Readers:
    """The run's one :class:`~affectproxy.audio.AudioReader` (safe to share between worker threads: its handle
    cache and each open file are locked), made on first use and closed at the end of the run."""

    def __init__(self) -> None:
        self._reader: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._reader is None:
                from affectproxy.audio import AudioReader

                self._reader = AudioReader()
            return self._reader

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None


class Context:
    """What the core gives an LLM evaluator besides the segments (see :class:`affectproxy.llm.RequestContext`):
    neighbours within a recording, from every segment of the run, and the whole recording's audio."""

    def __init__(self, every: Sequence[Segment], sample_rate: int | None, readers: Readers,
                 where_audio: str = "") -> None:
        by_rec: dict[str, list[Segment]] = {}
        for seg in every:
            by_rec.setdefault(seg.recording.id, []).append(seg)
        self._near: dict[str, tuple[Segment | None, Segment | None]] = {}
        self._recordings = {}
        for rec_id, segs in by_rec.items():
            segs = sorted(segs, key=lambda s: (s.start, s.end))
            self._recordings[rec_id] = segs[0].recording
            for i, seg in enumerate(segs):
                self._near[seg.id] = (segs[i - 1] if i else None, segs[i + 1] if i + 1 < len(segs) else None)
        self._rate = sample_rate
        self._readers = readers
        self._hint = where_audio

    def neighbours(self, segment: Segment) -> tuple[Segment | None, Segment | None]:
        return self._near.get(segment.id, (None, None))

    def recording_audio(self, recording_id: str) -> np.ndarray:
        rec = self._recordings[recording_id]
        if self._rate is None:
            raise AudioError(f"Recording {recording_id!r}: the evaluator declares no sample_rate, so it gets no audio.")
        if not rec.path:
            raise AudioError(f"Recording {recording_id!r} has no audio file. Pass audio= to load_segments{self._hint}.")
        return self._readers.get().read_recording(rec.path, self._rate, recording_id=recording_id)


@attrs.define
class Execution:
    """Executes tasks of one evaluator. Built in the driver; ``__call__`` runs on any worker thread.

    Attributes:
        ev: the evaluator.
        fp: its fingerprint hash.
        readers: the run's audio reader.
        every: every segment of the run (for LLM context).
        layer: the LLM layer (LLM evaluators only).
        audio_hint: appended to "no audio file" messages (the CLI names the study file's ``audio`` key).
    """

    ev: Evaluator
    fp: str
    readers: Readers
    every: Sequence[Segment] = ()
    layer: Any = None
    audio_hint: str = ""
    _context: Context | None = None

    def __call__(self, task: Task) -> Outcome:
        if task.kind == "combine":
            return self._combine(task)
        ready, failures = self._prepare(task)
        if not ready:
            return Outcome(task, failures=failures)
        if task.kind == "llm":
            return self._llm(task, ready, failures)
        if task.kind == "measure":
            return self._measure(task, ready, failures)
        return self._batch(task, ready, failures)

    # -- before the evaluator -------------------------------------------------------------------------------
    def _prepare(self, task: Task) -> tuple[list[Segment], list[Failure]]:
        ready, failures = [], []
        for seg in task.segments:
            try:
                ready.append(self._precheck(seg, with_audio=getattr(self.ev, "audio_scope", "segment") == "segment"))
            except AffectProxyError as exc:
                failures.append(failure(self.ev, self.fp, seg, exc))
        return ready, failures

    def _precheck(self, seg: Segment, *, with_audio: bool) -> Segment:
        """Fill the audio and check what can be checked before the evaluator sees the segment."""
        if seg.duration < self.ev.min_duration:
            raise InvalidSegmentError(
                f"{where(seg)} lasts {seg.duration:.3f} s, shorter than {self.ev.name!r}'s minimum of "
                f"{self.ev.min_duration} s. Merge it with a neighbour or drop it from the segment table."
            )
        if getattr(self.ev, "needs_text", False) and not seg.text.strip():
            raise InvalidSegmentError(
                f"{where(seg)} has an empty transcript, and {self.ev.name!r} needs text. Add the transcript or "
                "drop the segment."
            )
        if self.ev.sample_rate is None or not with_audio:
            return seg
        if not seg.recording.path:
            raise AudioError(
                f"{where(seg)} has no audio file, and {self.ev.name!r} needs audio. Pass audio= to "
                f"load_segments or add an audio column to the segment table{self.audio_hint}."
            )
        audio = self.readers.get().read(seg.recording.path, seg.start, seg.end, self.ev.sample_rate,
                                        segment_id=seg.id)
        return attrs.evolve(seg, audio=audio)

    # -- calling it -----------------------------------------------------------------------------------------
    def _call(self, fn: Callable[[list[Segment]], Any], batch: Sequence[Segment], what: str) -> list[Any]:
        out = fn(list(batch))
        if not isinstance(out, list) or len(out) != len(batch):
            n = len(out) if isinstance(out, list) else type(out).__name__
            raise EvaluatorOutputError(
                f"{self.ev.name!r}.{what}() returned {n} results for {len(batch)} segments; it must return a "
                "list with one result per segment, in order."
            )
        return out

    def _per_segment(self, fn: Callable[[list[Segment]], Any], task: Task, ready: list[Segment], what: str
                     ) -> tuple[list[tuple[Segment, Any]], list[Failure], str]:
        """Call ``fn`` on the batch; on a segment-level error rerun one by one (not for whole groups, not for
        service errors). Returns (segment, result) pairs, failures and a stop message."""
        try:
            return list(zip(ready, self._call(fn, ready, what), strict=True)), [], ""
        except AuthenticationError as exc:
            return [], [failure(self.ev, self.fp, s, exc) for s in ready], str(exc)
        except Exception as exc:
            if task.grouped or len(ready) == 1 or isinstance(exc, ServiceError):
                return [], [failure(self.ev, self.fp, s, exc) for s in ready], ""
        pairs: list[tuple[Segment, Any]] = []
        failures: list[Failure] = []
        for seg in ready:
            try:
                pairs.append((seg, self._call(fn, [seg], what)[0]))
            except AuthenticationError as exc:
                return pairs, failures + [failure(self.ev, self.fp, s, exc) for s in ready[len(pairs):]], str(exc)
            except Exception as one:
                failures.append(failure(self.ev, self.fp, seg, one))
        return pairs, failures, ""

    def _validated(self, pairs: Sequence[tuple[Segment, Any]]) -> tuple[list[EmotionEstimate], list[Failure]]:
        done, failures = [], []
        for seg, est in pairs:
            if isinstance(est, BaseException):
                failures.append(failure(self.ev, self.fp, seg, est))
                continue
            try:
                check_estimate(self.ev, seg, est)
                done.append(attrs.evolve(est, evaluator=self.ev.name, fingerprint=self.fp))
            except EvaluatorOutputError as exc:
                failures.append(failure(self.ev, self.fp, seg, exc))
        return done, failures

    def _batch(self, task: Task, ready: list[Segment], failures: list[Failure]) -> Outcome:
        pairs, failed, stop = self._per_segment(self.ev.evaluate, task, ready, "evaluate")
        done, bad = self._validated(pairs)
        return Outcome(task, done, failures + failed + bad, stop=stop)

    def _measure(self, task: Task, ready: list[Segment], failures: list[Failure]) -> Outcome:
        measure = self.ev.measure  # type: ignore[attr-defined]
        pairs, failed, stop = self._per_segment(measure, task, ready, "measure")
        measures = {}
        for seg, value in pairs:
            try:
                from affectproxy.hashing import canonical_json

                canonical_json(value)  # saved as JSON: refuse what cannot be
            except (TypeError, ValueError) as exc:
                failed.append(failure(self.ev, self.fp, seg, EvaluatorOutputError(
                    f"{self.ev.name!r}.measure() returned a value that is not JSON-serialisable: {exc}")))
                continue
            measures[seg.id] = value
        return Outcome(task, failures=failures + failed, measures=measures, stop=stop)

    def _combine(self, task: Task) -> Outcome:
        segs = list(task.segments)
        combine = self.ev.combine  # type: ignore[attr-defined]
        try:
            out = self._call(lambda s: combine(s, [task.measures[x.id] for x in s]), segs, "combine")
        except AuthenticationError as exc:
            return Outcome(task, failures=[failure(self.ev, self.fp, s, exc) for s in segs], stop=str(exc))
        except Exception as exc:
            return Outcome(task, failures=[failure(self.ev, self.fp, s, exc) for s in segs])
        done, bad = self._validated(list(zip(segs, out, strict=True)))
        return Outcome(task, done, bad)

    def _llm(self, task: Task, ready: list[Segment], failures: list[Failure]) -> Outcome:
        from affectproxy.llm.types import FollowUp

        if self._context is None:
            self._context = Context(self.every, self.ev.sample_rate, self.readers, self.audio_hint)
        ev: Any = self.ev
        try:
            requests = ev.requests(ready, self._context)
            result = ev.read(ready, self.layer.run(requests, evaluator=self.ev.name))
            while isinstance(result, FollowUp):
                result = result.read(self.layer.run(list(result.requests), evaluator=self.ev.name))
            result = list(result)
            if len(result) != len(ready):
                raise EvaluatorOutputError(
                    f"{self.ev.name!r}.read() returned {len(result)} results for {len(ready)} segments; it must "
                    "return one estimate (or exception) per segment, in order."
                )
        except AuthenticationError as exc:
            return Outcome(task, failures=failures + [failure(self.ev, self.fp, s, exc) for s in ready],
                           stop=str(exc))
        except BudgetExceededError as exc:  # not started: no failure recorded; answers already paid are cached
            return Outcome(task, failures=failures, stop=str(exc))
        except Exception as exc:
            return Outcome(task, failures=failures + [failure(self.ev, self.fp, s, exc) for s in ready])
        done, bad = self._validated(list(zip(ready, result, strict=True)))
        return Outcome(task, done, failures + bad)


__all__ = ["Context", "Execution", "Outcome", "Readers", "check_estimate", "failure", "where"]
