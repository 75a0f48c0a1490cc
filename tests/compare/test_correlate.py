"""correlate(): agreement with scipy, the paper's numbers, pairing, NaN and constant handling, options."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import affectproxy as ap
from affectproxy.compare import COLUMNS, CorrelationInputError, LowEffectiveNWarning, correlate, p_value_t
from affectproxy.compare.inference import autocorrelation, effective_n

spec = importlib.util.spec_from_file_location("compare_helpers", Path(__file__).parent / "helpers.py")
helpers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(helpers)


def _three(rng: np.random.Generator, n: int = 51) -> pd.DataFrame:
    base = helpers.ar1(rng, 1, n, 0.5)[0]
    return helpers.tidy({
        ("gemini", "valence"): base + rng.standard_normal(n),
        ("gemini", "arousal"): np.round(rng.standard_normal(n), 1),  # ties
        ("e2v", "valence"): rng.standard_normal(n),
        ("trust", "pathos"): np.clip(np.round(base), -2, 2),  # integer scale, many ties
    })


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall"])
def test_r_and_naive_p_match_scipy(method):
    frame = _three(np.random.default_rng(1))
    table = correlate(frame, method)
    wide = frame.pivot(index="segment_id", columns=["evaluator", "dimension"], values="value")
    fn = {"spearman": stats.spearmanr, "pearson": stats.pearsonr,
          "kendall": lambda a, b: stats.kendalltau(a, b, method="asymptotic")}[method]
    for _, row in table.iterrows():
        res = fn(wide[(row.x_evaluator, row.x_dimension)], wide[(row.y_evaluator, row.y_dimension)])
        assert row.r == pytest.approx(res.statistic, abs=1e-10)
        assert row.p_naive == pytest.approx(res.pvalue, abs=1e-10)


def test_paper_naive_p_values_from_r_and_n():
    assert float(p_value_t(0.097, 51)) == pytest.approx(0.498, abs=0.001)
    assert float(p_value_t(-0.155, 51)) == pytest.approx(0.278, abs=0.001)
    assert float(p_value_t(0.239, 51)) == pytest.approx(0.091, abs=0.001)
    assert float(p_value_t(0.664, 51)) < 0.001
    assert float(p_value_t(-0.535, 51)) < 0.001


def _permutation_with_rho(target_rho: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """A permutation of 0..n-1 whose Spearman rho with 0..n-1 rounds to target_rho (hill climbing on sum d^2)."""
    goal = round((1 - target_rho) * n * (n**2 - 1) / 6 / 2) * 2
    y = rng.permutation(n)
    idx = np.arange(n)
    d2 = int(np.sum((y - idx) ** 2))
    while d2 != goal:
        i, j = rng.integers(0, n, 2)
        new = d2 - (y[i] - i) ** 2 - (y[j] - j) ** 2 + (y[j] - i) ** 2 + (y[i] - j) ** 2
        if abs(new - goal) < abs(d2 - goal):
            y[i], y[j] = y[j], y[i]
            d2 = int(new)
    return y.astype(float)


def test_paper_numbers_through_correlate():
    rng = np.random.default_rng(7)
    x = np.arange(51.0)
    frame = helpers.tidy({("e2v", "valence"): _permutation_with_rho(0.097, 51, rng),
                          ("gemini", "valence"): _permutation_with_rho(0.664, 51, rng),
                          ("trust", "pathos"): x})
    table = correlate(frame, target="trust/pathos", inference="naive").set_index("x_evaluator")
    assert table.loc["e2v", "r"] == pytest.approx(0.097, abs=5e-4)
    assert table.loc["e2v", "p_naive"] == pytest.approx(0.498, abs=0.001)
    assert table.loc["gemini", "p_naive"] < 0.001
    assert (table["p"] == table["p_naive"]).all()


def test_pairs_are_cross_evaluator_by_default_and_columns_fixed():
    frame = _three(np.random.default_rng(2))
    table = correlate(frame)
    assert list(table.columns) == COLUMNS
    assert len(table) == 5  # 4 series, 6 pairs, minus gemini valence vs gemini arousal
    assert not (table.x_evaluator == table.y_evaluator).any()
    assert len(correlate(frame, within_evaluator=True)) == 6
    for options in ({"inference": "naive"}, {"inference": "surrogate", "n_surrogates": 49},
                    {"padjust": "bh"}, {"method": "kendall"}, {"target": ("trust", "pathos")}):
        assert list(correlate(frame, **options).columns) == COLUMNS


def test_target_and_filters():
    frame = _three(np.random.default_rng(3))
    table = correlate(frame, target="trust/pathos")
    assert len(table) == 3 and set(table.y_evaluator) == {"trust"} and set(table.y_dimension) == {"pathos"}
    same = correlate(frame, target=("trust", "pathos"))
    pd.testing.assert_frame_equal(table, same)
    only_valence = correlate(frame, target="trust/pathos", dimensions=["valence"])
    assert set(only_valence.x_dimension) == {"valence"}
    assert set(correlate(frame, evaluators=["gemini", "e2v"]).y_evaluator) <= {"gemini", "e2v"}
    with pytest.raises(CorrelationInputError, match=r"Available: .*trust/pathos"):
        correlate(frame, target="trust/valence")
    with pytest.raises(CorrelationInputError, match="EVALUATOR/DIMENSION"):
        correlate(frame, target="trust")
    with pytest.raises(CorrelationInputError, match="Unknown evaluator"):
        correlate(frame, evaluators=["gemni"])
    with pytest.raises(CorrelationInputError, match="Unknown method"):
        correlate(frame, "spearmann")
    with pytest.raises(CorrelationInputError, match="Unknown inference"):
        correlate(frame, inference="bootstrap")
    with pytest.raises(CorrelationInputError, match="Unknown padjust"):
        correlate(frame, padjust="bonferroni")


def test_padjust_family_is_the_returned_rows():
    frame = _three(np.random.default_rng(4))
    table = correlate(frame, target="trust/pathos")
    p = np.sort(table.p.to_numpy())
    holm = np.maximum.accumulate(p * np.array([3, 2, 1]))
    assert np.sort(table.p_adj.to_numpy()) == pytest.approx(np.minimum(holm, 1))
    assert (correlate(frame, padjust="none").eval("p == p_adj")).all()


def test_missing_values_keep_time_order():
    rng = np.random.default_rng(5)
    x, y = helpers.ar1(rng, 2, 60, 0.6)
    x_gap = x.copy()
    x_gap[[10, 11, 40]] = np.nan
    frame = helpers.tidy({("a", "v"): x_gap, ("b", "v"): y})
    row = correlate(frame).iloc[0]
    ok = ~np.isnan(x_gap)
    assert row.n == 57
    assert row.r == pytest.approx(stats.spearmanr(x[ok], y[ok]).statistic, abs=1e-12)
    # the autocorrelation skips pairs across the gap instead of closing it
    acf = autocorrelation(x_gap, 1)[1]
    xc = x_gap - np.nanmean(x_gap)
    prods = xc[:-1] * xc[1:]
    expected = np.nanmean(prods) / np.nanmean(xc**2)
    assert acf == pytest.approx(expected)
    assert row.n_eff == pytest.approx(float(effective_n(x_gap, y)), rel=1e-12)


def test_segments_are_aligned_by_id_not_by_row_order():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((2, 30))
    ids = [f"seg{i}" for i in range(30)]
    a = helpers.tidy({("a", "v"): x}, ids)
    b = helpers.tidy({("b", "v"): y}, ids).iloc[::-1]  # b's rows reversed: must still pair seg_i with seg_i
    row = correlate(pd.concat([a, b])).iloc[0]
    assert row.r == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


def test_constant_series_give_nan_with_note():
    rng = np.random.default_rng(8)
    frame = helpers.tidy({("a", "v"): np.ones(40), ("b", "v"): rng.standard_normal(40),
                          ("c", "v"): rng.standard_normal(40)})
    table = correlate(frame)
    const = table[table.x_evaluator == "a"]
    assert const.r.isna().all() and const.p.isna().all() and const.p_adj.isna().all()
    assert const.note.str.contains("constant series: a/v").all()
    other = table[table.x_evaluator == "b"].iloc[0]
    assert np.isfinite(other.p_adj) and other.p_adj == pytest.approx(other.p)  # NaN rows leave the family


def test_warns_when_effective_n_is_small():
    rng = np.random.default_rng(9)
    x, y = np.cumsum(rng.standard_normal((2, 20)), axis=1)
    frame = helpers.tidy({("a", "v"): x, ("b", "v"): y})
    with pytest.warns(LowEffectiveNWarning, match="below 8"):
        row = correlate(frame).iloc[0]
    assert row.n_eff < 8 and "rough" in row.note
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        correlate(frame, inference="naive")


def test_accepts_anything_with_to_pandas():
    frame = _three(np.random.default_rng(10))

    class Holder:
        def to_pandas(self) -> pd.DataFrame:
            return frame

    pd.testing.assert_frame_equal(correlate(Holder()), correlate(frame))


def test_bad_input_errors():
    with pytest.raises(CorrelationInputError, match="lacks column"):
        correlate(pd.DataFrame({"segment_id": [1], "value": [1.0]}))
    dup = helpers.tidy({("a", "v"): [1.0, 2.0, 3.0]}, ["s1", "s1", "s2"])
    with pytest.raises(CorrelationInputError, match="more than one value"):
        correlate(dup)
    with pytest.raises(CorrelationInputError, match="Expected Results"):
        correlate([1, 2, 3])


def test_naive_interval_uses_n_and_robust_uses_n_eff():
    rng = np.random.default_rng(11)
    x, y = helpers.ar1(rng, 2, 80, 0.8)
    frame = helpers.tidy({("a", "v"): x, ("b", "v"): y + 0.8 * x})
    naive = correlate(frame, inference="naive").iloc[0]
    robust = correlate(frame).iloc[0]
    assert robust.n_eff < naive.n
    assert (robust.ci_high - robust.ci_low) > (naive.ci_high - naive.ci_low)
    assert robust.p > robust.p_naive == naive.p


def test_by_product_series_stay_out_of_the_default_table_unless_named() -> None:
    # bug caught: every TRUST advocate series paired with every other series in the default table (and p_adj family)
    class Panel:
        sample_rate, min_duration, name = None, 0.0, "panel"
        dimensions = (ap.Dimension("pathos"), ap.Dimension("pathos_a", -2, 2, detail=True))

        def fingerprint(self):
            return {"evaluator": "panel"}

        def evaluate(self, segments):
            return [ap.EmotionEstimate(s.id, self.name, {"pathos": (i % 5) - 2, "pathos_a": (i % 3) - 1})
                    for i, s in enumerate(segments)]

    class Other(Panel):
        name = "other"
        dimensions = (ap.Dimension("valence"),)

        def fingerprint(self):
            return {"evaluator": "other"}

        def evaluate(self, segments):
            return [ap.EmotionEstimate(s.id, self.name, {"valence": ((i * 7) % 11) / 10 - 0.5})
                    for i, s in enumerate(segments)]

    rec = ap.Recording("r")
    res = ap.evaluate([ap.Segment(f"s{i}", rec, i, i + 1) for i in range(30)], [Panel(), Other()], progress=False)
    default = correlate(res)
    assert set(default["x_dimension"]) | set(default["y_dimension"]) == {"pathos", "valence"}
    named = correlate(res, dimensions=["pathos_a", "valence"])
    assert "pathos_a" in set(named["x_dimension"]) | set(named["y_dimension"])
    assert len(correlate(res, target="panel/pathos_a")) == 1
