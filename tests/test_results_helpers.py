"""Results' table helpers (categories, arrays, failures_frame) read back what an evaluator returned."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import affectproxy as ap


class Classes:
    """A tiny evaluator with class probabilities and arrays, no audio."""

    name = "classes"
    sample_rate = None
    min_duration = 0.5
    dimensions = (ap.Dimension("arousal"),)

    def fingerprint(self) -> dict[str, int]:
        return {"version": 1}

    def evaluate(self, segments: Sequence[ap.Segment]) -> list[ap.EmotionEstimate]:
        return [ap.EmotionEstimate(
            segment_id=s.id, evaluator=self.name, values={"arousal": 0.1 * i},
            categories={"happy": 0.25 * i, "sad": 1 - 0.25 * i},
            arrays={"embedding": np.full(3, float(i), np.float32), "f0": np.arange(i + 1, dtype=np.float32),
                    "f0_times": np.arange(i + 1, dtype=np.float32) / 100},
        ) for i, s in enumerate(segments)]


def test_categories_arrays_and_failures_as_tables(tmp_path: Path) -> None:
    rec = ap.Recording("talk")
    segs = [ap.Segment("a", rec, 0, 1), ap.Segment("b", rec, 1, 2), ap.Segment("short", rec, 2, 2.2)]
    with pytest.warns(RuntimeWarning, match="1 of 3 segments failed"):
        ap.evaluate(segs, [Classes()], store=tmp_path / "s.sqlite", progress=False)
    res = ap.open_results(tmp_path / "s.sqlite")  # read back from the store, as a later session would
    (record,) = res.evaluators  # the store's record holds the fingerprint dict under that name
    assert record.name == "classes" and record.fingerprint_dict == {"version": 1} and record.fingerprint
    assert not hasattr(record, "spec")

    cats = res.categories()
    assert list(cats.columns) == ["segment_id", "evaluator", "label", "probability"]
    assert cats.values.tolist() == [["a", "classes", "happy", 0.0], ["a", "classes", "sad", 1.0],
                                    ["b", "classes", "happy", 0.25], ["b", "classes", "sad", 0.75]]

    emb = res.arrays("classes", "embedding")
    assert sorted(emb) == ["a", "b"] and emb["b"].tolist() == [1.0, 1.0, 1.0] and emb["b"].dtype == np.float32
    assert res.arrays("classes", "f0_times")["b"].tolist() == pytest.approx([0.0, 0.01])
    assert res.arrays("classes", "nothing") == {} and res.arrays("other", "embedding") == {}

    fails = res.failures_frame()
    assert list(fails.columns) == ["segment_id", "evaluator", "error_type", "message", "attempts"]
    assert fails[["segment_id", "evaluator", "error_type"]].values.tolist() == [
        ["short", "classes", "InvalidSegmentError"]]
    assert "shorter than 'classes'" in fails.loc[0, "message"]
