"""Statistics over several recordings: serial dependence only inside a recording, in time order.

A corpus of separate files (EMO-DB style, one segment each) must be treated as independent segments, and no
result may depend on the order of the table's rows or of the recordings. One recording must give the numbers the
code gave before recordings were taken into account (data/single_recording_before.json, written by the code at
the commit named in the file).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from affectproxy.compare import (
    LowEffectiveNWarning,
    autocorrelation,
    compare_correlations,
    correlate,
    effective_n,
    phase_randomised,
    recording_surrogates,
    surrogate_test,
)
from affectproxy.compare.correlate import series_rng

COLS = ["segment_id", "recording", "start", "end", "evaluator", "dimension", "value"]


def _single_recording_frame() -> pd.DataFrame:
    """The frame the reference values were computed on (do not change: the JSON depends on it)."""
    rng = np.random.default_rng(20261129)
    n = 51
    e = rng.standard_normal((4, n))
    x = np.empty((4, n))
    x[:, 0] = e[:, 0] / np.sqrt(1 - 0.36)
    for t in range(1, n):
        x[:, t] = 0.6 * x[:, t - 1] + e[:, t]
    series = {("gemini", "valence"): x[0] + 0.8 * x[3], ("gemini", "arousal"): np.round(x[1], 1),
              ("e2v", "valence"): x[2], ("trust", "pathos"): np.clip(np.round(x[3]), -2, 2)}
    series[("e2v", "valence")][[7, 8, 30]] = np.nan
    rows = []
    for (ev, dim), v in series.items():
        rows += [(f"s{i:03d}", "speech", 2.0 * i, 2.0 * i + 2, ev, dim, float(v[i])) for i in range(n)]
    return pd.DataFrame(rows, columns=COLS)


REFERENCE = json.loads((Path(__file__).parent / "data" / "single_recording_before.json").read_text())["values"]


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall"])
@pytest.mark.parametrize("inference", ["neff", "naive"])
def test_one_recording_gives_the_numbers_of_before(method, inference):
    table = correlate(_single_recording_frame(), method, inference=inference)
    got = table[["n_eff", "r", "ci_low", "ci_high", "p", "p_adj"]].to_numpy()
    assert got == pytest.approx(np.array(REFERENCE[f"{method}/{inference}"]), rel=1e-12, abs=1e-15)


def test_one_recording_compare_correlations_and_helpers_unchanged():
    frame = _single_recording_frame()
    for method in ("spearman", "pearson"):
        row = compare_correlations(frame, "trust/pathos", "gemini/valence", "e2v/valence", method=method).iloc[0]
        got = [row[c] for c in ("n_eff", "ci_low", "ci_high", "t", "p")]
        assert got == pytest.approx(REFERENCE[f"cc/{method}"], rel=1e-12)
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((2, 40)).cumsum(axis=1)
    methods = ("spearman", "pearson", "kendall")
    p = [surrogate_test(a, b, method=m, n_surrogates=99, random_state=11)[1] for m in methods]
    assert p == REFERENCE["surrogate_test"]
    assert p == [surrogate_test(a, b, method=m, n_surrogates=99, random_state=11, groups=np.zeros(40))[1]
                 for m in methods]
    assert [float(effective_n(a, b, method=m)) for m in ("spearman", "pearson")] == pytest.approx(
        REFERENCE["effective_n"], rel=1e-12)


def test_one_recording_surrogates_change_only_by_seed():
    # r, n_eff and the interval are as before; p uses each series' own generator (seeded by its name), so it no
    # longer depends on the order of the series; with that generator it is the one-recording surrogate test
    frame = _single_recording_frame()
    table = correlate(frame, inference="surrogate", n_surrogates=199)
    before = np.array(REFERENCE["spearman/surrogate"])
    assert table[["n_eff", "r", "ci_low", "ci_high"]].to_numpy() == pytest.approx(before[:, :4], rel=1e-12)
    row = correlate(frame, target="trust/pathos", inference="surrogate", n_surrogates=199).iloc[0]  # x randomised
    wide = frame.pivot(index="segment_id", columns=["evaluator", "dimension"], values="value")
    x, y = wide[(row.x_evaluator, row.x_dimension)], wide[(row.y_evaluator, row.y_dimension)]
    _, p = surrogate_test(x.to_numpy(), y.to_numpy(), n_surrogates=199,
                          random_state=series_rng(0, (row.x_evaluator, row.x_dimension)))
    assert row.p == p


def _emodb(rng: np.random.Generator) -> pd.DataFrame:
    """Seven separate files, one segment each (all starting at 0): acted and prosodic arousal."""
    acted = np.array([0.9, -0.6, 0.7, -0.3, 0.2, -0.8, 0.5])
    prosody = acted + 0.3 * rng.standard_normal(7)
    rows = []
    for k, name in enumerate(["03a01Fa", "03a01Nc", "03a01Wa", "03a02Ta", "03a04Ad", "03a05Lb", "03a07Fb"]):
        rows.append((name, name, 0.0, 2.1, "acted", "arousal", acted[k]))
        rows.append((name, name, 0.0, 2.1, "prosody", "arousal", prosody[k]))
    return pd.DataFrame(rows, columns=COLS)


@pytest.mark.filterwarnings("ignore::affectproxy.compare.LowEffectiveNWarning")
def test_one_segment_recordings_are_independent_and_order_free():
    rng = np.random.default_rng(0)
    frame = _emodb(rng)
    with pytest.warns(LowEffectiveNWarning, match="more recordings help"):
        row = correlate(frame).iloc[0]
    assert row.n == 7 and row.n_eff == 7.0
    assert row.p == pytest.approx(row.p_naive, rel=1e-12)
    assert row.p == pytest.approx(stats.spearmanr(frame.value[::2], frame.value[1::2]).pvalue, rel=1e-12)
    assert "7 segments in 7 recordings" in row.note and "more recordings help" in row.note
    ps = {float(correlate(frame.iloc[rng.permutation(len(frame))]).iloc[0].p) for _ in range(20)}
    assert max(ps) - min(ps) < 1e-12


def _corpus(rng: np.random.Generator) -> pd.DataFrame:
    """Six recordings of different lengths, recording-level offsets, AR(1) inside, a few missing values."""
    rows = []
    for k, length in enumerate([12, 30, 5, 18, 1, 25]):
        level = rng.standard_normal(3)
        e = rng.standard_normal((3, length))
        x = np.empty((3, length))
        x[:, 0] = e[:, 0]
        for t in range(1, length):
            x[:, t] = 0.7 * x[:, t - 1] + e[:, t]
        x += level[:, None]
        values = {("a", "v"): x[0], ("b", "v"): x[1] + 0.5 * x[0], ("c", "arousal"): np.round(x[2])}
        for (ev, dim), v in values.items():
            for t in range(length):
                if not (ev == "b" and t % 7 == 3):
                    rows.append((f"r{k}-{t}", f"rec{k}", 1.5 * t, 1.5 * t + 1, ev, dim, float(v[t])))
    return pd.DataFrame(rows, columns=COLS)


@pytest.mark.parametrize("options", [{}, {"method": "pearson"}, {"method": "kendall"},
                                     {"inference": "surrogate", "n_surrogates": 99}])
def test_results_do_not_depend_on_the_order_of_rows_or_recordings(options):
    rng = np.random.default_rng(1)
    frame = _corpus(rng)
    key = ["x_evaluator", "x_dimension", "y_evaluator", "y_dimension"]
    ref = correlate(frame, **options).sort_values(key).reset_index(drop=True)
    renamed = frame.assign(recording=frame.recording.map({f"rec{k}": f"rec{5 - k}" for k in range(6)}))
    variants = [frame.iloc[rng.permutation(len(frame))], frame.iloc[::-1]]
    if options.get("inference") != "surrogate":  # surrogates are drawn recording by recording, in id order
        variants.append(renamed.iloc[rng.permutation(len(frame))])
    for variant in variants:
        got = correlate(variant, **options).sort_values(key).reset_index(drop=True)
        for col in ("n", "n_eff", "r", "ci_low", "ci_high", "p_naive", "p", "p_adj"):
            assert got[col].to_numpy() == pytest.approx(ref[col].to_numpy(), abs=1e-12), col
    a = compare_correlations(frame, "a/v", "b/v", "c/arousal").iloc[0]
    b = compare_correlations(frame.iloc[rng.permutation(len(frame))], "a/v", "b/v", "c/arousal").iloc[0]
    for col in ("n_eff", "ci_low", "ci_high", "t", "p"):
        assert a[col] == pytest.approx(b[col], abs=1e-12)


def _acf_by_loops(values: list[np.ndarray], lag: int) -> float:
    """Pooled lag autocorrelation written out: pairs inside each recording, centred on the grand mean."""
    allv = np.concatenate(values)
    mean = np.nanmean(allv)
    var = np.nanmean((allv - mean) ** 2)
    prods = []
    for v in values:
        for t in range(len(v) - lag):
            if not (np.isnan(v[t]) or np.isnan(v[t + lag])):
                prods.append((v[t] - mean) * (v[t + lag] - mean))
    return float(np.mean(prods) / var) if prods else 0.0


def test_autocorrelation_uses_lag_pairs_inside_recordings_only():
    rng = np.random.default_rng(2)
    recs = [rng.standard_normal(m).cumsum() for m in (9, 14, 3, 1, 20)]
    recs[1][[2, 8]] = np.nan
    labels = np.concatenate([np.full(len(v), k) for k, v in enumerate(recs)])
    # recordings interleaved in the input; the positions of one recording keep their time order
    g = rng.permutation(labels)
    x = np.empty(g.size)
    for k, v in enumerate(recs):
        x[g == k] = v
    acf = autocorrelation(x, 5, groups=g)
    assert acf[0] == 1.0
    for lag in range(1, 6):
        assert acf[lag] == pytest.approx(_acf_by_loops(recs, lag), rel=1e-10)


def test_effective_n_weights_lags_by_pairs_inside_recordings():
    rng = np.random.default_rng(3)
    lengths = [15, 25, 10]
    x = [rng.standard_normal(m).cumsum() for m in lengths]
    y = [rng.standard_normal(m).cumsum() for m in lengths]
    g = np.repeat(np.arange(3), lengths)
    xs, ys = np.concatenate(x), np.concatenate(y)
    n = xs.size
    lag_max = min(n // 5, max(lengths) - 1)  # Pyper & Peterman's n/5, never beyond the longest recording
    total = sum(sum(max(m - j, 0) for m in lengths) / n * _acf_by_loops(x, j) * _acf_by_loops(y, j)
                for j in range(1, lag_max + 1))
    expected = min(max(1 / (1 / n + 2 / n * total), 3.0), n)
    assert float(effective_n(xs, ys, method="pearson", groups=g)) == pytest.approx(expected, rel=1e-10)
    assert float(effective_n(xs, ys, method="pearson", groups=np.arange(n))) == n  # one-segment recordings


def test_surrogates_stay_inside_recordings():
    rng = np.random.default_rng(4)
    x = np.r_[rng.standard_normal(8).cumsum(), 50 + rng.standard_normal(12).cumsum(), [100.0]]
    codes = np.repeat([0, 1, 2], [8, 12, 1])
    surr = recording_surrogates(x, codes, 300, random_state=7)
    means = np.array([x[codes == k].mean() for k in range(3)])
    for k in range(3):
        block = surr[:, codes == k]
        shift = block.mean(axis=1) - means[k]
        # a reordering of the recording's own values, moved to the level of some recording
        assert np.sort(block - shift[:, None], axis=1) == pytest.approx(np.tile(np.sort(x[codes == k]), (300, 1)))
        assert set(np.round(block.mean(axis=1), 9)) == set(np.round(means, 9))
    # one recording: exactly the classic amplitude-adjusted phase randomisation
    assert np.array_equal(recording_surrogates(x[:8], codes[:8], 50, random_state=3),
                          phase_randomised(x[:8], 50, random_state=3))


def test_surrogate_test_of_one_segment_recordings_is_a_permutation_test():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((2, 12))
    y = y + 0.9 * x
    _, p = surrogate_test(x, y, method="pearson", n_surrogates=3000, random_state=1, groups=np.arange(12))
    shuffled = x[np.argsort(rng.random((3000, 12)), axis=1)]
    perm = np.corrcoef(np.vstack([y, shuffled]))[0, 1:]
    p_perm = (1 + np.sum(np.abs(perm) >= abs(stats.pearsonr(x, y).statistic))) / 3001
    assert p == pytest.approx(p_perm, abs=0.01)
    assert p < 0.05


def test_low_n_eff_notes_name_the_remedy():
    rng = np.random.default_rng(6)
    # one recording, two random walks: more segments help
    walk = pd.DataFrame([(f"s{t}", "talk", float(t), t + 1.0, ev, "v", v) for ev in ("a", "b")
                         for t, v in enumerate(rng.standard_normal(20).cumsum())], columns=COLS)
    with pytest.warns(LowEffectiveNWarning, match="within one recording"):
        row = correlate(walk).iloc[0]
    assert row.n_eff < 8 and "more segments help (a longer recording" in row.note
    # four recordings whose values hardly move inside a recording: more recordings help
    rows = []
    for k in range(4):
        level = rng.standard_normal(2) * 3
        for t in range(10):
            for j, ev in enumerate(("a", "b")):
                value = level[j] + 0.05 * rng.standard_normal()
                rows.append((f"r{k}-{t}", f"rec{k}", float(t), t + 1.0, ev, "v", value))
    with pytest.warns(LowEffectiveNWarning, match="within each of 4 recordings") as caught:
        row = correlate(pd.DataFrame(rows, columns=COLS)).iloc[0]
    assert row.n_eff < 8 and "more recordings help" in row.note and "in 4 recordings" in row.note
    assert "more recordings help" in str(caught[0].message)
    # a naive run carries no n_eff note and no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        naive = correlate(pd.DataFrame(rows, columns=COLS), inference="naive").iloc[0]
    assert naive.note == "" and naive.p == naive.p_naive
