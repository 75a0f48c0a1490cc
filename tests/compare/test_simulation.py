"""Size and coverage under serial dependence: the default inference must hold its nominal levels.

Two designs, fixed seeds, fully vectorised through the same functions correlate() uses (and checked against
correlate() itself):

- one recording: two AR(1) series with phi = 0.6 and n = 51 (the paper's design), 20,000 simulated pairs;
- a corpus: 10 recordings x 20 segments, each recording an independent AR(1) stretch with phi = 0.6, x and y
  independent, 15,000 simulated pairs.

Each size band is [4%, 6%]. With that many runs a test whose true size is 6.5% lands inside the band with
probability below 1% (binomial; asserted below), so the bands would catch a test that rejects 6.5% of the time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from affectproxy.compare import correlate, effective_n, fisher_interval, p_value_t, surrogate_test
from affectproxy.compare.inference import kendall_variance_ratio, rank_nan

spec = importlib.util.spec_from_file_location("compare_helpers", Path(__file__).parent / "helpers.py")
helpers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(helpers)

RUNS, N, PHI = 20_000, 51, 0.6
REC_RUNS, RECORDINGS, LENGTH = 15_000, 10, 20
BAND = (0.04, 0.06)


def _rowwise_r(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    return (xc * yc).sum(axis=1) / np.sqrt((xc**2).sum(axis=1) * (yc**2).sum(axis=1))


def _band_catches_6_5_percent(runs: int) -> bool:
    """A test of true size 6.5% would land inside BAND with probability below 1% over ``runs`` runs."""
    inside = stats.binom.cdf(np.floor(BAND[1] * runs), runs, 0.065) - stats.binom.cdf(np.ceil(BAND[0] * runs) - 1,
                                                                                       runs, 0.065)
    return bool(inside < 0.01)


@pytest.fixture(scope="module")
def independent():
    rng = np.random.default_rng(20260522)
    return helpers.ar1(rng, RUNS, N, PHI), helpers.ar1(rng, RUNS, N, PHI)


@pytest.fixture(scope="module")
def corpus():
    """x and y: (REC_RUNS, RECORDINGS * LENGTH), recording after recording; each recording its own AR(1)."""
    rng = np.random.default_rng(20261129)
    x = helpers.ar1(rng, REC_RUNS * RECORDINGS, LENGTH, PHI).reshape(REC_RUNS, RECORDINGS * LENGTH)
    y = helpers.ar1(rng, REC_RUNS * RECORDINGS, LENGTH, PHI).reshape(REC_RUNS, RECORDINGS * LENGTH)
    return x, y, np.repeat(np.arange(RECORDINGS), LENGTH)


def test_bands_would_catch_a_6_5_percent_test():
    assert _band_catches_6_5_percent(RUNS) and _band_catches_6_5_percent(REC_RUNS)
    assert not _band_catches_6_5_percent(2_000)  # the old 2,000-run, 3-7% test could not


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_size_under_independent_ar1(independent, method):
    x, y = independent
    xt, yt = (rank_nan(x), rank_nan(y)) if method == "spearman" else (x, y)
    r = _rowwise_r(xt, yt)
    naive = np.mean(p_value_t(r, N) < 0.05)
    robust = np.mean(p_value_t(r, effective_n(x, y, method=method)) < 0.05)
    assert naive > 0.12, naive
    assert BAND[0] <= robust <= BAND[1], robust


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks along rows of tie-free data (what rank_nan gives, computed another way and faster)."""
    return np.argsort(np.argsort(x, axis=1), axis=1) + 1.0


@pytest.mark.parametrize("level_sd", [0.0, 1.0])
def test_size_with_ten_recordings_of_twenty_segments(corpus, level_sd):
    # level_sd > 0: each recording also has its own level (a speaker, a file), as large as the AR(1)'s own
    # spread; only dependence summed over every within-recording lag keeps the size (J = n/5 per recording
    # length, i.e. 4 lags here, rejects 11%)
    x, y, groups = corpus
    if level_sd:
        rng = np.random.default_rng(7)
        x = x + np.repeat(rng.normal(0, level_sd, (REC_RUNS, RECORDINGS)), LENGTH, axis=1)
        y = y + np.repeat(rng.normal(0, level_sd, (REC_RUNS, RECORDINGS)), LENGTH, axis=1)
    rx, ry = _ranks(x), _ranks(y)
    r = _rowwise_r(rx, ry)
    # Spearman's n_eff is the Pearson n_eff of the ranks (checked on a few rows against method="spearman")
    n_eff = effective_n(rx, ry, method="pearson", groups=groups)
    assert n_eff[:20] == pytest.approx(effective_n(x[:20], y[:20], groups=groups), rel=1e-12)
    robust = np.mean(p_value_t(r, n_eff) < 0.05)
    naive = np.mean(p_value_t(r, RECORDINGS * LENGTH) < 0.05)
    assert naive > 0.12, naive
    assert BAND[0] <= robust <= BAND[1], robust


