"""Figures and the HTML report, with two evaluators and with missing values."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from affectproxy.compare import correlate, describe
from affectproxy.compare.plots import (
    STARS_LEGEND,
    find_target,
    forest,
    format_number,
    format_p,
    heatmap,
    scatter_pairs,
    stars,
    target_profile,
    timeline,
    timeline_layout,
)
from affectproxy.report import flagged_estimates, write_report


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


# --- issue 8 §5: a report that shows everything and misleads nowhere ---------------------------------------------


def _target_frame(n_series: int, n: int = 24, seed: int = 1) -> pd.DataFrame:
    """A reference series and ``n_series`` series of another evaluator with spread-out correlations to it."""
    rng = np.random.default_rng(seed)
    ref = rng.standard_normal(n)
    rows = [(f"s{i}", "rec", float(i), "ref", "arousal", ref[i]) for i in range(n)]
    for k in range(n_series):
        w = k / max(n_series - 1, 1)
        v = (1 - w) * ref + w * rng.standard_normal(n) * 2
        rows += [(f"s{i}", "rec", float(i), "acoustic", f"d{k:02d}", v[i]) for i in range(n)]
    return pd.DataFrame(rows, columns=["segment_id", "recording", "start", "evaluator", "dimension", "value"])


def _texts(fig: Figure) -> list[str]:
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel()] + [t.get_text() for t in ax.texts]
    if fig._suptitle is not None:
        out.append(fig._suptitle.get_text())
    if fig._supxlabel is not None:
        out.append(fig._supxlabel.get_text())
    return out


def test_scatter_shows_every_pair_up_to_the_limit(tmp_path):
    frame = _target_frame(16)
    table = correlate(frame, target="ref/arousal")
    fig = scatter_pairs(frame, table)
    xlabels = {ax.get_xlabel() for ax in fig.axes}
    assert len(fig.axes) == 16 and xlabels == {f"acoustic/d{k:02d}" for k in range(16)}  # none left out
    assert fig._suptitle is None
    small = _target_frame(3)
    text = write_report(small, tmp_path, table=correlate(small, target="ref/arousal")).read_text(encoding="utf-8")
    assert "All 3 pairs of the table" in text


def test_scatter_beyond_the_limit_shows_the_strongest_and_says_how_many_are_left_out(tmp_path):
    frame = _target_frame(8)
    table = correlate(frame, target="ref/arousal")
    fig = scatter_pairs(frame, table, max_pairs=5)
    strongest = table.assign(a=table["r"].abs()).nlargest(5, "a")
    assert len(fig.axes) == 5
    assert {ax.get_xlabel() for ax in fig.axes} == {f"acoustic/{d}" for d in strongest["x_dimension"]}
    assert "The 5 strongest of 8 pairs" in fig._suptitle.get_text() and "3 not shown" in fig._suptitle.get_text()
    text = write_report(frame, tmp_path, table=table, max_scatter=5).read_text(encoding="utf-8")
    assert "3 of 8 pairs are not plotted" in text and "pairs with ref/arousal" in text


def test_target_row_replaces_the_mostly_empty_matrix(tmp_path):
    frame = _target_frame(6)
    table = correlate(frame, target="ref/arousal")
    assert find_target(table) == ("ref", "arousal")
    fig = target_profile(table)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    order = table.assign(a=table["r"].abs()).sort_values("a", ascending=False)
    assert labels == [f"acoustic/{d}" for d in order["x_dimension"]]  # strongest first
    assert [t.get_position()[1] for t in ax.get_yticklabels()] == list(range(6))[::-1]  # first = at the top
    annotations = [t.get_text() for t in ax.texts]
    assert sorted(annotations) == sorted(f"{r:.2f}{stars(p)}" for r, p in zip(table["r"], table["p_adj"], strict=True))
    assert any("***" in a for a in annotations) and STARS_LEGEND in _texts(fig)
    out = tmp_path / "rep"
    text = write_report(frame, out, table=table).read_text(encoding="utf-8")
    assert (out / "target.png").exists() and not (out / "heatmap.png").exists()
    assert "Correlations with ref/arousal" in text and "<img src='target.png'" in text
    assert "** p_adj &lt; 0.01" not in text and "** p_adj < 0.01" in text  # the legend, written in the page


def test_heatmap_legend_explains_the_stars():
    table = correlate(_frame(with_nan=False))
    texts = " ".join(_texts(heatmap(table)))
    assert "* p_adj < 0.05" in texts and "** p_adj < 0.01" in texts and "*** p_adj < 0.001" in texts


def _emodb_like(per_recording: int, shuffle: bool) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    rows = []
    for r in range(7):
        for k in range(per_recording):
            for ev in ("prosody", "intended"):
                rows.append((f"f{r}-{k}", f"file{r}", 1.5 * k, ev, "arousal", rng.standard_normal()))
    frame = pd.DataFrame(rows, columns=["segment_id", "recording", "start", "evaluator", "dimension", "value"])
    return frame.sample(frac=1.0, random_state=3) if shuffle else frame


def test_timeline_of_many_recordings_is_by_segment_order_grouped_by_recording():
    frame = _emodb_like(1, shuffle=False)  # seven files, one segment each, all starting at 0
    fig = timeline(frame)
    ax = fig.axes[0]
    xs = np.asarray(ax.lines[0].get_xdata(), dtype=float)
    finite = xs[np.isfinite(xs)]
    assert np.unique(finite).size == 7  # not seven points on the line x = 0
    assert "grouped by recording" in ax.get_xlabel() or "grouped by recording" in fig.axes[-1].get_xlabel()
    assert [t.get_text() for t in fig.axes[-1].get_xticklabels()] == [f"file{r}" for r in range(7)]
    # several segments per recording: in start order within each recording, whatever the row order
    frame = _emodb_like(3, shuffle=True)
    segs = list(dict.fromkeys(frame["segment_id"]))
    xs, _, spans = timeline_layout(frame, segs)
    pos = dict(zip(segs, xs, strict=True))
    recs = list(dict.fromkeys(frame["recording"]))
    assert [name for name, _, _ in spans] == recs
    for name, lo, hi in spans:
        r = name.removeprefix("file")
        assert [pos[f"f{r}-{k}"] for k in range(3)] == [lo, lo + 1, lo + 2] and hi == lo + 2
    line = np.asarray(timeline(frame).axes[0].lines[0].get_xdata(), dtype=float)
    assert np.isnan(line).sum() == 6  # the line breaks between recordings


def test_timeline_of_one_recording_keeps_start_times():
    frame = _frame(with_nan=False)
    xs = np.asarray(timeline(frame).axes[0].lines[0].get_xdata(), dtype=float)
    np.testing.assert_array_equal(xs, 2.0 * np.arange(30))


def test_title_p_format_and_no_negative_zero(tmp_path):
    frame = _target_frame(4)
    table = correlate(frame, target="ref/arousal")
    table.loc[0, ["r", "ci_low"]] = [-0.0001, -0.0004]
    table.loc[1, "p_adj"] = 7.39e-06
    text = write_report(frame, tmp_path, table=table, title="Study: debate 2024").read_text(encoding="utf-8")
    assert "<title>Study: debate 2024</title>" in text and "<h1>Study: debate 2024</h1>" in text
    assert "-0.000" not in text and ">0.000<" in text
    assert format_number(-0.0001) == "0.000" and format_number(-0.0001, 2) == "0.00" and format_number(-0.2) == "-0.200"
    # one p format: the cell in the table and the scatter title say the same
    assert "&lt;0.001" in text and "e-06" not in text
    titles = [ax.get_title() for ax in scatter_pairs(frame, table).axes]
    for (_, row), title in zip(table.iterrows(), titles, strict=True):
        shown = format_p(row["p_adj"])
        assert f"p_adj {'<' if shown.startswith('<') else '='} {shown.lstrip('<')}" in title
        assert f">{shown.replace('<', '&lt;')}</td>" in text
    assert "e-0" not in " ".join(titles)


def test_notes_are_footnotes_so_the_table_stays_narrow(tmp_path):
    frame = _target_frame(3)
    table = correlate(frame, target="ref/arousal")
    long_note = "n_eff = 7.98 < 8 (15 segments in 1 recording): interval and p are rough; more segments help"
    table["note"] = [long_note, "", long_note]
    text = write_report(frame, tmp_path, table=table).read_text(encoding="utf-8")
    body = text[text.index("<h2>Correlations</h2>"):]
    table_html = body[:body.index("</table>")]
    assert long_note not in table_html and table_html.count("[1]") == 2  # a reference, not the sentence
    assert body.count(html.escape(long_note)) == 1 and "<li id='note1'>" in body  # listed once, under the table
    cells = [c.split(">", 1)[1] for c in table_html.split("<td")[1:]]
    assert max(len(c.split("</td>")[0]) for c in cells) < 60


def test_flagged_estimates_are_listed(tmp_path):
    import affectproxy as ap
    from affectproxy.results import Results

    rec = ap.Recording("debate")
    segs = [ap.Segment(f"s{i}", rec, 5.0 * i, 5.0 * i + 5) for i in range(6)]
    rng = np.random.default_rng(0)
    ests = [ap.EmotionEstimate(s.id, "prosody", {"loudness_mean": float(rng.random())},
                               labels={"warning": "no F0 from openSMILE although 22% of frames are voiced"}
                               if s.id == "s3" else {}) for s in segs]
    ests += [ap.EmotionEstimate(s.id, "ref", {"loudness_mean": float(rng.random())}) for s in segs]
    res = Results(segs, [], ests, [])
    flags = flagged_estimates(res)
    assert flags.to_dict("records") == [{"segment_id": "s3", "evaluator": "prosody",
                                         "warning": "no F0 from openSMILE although 22% of frames are voiced"}]
    text = write_report(res, tmp_path).read_text(encoding="utf-8")
    assert "Flagged estimates" in text and "prosody: 1 of 6 segments" in text
    assert "no F0 from openSMILE although 22% of frames are voiced" in text
    assert flagged_estimates(res.to_pandas()).empty
