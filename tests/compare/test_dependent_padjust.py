"""compare_correlations (Williams' t, Zou's interval) and p-value adjustment (against pingouin)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy import stats

from affectproxy.compare import (
    CorrelationInputError,
    adjust_pvalues,
    compare_correlations,
    fisher_interval,
    overlap_correlation,
    williams_t,
    zou_interval,
)


def _frame(rng: np.random.Generator, n: int = 51) -> pd.DataFrame:
    t = rng.standard_normal(n)
    vals = {"trust": t, "gemini": t + 0.7 * rng.standard_normal(n), "e2v": 0.2 * t + rng.standard_normal(n)}
    return pd.DataFrame([(i, ev, "v", v[i]) for ev, v in vals.items() for i in range(n)],
                        columns=["segment_id", "evaluator", "dimension", "value"])


def test_williams_t_against_steigers_formula_naive():
    frame = _frame(np.random.default_rng(0))
    row = compare_correlations(frame, "trust/v", "gemini/v", "e2v/v", inference="naive").iloc[0]
    wide = frame.pivot(index="segment_id", columns="evaluator", values="value")
    r1 = stats.spearmanr(wide.trust, wide.gemini).statistic
    r2 = stats.spearmanr(wide.trust, wide.e2v).statistic
    r12 = stats.spearmanr(wide.gemini, wide.e2v).statistic
    n = 51
    det = 1 - r1**2 - r2**2 - r12**2 + 2 * r1 * r2 * r12
    t = (r1 - r2) * np.sqrt((n - 1) * (1 + r12) / (2 * (n - 1) / (n - 3) * det + ((r1 + r2) / 2) ** 2 * (1 - r12) ** 3))
    assert (row.r_a, row.r_b, row.r_ab) == pytest.approx((r1, r2, r12), abs=1e-12)
    assert row.t == pytest.approx(t, abs=1e-10)
    assert row.p == pytest.approx(2 * stats.t.sf(abs(t), n - 3), abs=1e-12)
    assert row.ci_low > 0 and row.p < 0.05 and row.ci_low < row["diff"] < row.ci_high


def test_williams_t_matches_published_values():
    # cocor.dep.groups.overlap(r.jk=.3, r.jh=.4, r.kh=.5, n=100, method="williams1959") gives t = -1.0767,
    # p = 0.2843 (df = 97), the values of depcor: Silver, Hittner & May (2006), Applied Psychological Measurement
    # 30:152 (cocor's test suite, tests/testthat/test.cocor.R)
    t, df, p = williams_t(0.3, 0.4, 0.5, 100)
    assert (round(t, 4), df, round(p, 4)) == (-1.0767, 97.0, 0.2843)


def test_zou_interval_matches_zous_worked_example():
    # Zou (2007) Psychological Methods 12:399, overlapping correlations: r12 = .396, r13 = .179, r23 = .088,
    # n = 66 gives the 95% interval (-.093, .517) for rho12 - rho13 (also cocor's zou2007 test). With the
    # dependence term set to zero the lower limit would be -.101.
    ci_a = tuple(float(v) for v in fisher_interval(0.396, 66, method="pearson"))
    ci_b = tuple(float(v) for v in fisher_interval(0.179, 66, method="pearson"))
    low, high = zou_interval(0.396, 0.179, 0.088, ci_a, ci_b)
    assert (round(low, 3), round(high, 3)) == (-0.093, 0.517)


def test_zou_dependence_term_is_the_correlation_of_the_two_estimates():
    # independent check: simulate trivariate normal samples and correlate the sampling errors of r_a and r_b
    rng = np.random.default_rng(12)
    for r_a, r_b, r_ab in ((0.3, 0.4, 0.5), (0.6, 0.2, -0.3), (0.7, 0.65, 0.8)):
        cov = np.array([[1, r_a, r_b], [r_a, 1, r_ab], [r_b, r_ab, 1]])
        chol = np.linalg.cholesky(cov)
        z = rng.standard_normal((8_000, 100, 3)) @ chol.T  # target, a, b
        zc = z - z.mean(axis=1, keepdims=True)
        sd = np.sqrt((zc**2).sum(axis=1))
        est_a = (zc[..., 0] * zc[..., 1]).sum(axis=1) / (sd[:, 0] * sd[:, 1])
        est_b = (zc[..., 0] * zc[..., 2]).sum(axis=1) / (sd[:, 0] * sd[:, 2])
        simulated = np.corrcoef(est_a, est_b)[0, 1]
        assert overlap_correlation(r_a, r_b, r_ab) == pytest.approx(simulated, abs=0.03), (r_a, r_b, r_ab)


def test_zou_interval_reduces_to_independent_case_when_uncorrelated():
    # with r_ab chosen so that corr(r_a, r_b) = 0, Zou's interval is the MOVER sum of the two intervals
    from affectproxy.compare import zou_interval

    r_a, r_b, r_ab = 0.0, 0.0, 0.0
    ci = tuple(float(v) for v in fisher_interval(0.0, 40, method="pearson"))
    low, high = zou_interval(r_a, r_b, r_ab, ci, ci)
    assert high == pytest.approx(np.hypot(ci[1], ci[1]))
    assert low == pytest.approx(-np.hypot(ci[0], ci[0]))


def test_swapping_a_and_b_flips_the_sign_and_keeps_p():
    frame = _frame(np.random.default_rng(1))
    ab = compare_correlations(frame, "trust/v", "gemini/v", "e2v/v").iloc[0]
    ba = compare_correlations(frame, "trust/v", "e2v/v", "gemini/v").iloc[0]
    assert ab["diff"] == pytest.approx(-ba["diff"])
    assert ab.p == pytest.approx(ba.p)
    assert (ab.ci_low, ab.ci_high) == pytest.approx((-ba.ci_high, -ba.ci_low))
    naive = compare_correlations(frame, "trust/v", "gemini/v", "e2v/v", inference="naive").iloc[0]
    assert ab.n_eff <= naive.n_eff == 51


def test_compare_correlations_errors():
    frame = _frame(np.random.default_rng(2))
    with pytest.raises(CorrelationInputError, match="three different"):
        compare_correlations(frame, "trust/v", "gemini/v", "gemini/v")
    with pytest.raises(CorrelationInputError, match="Available"):
        compare_correlations(frame, "trust/x", "gemini/v", "e2v/v")
    with pytest.raises(CorrelationInputError, match="spearman' or 'pearson"):
        compare_correlations(frame, "trust/v", "gemini/v", "e2v/v", method="kendall")


@pytest.mark.parametrize(("ours", "theirs"), [("holm", "holm"), ("bh", "fdr_bh"), ("by", "fdr_by")])
def test_padjust_matches_pingouin(ours, theirs):
    p = np.random.default_rng(3).uniform(0, 0.2, 15) ** 2
    _, ref = pg.multicomp(p, method=theirs)
    assert adjust_pvalues(p, ours) == pytest.approx(ref, abs=1e-12)


def test_padjust_skips_nan():
    out = adjust_pvalues([0.01, np.nan, 0.04], "holm")
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1]) and out[2] == pytest.approx(0.04)
    with pytest.raises(CorrelationInputError, match="Unknown padjust"):
        adjust_pvalues([0.1], "bonferroni")
