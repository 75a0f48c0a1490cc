"""Fixtures for audit tests: a synthetic EMO-DB-style corpus on disk and two test evaluators registered as real
plugins (one categorical with emotion2vec's classes, one open-ended), each answering from a table it is given."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from affectproxy.registry import registry

RATE = 16000

# file stem -> (emotion2vec-style class, open-ended word, confidence). The letter in the name is the label.
PLAN: dict[str, tuple[str, str, float]] = {
    "03a01Wa": ("angry", "wütend", 0.9),
    "08a02Wb": ("sad", "frustrated", 0.8),
    "10a04La": ("neutral", "tired", 0.6),
    "09b01La": ("sad", "calm", 0.7),
    "03a05Ea": ("disgusted", "surprise", 0.5),
    "08a07Ea": ("angry", "Verachtung", 0.4),
    "10b02Aa": ("fearful", "nervous", 0.9),
    "09b03Ab": ("surprised", "excitement", 0.85),
    "03b09Fa": ("happy", "joy", 0.95),
    "08b10Fa": ("unknown", "determination", 0.3),
    "10a01Na": ("neutral", "neutral", 0.9),
    "09a02Na": ("neutral", "sachlich", 0.8),
    "03a04Ta": ("sad", "traurig", 0.7),
    "08a05Tb": ("neutral", "resigned", 0.6),
}
BAD_NAMES = ("readme.wav", "99a01Fa.wav")


def write_tone(path: Path, seconds: float) -> None:
    t = np.arange(round(seconds * RATE)) / RATE
    sf.write(path, (0.1 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), RATE)


def make_emodb(root: Path) -> Path:
    """An EMO-DB-style folder: wav/ with the 14 planned files (0.5 s + 50 ms per file), two misnamed files."""
    (root / "wav").mkdir(parents=True)
    for i, stem in enumerate(PLAN):
        write_tone(root / "wav" / f"{stem}.wav", 0.5 + 0.05 * i)
    for name in BAD_NAMES:
        write_tone(root / "wav" / name, 0.5)
    (root / "wav" / "notes.txt").write_text("not audio")
    return root


@pytest.fixture
def emodb_dir(tmp_path: Path) -> Path:
    """:func:`make_emodb` in this test's tmp_path."""
    return make_emodb(tmp_path / "emodb")


RATERS = '''
"""Two test evaluators: one categorical with emotion2vec's classes, one open-ended; both answer from a plan."""
import json
from collections.abc import Iterator, Sequence

import affectproxy as ap

RATE = 16000
E2V_CLASSES = ("angry", "disgusted", "fearful", "happy", "neutral", "other", "sad", "surprised", "unknown")



def _plan(plan: dict | None, plan_file: str | None) -> dict:
    """The plan given, or read from a JSON file (for the command line)."""
    return plan if plan is not None else json.loads(open(plan_file).read())


class CategoricalRater:
    """Answers each file with 0.6 on the planned class and 0.05 on each of the other eight."""

    dimensions = (ap.Dimension("arousal"),)
    sample_rate = RATE
    min_duration = 0.1

    def __init__(self, plan: dict | None = None, name: str = "fixedcat", plan_file: str | None = None) -> None:
        self.plan, self.name = _plan(plan, plan_file), name

    def fingerprint(self) -> dict:
        return {"plan": sorted(self.plan.items())}

    def evaluate(self, segments: Sequence[ap.Segment]) -> list:
        out = []
        for seg in segments:
            if seg.audio is None or abs(len(seg.audio) - seg.duration * RATE) > 1:
                raise AssertionError(f"{seg.id}: the whole file's audio was expected")
            cats = {c: (0.6 if c == self.plan[seg.id] else 0.05) for c in E2V_CLASSES}
            out.append(ap.EmotionEstimate(seg.id, self.name, {"arousal": 0.0}, categories=cats))
        return out


class OpenRater:
    """Answers each file with the planned word and confidence; the rationale quotes the transcript it saw; each
    evaluated segment id is appended to ``log``."""

    dimensions = ()
    sample_rate = RATE
    min_duration = 0.1

    def __init__(self, plan: dict | None = None, name: str = "fixedword", log: str | None = None,
                 plan_file: str | None = None) -> None:
        self.plan, self.name, self.log = _plan(plan, plan_file), name, log

    def fingerprint(self) -> dict:
        return {"plan": sorted((k, list(v)) for k, v in self.plan.items())}

    def evaluate(self, segments: Sequence[ap.Segment]) -> list:
        if self.log:
            with open(self.log, "a") as fh:
                fh.writelines(f"{seg.id}\\n" for seg in segments)
        out = []
        for seg in segments:
            word, conf = self.plan[seg.id]
            out.append(ap.EmotionEstimate(seg.id, self.name, {}, confidence=conf, rationale=f"text={seg.text!r}",
                                          labels={"emotion": word}))
        return out


@ap.hookimpl
def affectproxy_evaluators() -> Iterator[ap.EvaluatorSpec]:
    yield ap.EvaluatorSpec("fixedcat", lambda **o: CategoricalRater(**o), "test: planned classes")
    yield ap.EvaluatorSpec("fixedword", lambda **o: OpenRater(**o), "test: planned open answers")
'''


@contextmanager
def installed_raters(site_root: Path) -> Iterator[None]:
    """Install the two test evaluators as a real plugin distribution (entry point group ``affectproxy``) for the
    duration of a ``with`` block."""
    site_root.mkdir(parents=True, exist_ok=True)
    (site_root / "audit_raters.py").write_text(RATERS)
    info = site_root / "affectproxy_audit_raters-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: affectproxy-audit-raters\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[affectproxy]\nauditraters = audit_raters\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(site_root))
        mp.delenv("AFFECTPROXY_PLUGINS", raising=False)
        registry.reload()
        try:
            yield
        finally:
            sys.modules.pop("audit_raters", None)
    registry.reload()


@pytest.fixture
def raters(tmp_path: Path) -> Iterator[None]:
    """The test evaluators, installed for one test."""
    with installed_raters(tmp_path / "site"):
        yield


def plans() -> tuple[dict[str, str], dict[str, tuple[str, float]]]:
    """The categorical and the open-ended rater's plans."""
    return {k: v[0] for k, v in PLAN.items()}, {k: (v[1], v[2]) for k, v in PLAN.items()}


@pytest.fixture
def cat_plan() -> dict[str, str]:
    return plans()[0]


@pytest.fixture
def word_plan() -> dict[str, tuple[str, float]]:
    return plans()[1]