def _corpus_frame(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for name, values in (("a", x), ("b", y)):
        for k, v in enumerate(values):
            rec, pos = divmod(k, LENGTH)
            rows.append((f"r{rec}s{pos}", f"rec{rec}", 3.0 * pos, 3.0 * pos + 2, name, "v", float(v)))
    frame = pd.DataFrame(rows, columns=["segment_id", "recording", "start", "end", "evaluator", "dimension", "value"])
    return frame.iloc[rng.permutation(len(frame))]  # row order carries no time information


def test_correlate_matches_the_vectorised_corpus_path(corpus):
    x, y, groups = corpus
    rng = np.random.default_rng(3)
    for k in range(3):
        row = correlate(_corpus_frame(x[k], y[k], rng)).iloc[0]
        r = _rowwise_r(rank_nan(x[k : k + 1]), rank_nan(y[k : k + 1]))[0]
        n_eff = float(effective_n(x[k], y[k], groups=groups))
        assert row.r == pytest.approx(r, abs=1e-12)
        assert row.n_eff == pytest.approx(n_eff, rel=1e-12)
        assert row.p == pytest.approx(float(p_value_t(r, n_eff)), rel=1e-10)


def test_surrogate_size_with_ten_recordings(corpus):
    x, y, groups = corpus
    runs = 200
    p = np.array([surrogate_test(x[k], y[k], n_surrogates=99, random_state=k, groups=groups)[1]
                  for k in range(runs)])
    rate = np.mean(p < 0.05)
    assert 0.015 <= rate <= 0.10, rate


def test_default_interval_covers_known_correlation(independent):
    rng = np.random.default_rng(99)
    c = 0.5
    e = rng.standard_normal((2, RUNS, N))
    x = helpers.ar1(rng, RUNS, N, PHI, e[0])
    y = helpers.ar1(rng, RUNS, N, PHI, c * e[0] + np.sqrt(1 - c**2) * e[1])
    rho_s = 6 / np.pi * np.arcsin(c / 2)  # Spearman's rho of a bivariate normal with correlation c
    r = _rowwise_r(rank_nan(x), rank_nan(y))
    low, high = fisher_interval(r, effective_n(x, y), method="spearman")
    coverage = np.mean((low <= rho_s) & (rho_s <= high))
    naive_low, naive_high = fisher_interval(r, N, method="spearman")
    naive_coverage = np.mean((naive_low <= rho_s) & (rho_s <= naive_high))
    assert 0.935 <= coverage <= 0.965, coverage
    assert naive_coverage < 0.90, naive_coverage


def test_correlate_matches_the_vectorised_path(independent):
    x, y = independent
    for k in range(5):
        frame = helpers.tidy({("a", "v"): x[k], ("b", "v"): y[k]})
        row = correlate(frame).iloc[0]
        r = _rowwise_r(rank_nan(x[k : k + 1]), rank_nan(y[k : k + 1]))[0]
        n_eff = float(effective_n(x[k], y[k]))
        assert row.r == pytest.approx(r, abs=1e-12)
        assert row.n_eff == pytest.approx(n_eff, rel=1e-12)
        assert row.p == pytest.approx(float(p_value_t(r, n_eff)), rel=1e-10)


def test_surrogate_size_under_independent_ar1(independent):
    x, y = independent
    runs = 400
    ties_x = np.round(x[:runs])  # discrete scores, many ties
    p = np.array([surrogate_test(ties_x[k], y[k], n_surrogates=199, random_state=k)[1] for k in range(runs)])
    rate = np.mean(p < 0.05)
    assert 0.02 <= rate <= 0.09, rate


def _kendall_p(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Robust and naive Kendall p of one run, as correlate() computes them."""
    res = stats.kendalltau(x, y, method="asymptotic")
    n_eff = float(effective_n(x, y, method="kendall"))
    z = stats.norm.isf(res.pvalue / 2.0) * np.sqrt(kendall_variance_ratio(x.size, n_eff))
    return float(2.0 * stats.norm.sf(z)), float(res.pvalue)


def test_kendall_robust_size(independent):
    x, y = independent
    runs = 600
    ps = np.array([_kendall_p(x[k], y[k]) for k in range(runs)])
    robust, naive = np.mean(ps < 0.05, axis=0)
    assert naive > 0.12 and 0.03 <= robust <= 0.075, (robust, naive)
    for k in range(3):  # the shortcut is what correlate() does
        row = correlate(helpers.tidy({("a", "v"): x[k], ("b", "v"): y[k]}), "kendall").iloc[0]
        assert (row.p, row.p_naive) == pytest.approx(tuple(ps[k]), rel=1e-10)
