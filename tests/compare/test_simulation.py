"""Size and coverage under serial dependence: the default inference must hold its nominal levels.

Two AR(1) series with phi = 0.6 and n = 51 (the paper's design). 2,000 simulated pairs, fixed seed, fully
vectorised through the same functions correlate() uses (and checked against correlate() itself).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from affectproxy.compare import correlate, effective_n, fisher_interval, p_value_t, surrogate_test
from affectproxy.compare.inference import rank_nan

spec = importlib.util.spec_from_file_location("compare_helpers", Path(__file__).parent / "helpers.py")
helpers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(helpers)

RUNS, N, PHI = 2000, 51, 0.6


def _rowwise_r(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    return (xc * yc).sum(axis=1) / np.sqrt((xc**2).sum(axis=1) * (yc**2).sum(axis=1))


@pytest.fixture(scope="module")
def independent():
    rng = np.random.default_rng(20260522)
    return helpers.ar1(rng, RUNS, N, PHI), helpers.ar1(rng, RUNS, N, PHI)


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_size_under_independent_ar1(independent, method):
    x, y = independent
    xt, yt = (rank_nan(x), rank_nan(y)) if method == "spearman" else (x, y)
    r = _rowwise_r(xt, yt)
    naive = np.mean(p_value_t(r, N) < 0.05)
    robust = np.mean(p_value_t(r, effective_n(x, y, method=method)) < 0.05)
    assert naive > 0.12, naive
    assert 0.03 <= robust <= 0.07, robust


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
    assert 0.93 <= coverage <= 0.97, coverage
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


def test_kendall_robust_size(independent):
    x, y = independent
    runs = 300
    frames = []
    for k in range(runs):
        frames.append(helpers.tidy({(f"a{k}", "v"): x[k], (f"b{k}", "v"): y[k]}))
    rates = []
    for k in range(runs):
        row = correlate(frames[k], "kendall").iloc[0]
        rates.append((row.p < 0.05, row.p_naive < 0.05))
    robust, naive = np.mean(rates, axis=0)
    assert naive > 0.12 and 0.02 <= robust <= 0.08, (robust, naive)
