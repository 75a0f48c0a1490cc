"""Figures and the HTML report, with two evaluators and with missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from affectproxy.compare import correlate, describe
from affectproxy.compare.plots import forest, heatmap, scatter_pairs, timeline
from affectproxy.report import write_report


def _frame(with_nan: bool) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 30
    rows = []
    for ev, dims in (("gemini", ("arousal", "valence")), ("e2v", ("arousal", "valence"))):
        for dim in dims:
            v = np.cumsum(rng.standard_normal(n)) * 0.1 + rng.standard_normal(n)
            if with_nan and ev == "e2v":
                v[[4, 5, 17]] = np.nan
            rows += [(f"s{i}", "rec", 2.0 * i, 2.0 * i + 2, "spk", ev, dim, v[i]) for i in range(n)]
    return pd.DataFrame(rows, columns=["segment_id", "recording", "start", "end", "speaker", "evaluator",
                                       "dimension", "value"])


def test_figures_are_figures():
    frame = _frame(with_nan=True)
    table = correlate(frame)
    for fig in (heatmap(table), forest(table), scatter_pairs(frame, table), timeline(frame)):
        assert isinstance(fig, Figure)
    ax = heatmap(table).axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["gemini/arousal", "e2v/arousal", "gemini/valence", "e2v/valence"]  # MTMM order


def test_report_with_two_evaluators_and_nan(tmp_path):
    frame = _frame(with_nan=True)
    path = write_report(frame, tmp_path / "out", notes=["skipped: emotion2vec (missing funasr)"])
    assert path == tmp_path / "out" / "index.html"
    for name in ("timeline.png", "heatmap.png", "forest.png", "scatter.png"):
        data = (path.parent / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 2000
    text = path.read_text(encoding="utf-8")
    assert "skipped: emotion2vec (missing funasr)" in text
    assert "effective sample size" in text and "Holm" in text
    assert text.count("<tr") == 1 + 4 + 1 + 4  # header + 4 pairs, header + 4 series
    assert "gemini" in text and "<img src='forest.png'" in text


def test_report_uses_the_given_table(tmp_path):
    frame = _frame(with_nan=False)
    table = correlate(frame, "pearson", inference="naive", padjust="bh")
    text = write_report(frame, tmp_path, table=table, title="Pearson <check>").read_text(encoding="utf-8")
    assert "Pearson &lt;check&gt;" in text and "Benjamini-Hochberg" in text and "classic t approximation" in text


def test_describe_matches_pandas():
    frame = _frame(with_nan=True)
    desc = describe(frame).set_index(["evaluator", "dimension"])
    grouped = frame.groupby(["evaluator", "dimension"])["value"]
    assert np.allclose(desc["mean"].sort_index(), grouped.mean().sort_index(), rtol=1e-12)
    assert np.allclose(desc["sd"].sort_index(), grouped.std().sort_index(), rtol=1e-12)
    assert desc.loc[("e2v", "valence"), "n_missing"] == 3
