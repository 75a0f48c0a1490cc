"""Agreement measures against pingouin (ICC) and krippendorff (alpha), CCC against Lin's formula."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pingouin as pg
import pytest

import affectproxy as ap
from affectproxy.compare import CorrelationInputError, agreement, ccc, declared_ranges, icc, krippendorff_alpha_interval
from affectproxy.store import EvaluatorRecord


def _advocates(rng: np.random.Generator, n: int = 51) -> np.ndarray:
    truth = rng.normal(-0.4, 0.6, n)
    return np.column_stack([np.clip(np.round(truth + rng.normal(b, 0.5, n)), -2, 2) for b in (0.0, 0.3, -0.2)])


def test_icc_matches_pingouin():
    ratings = _advocates(np.random.default_rng(0)) + np.random.default_rng(1).normal(0, 0.1, (51, 3))
    long = pd.DataFrame([(i, j, ratings[i, j]) for i in range(51) for j in range(3)], columns=["seg", "rater", "v"])
    ref = pg.intraclass_corr(long, targets="seg", raters="rater", ratings="v").set_index("Type")["ICC"]
    ours = icc(ratings)
    assert ours["icc_a1"] == pytest.approx(ref["ICC(A,1)"], abs=1e-10)
    assert ours["icc_c1"] == pytest.approx(ref["ICC(C,1)"], abs=1e-10)
    assert ours["icc_ak"] == pytest.approx(ref["ICC(A,k)"], abs=1e-10)
    assert ours["icc_ck"] == pytest.approx(ref["ICC(C,k)"], abs=1e-10)


def test_alpha_matches_krippendorff_with_missing_values():
    ratings = _advocates(np.random.default_rng(2))
    ratings[[3, 7, 20], [0, 2, 1]] = np.nan
    ratings[30, :2] = np.nan  # a unit with one rating is not pairable
    ref = krippendorff.alpha(reliability_data=ratings.T, level_of_measurement="interval")
    assert krippendorff_alpha_interval(ratings) == pytest.approx(ref, abs=1e-10)


def test_ccc_matches_lins_formula():
    rng = np.random.default_rng(3)
    x = rng.normal(0.5, 0.2, 40)
    y = 0.8 * x + rng.normal(0.1, 0.1, 40)
    cov = np.cov(x, y, bias=True)[0, 1]
    expected = 2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
    assert ccc(x, y) == pytest.approx(expected, abs=1e-12)
    assert ccc(x, x + 1) < np.corrcoef(x, x + 1)[0, 1]  # a shift is disagreement, not for r


def _tidy(ratings: np.ndarray, names=("adv_leg", "adv_deleg", "adv_neutral")) -> pd.DataFrame:
    return pd.DataFrame([(f"s{i}", name, "pathos", ratings[i, j]) for j, name in enumerate(names)
                         for i in range(ratings.shape[0])], columns=["segment_id", "evaluator", "dimension", "value"])


def test_agreement_table_for_trust_advocates():
    ratings = _advocates(np.random.default_rng(4))
    table = agreement(_tidy(ratings), dimension="pathos")
    assert list(table.columns) == ["measure", "value", "n", "k", "description"]
    assert list(table.measure) == ["ccc", "icc_a1", "icc_c1", "icc_ak", "icc_ck", "krippendorff_alpha",
                                   "mean_spearman"]
    vals = table.set_index("measure")["value"]
    assert vals["icc_c1"] == pytest.approx(icc(ratings)["icc_c1"])
    assert vals["krippendorff_alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=ratings.T, level_of_measurement="interval"))
    pairs = [(0, 1), (0, 2), (1, 2)]
    assert vals["ccc"] == pytest.approx(np.mean([ccc(ratings[:, i], ratings[:, j]) for i, j in pairs]))
    same = agreement(_tidy(ratings), ["adv_leg/pathos", ("adv_deleg", "pathos"), "adv_neutral/pathos"])
    pd.testing.assert_frame_equal(table, same)
    assert (table.k == 3).all()


def test_ranges_put_raters_on_one_scale():
    rng = np.random.default_rng(5)
    base = rng.uniform(0, 1, 30)
    frame = _tidy(np.column_stack([base, base * 4 - 2]), names=("gemini", "trust"))
    raw = agreement(frame, dimension="pathos").set_index("measure")["value"]
    scaled = agreement(frame, dimension="pathos", ranges={"gemini": (0, 1), "trust/pathos": (-2, 2)})
    scaled = scaled.set_index("measure")["value"]
    assert raw["ccc"] < 0.5 and scaled["ccc"] == pytest.approx(1.0)
    assert raw["mean_spearman"] == pytest.approx(scaled["mean_spearman"]) == pytest.approx(1.0)
    with pytest.raises(CorrelationInputError, match="high > low"):
        agreement(frame, dimension="pathos", ranges={"gemini": (1, 0)})


def test_agreement_needs_two_raters():
    frame = _tidy(np.ones((5, 1)), names=("only",))
    with pytest.raises(CorrelationInputError, match="at least 2 raters"):
        agreement(frame, dimension="pathos")
    with pytest.raises(CorrelationInputError, match="dimension"):
        agreement(frame)


def _results(base: np.ndarray) -> ap.Results:
    """Results as the store gives them back: evaluator records carry the declared dimensions."""
    rec = ap.Recording("debate")
    segs = [ap.Segment(f"s{i}", rec, float(i), i + 1.0) for i in range(base.size)]
    records = [EvaluatorRecord("gemini", "f1", {}, (ap.Dimension("valence"),)),  # canonical: -1..1
               EvaluatorRecord("trust", "f2", {}, (ap.Dimension("pathos"),)),  # canonical: -2..2
               EvaluatorRecord("prosody", "f3", {}, (ap.Dimension("f0_range"),))]  # unbounded
    estimates = []
    for i, b in enumerate(base):
        estimates += [ap.EmotionEstimate(f"s{i}", "gemini", {"valence": 2 * b - 1}),
                      ap.EmotionEstimate(f"s{i}", "trust", {"pathos": 4 * b - 2}),
                      ap.EmotionEstimate(f"s{i}", "prosody", {"f0_range": 40 * b})]
    return ap.Results(segs, records, estimates, [])


def test_declared_ranges_put_raters_on_one_scale_without_hand_filled_ranges():
    res = _results(np.random.default_rng(6).uniform(0, 1, 30))
    assert declared_ranges(res) == {"gemini/valence": (-1.0, 1.0), "trust/pathos": (-2.0, 2.0)}
    table = agreement(res, ["gemini/valence", "trust/pathos"]).set_index("measure")
    assert table.loc["ccc", "value"] == pytest.approx(1.0)
    assert "on 0..1 from each rater's range" in table.loc["ccc", "description"]
    raw = agreement(res, ["gemini/valence", "trust/pathos"], rescale=False).set_index("measure")
    assert raw.loc["ccc", "value"] < 0.9 and raw.loc["ccc", "description"].endswith("raw values")
    assert raw.loc["ccc", "value"] == pytest.approx(
        agreement(res.to_pandas(), ["gemini/valence", "trust/pathos"]).set_index("measure").loc["ccc", "value"])
    # a rater without a declared range: nothing is rescaled, and the description says why
    mixed = agreement(res, ["gemini/valence", "prosody/f0_range"]).set_index("measure")
    assert "no declared range for prosody/f0_range" in mixed.loc["ccc", "description"]
    given = agreement(res, ["gemini/valence", "prosody/f0_range"], ranges={"prosody": (0, 40)})
    assert given.set_index("measure").loc["ccc", "value"] == pytest.approx(1.0)
    with pytest.raises(CorrelationInputError, match="No range for prosody/f0_range"):
        agreement(res, ["gemini/valence", "prosody/f0_range", "trust/pathos"], ranges={"gemini": (-1, 1)})


def test_ordinal_alpha_equals_the_krippendorff_package() -> None:
    from affectproxy.compare.agreement import krippendorff_alpha_ordinal

    rng = np.random.default_rng(7)
    for _ in range(30):
        truth = rng.integers(-2, 3, size=40)
        ratings = np.clip(truth[:, None] + rng.integers(-1, 2, size=(40, 3)), -2, 2).astype(float)
        ratings[rng.random(ratings.shape) < 0.1] = np.nan
        expected = krippendorff.alpha(reliability_data=ratings.T, level_of_measurement="ordinal")
        assert krippendorff_alpha_ordinal(ratings) == pytest.approx(expected, abs=1e-10)
