"""Tools for plugin authors: :func:`check_evaluator` tests that an evaluator honours the contract.

Examples:
    >>> import affectproxy as ap, pandas as pd, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> segs = synthetic_segments(None, folder)
    >>> pd.DataFrame({"segment_id": [s.id for s in segs], "pathos": [0, 1, -1, 2]}).to_csv(folder / "t.csv")
    >>> check_evaluator(ap.get_evaluator("table", path=folder / "t.csv", columns=["pathos"]), segs)
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np

from affectproxy.errors import EvaluatorOutputError
from affectproxy.evaluator import Evaluator
from affectproxy.hashing import fingerprint_hash
from affectproxy.model import Dimension, EmotionEstimate, Recording, Segment

_DURATIONS = (1.3, 3.1, 0.9, 2.2)
_TEXTS = (
    "Meine Damen und Herren, das ist ein Skandal!",
    "Wir haben heute viel erreicht.",
    "Danke.",
    "Ich frage Sie: Wo ist Ihr Plan für dieses Land?",
)


def synthetic_signal(seconds: float, sample_rate: int, seed: int) -> np.ndarray:
    """A speech-like test signal: a gliding harmonic tone with syllable-rate amplitude modulation and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    f0 = 110 + 60 * seed % 90 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t) ** 2
    level = 0.05 + 0.1 * (seed % 3)
    return (level * envelope * tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def synthetic_segments(sample_rate: int | None, folder: str | Path, min_duration: float = 0.0) -> list[Segment]:
    """Four segments of different lengths over one synthetic recording written to ``folder/synthetic.wav``.

    Each segment lasts at least ``min_duration``; their ``audio`` is left empty (the core fills it).
    """
    import soundfile as sf

    rate = sample_rate or 16000
    durations = [max(d, min_duration + 0.1) for d in _DURATIONS]
    pieces, t, spans = [], 0.0, []
    for i, d in enumerate(durations):
        pieces += [synthetic_signal(d, rate, i), np.zeros(int(0.2 * rate), np.float32)]
        spans.append((t, t + d))
        t += d + 0.2
    path = Path(folder) / "synthetic.wav"
    sf.write(path, np.concatenate(pieces), rate, subtype="FLOAT")
    rec = Recording("synthetic", str(path), speaker="test")
    return [Segment(f"syn-{i + 1}", rec, a, b, text=_TEXTS[i], language="de") for i, (a, b) in enumerate(spans)]


def _fail(ev: Evaluator, what: str) -> AssertionError:
    return AssertionError(f"Evaluator {getattr(ev, 'name', ev)!r}: {what}")


def _check_estimates(ev: Evaluator, segs: Sequence[Segment], out: object) -> list[EmotionEstimate]:
    from affectproxy.engine import check_estimate

    if not isinstance(out, list) or len(out) != len(segs):
        raise _fail(ev, f"evaluate() must return a list of {len(segs)} estimates, got {out!r:.200}")
    for seg, est in zip(segs, out, strict=True):
        try:
            check_estimate(ev, seg, est)
        except EvaluatorOutputError as exc:
            raise _fail(ev, str(exc)) from exc
        if est.evaluator != ev.name:
            raise _fail(ev, f"estimate.evaluator is {est.evaluator!r}, expected the instance name {ev.name!r}")
    if not any(est.values for est in out):
        raise _fail(ev, "returned no values at all")
    return out


def _close(a: Sequence[EmotionEstimate], b: Sequence[EmotionEstimate], tol: float) -> str | None:
    for x, y in zip(a, b, strict=True):
        if set(x.values) != set(y.values):
            return f"{x.segment_id}: dimensions {sorted(x.values)} vs {sorted(y.values)}"
        for k in x.values:
            if abs(x.values[k] - y.values[k]) > tol * max(1.0, abs(x.values[k])):
                return f"{x.segment_id}.{k}: {x.values[k]} vs {y.values[k]}"
    return None


def check_evaluator(ev: Evaluator, segments: Sequence[Segment] | None = None, *, tolerance: float = 1e-4) -> None:
    """Check that an evaluator honours the contract; raise AssertionError saying what is broken.

    Checks: the Protocol's attributes and their types; ``fingerprint()`` is JSON-serialisable, stable and holds
    no secrets; ``evaluate`` returns one estimate per segment, in order, named after the instance, with finite
    values of declared dimensions within their ranges; results are deterministic; a segment's result does not
    depend on its batch (unless the evaluator declares ``group_by``); and running through the core engine
    (reading audio from a file, storing in SQLite) gives the same numbers.

    Args:
        ev: the evaluator instance.
        segments: segments to use (their recordings must point at real audio when the evaluator needs audio);
            default: four synthetic speech-like segments of different lengths written to a temporary WAV.
        tolerance: relative tolerance for the determinism and batch-independence checks.
    """
    from affectproxy.audio import AudioReader
    from affectproxy.engine import evaluate

    if not isinstance(ev, Evaluator):
        raise _fail(ev, "does not have the Evaluator attributes (name, dimensions, sample_rate, min_duration, "
                        "fingerprint(), evaluate())")
    if not isinstance(ev.name, str) or not ev.name:
        raise _fail(ev, "name must be a non-empty string")
    if not isinstance(ev.dimensions, tuple) or not ev.dimensions or not all(
        isinstance(d, Dimension) for d in ev.dimensions
    ):
        raise _fail(ev, f"dimensions must be a non-empty tuple of Dimension, got {ev.dimensions!r}")
    if len({d.name for d in ev.dimensions}) != len(ev.dimensions):
        raise _fail(ev, "dimension names must be unique")
    if ev.sample_rate is not None and (not isinstance(ev.sample_rate, int) or ev.sample_rate <= 0):
        raise _fail(ev, f"sample_rate must be a positive int or None, got {ev.sample_rate!r}")
    if not isinstance(ev.min_duration, (int, float)) or ev.min_duration < 0:
        raise _fail(ev, f"min_duration must be a number >= 0, got {ev.min_duration!r}")
    fp = ev.fingerprint()
    try:
        json.dumps(fp, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise _fail(ev, f"fingerprint() must be JSON-serialisable: {exc}") from exc
    fingerprint_hash(fp)

    with tempfile.TemporaryDirectory() as tmp:
        segs = list(segments) if segments is not None else synthetic_segments(ev.sample_rate, tmp, ev.min_duration)
        if ev.sample_rate is not None:
            with AudioReader() as reader:
                filled = [attrs.evolve(s, audio=reader.read(str(s.recording.path), s.start, s.end, ev.sample_rate,
                                                            segment_id=s.id)) for s in segs]
        else:
            filled = segs
        first = _check_estimates(ev, filled, ev.evaluate(filled))
        again = _check_estimates(ev, filled, ev.evaluate(filled))
        if (diff := _close(first, again, tolerance)) is not None:
            raise _fail(ev, f"is not deterministic: {diff}")
        if getattr(ev, "group_by", None) is None:
            singles = [_check_estimates(ev, [s], ev.evaluate([s]))[0] for s in filled]
            if (diff := _close(first, singles, tolerance)) is not None:
                raise _fail(ev, f"a segment's result depends on its batch: {diff}")
        if fingerprint_hash(ev.fingerprint()) != fingerprint_hash(fp):
            raise _fail(ev, "fingerprint() changed after evaluate(); it must not depend on lazily loaded state")
        res = evaluate(segs, [ev], store=Path(tmp) / "check.sqlite", progress=False)
        if res.failures:
            raise _fail(ev, f"failed in the core engine: {res.failures[0].message}")
        if (diff := _close(first, res.estimates, tolerance)) is not None:
            raise _fail(ev, f"gives other results through the core engine: {diff}")


__all__ = ["check_evaluator", "synthetic_segments", "synthetic_signal"]
