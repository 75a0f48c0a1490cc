"""Is one evaluator closer to the target than another, on the same segments? (Williams' t, Zou's interval.)"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from affectproxy.compare._align import (
    CorrelationInputError,
    label,
    ordered_matrix,
    parse_series,
    series_list,
    tidy_frame,
)
from affectproxy.compare.inference import (
    autocorrelation,
    default_max_lag,
    fisher_interval,
    neff_from_acf,
    rank_nan,
    recording_lengths,
)

DEPENDENT_COLUMNS: list[str] = [
    "target", "a", "b", "method", "n", "n_eff", "r_a", "r_b", "r_ab", "diff", "ci_low", "ci_high", "ci_level",
    "t", "df", "p", "inference",
]


def williams_t(r_a: float, r_b: float, r_ab: float, n: float) -> tuple[float, float, float]:
    """Williams' t for ``r(target, a) - r(target, b)`` with a shared target (Steiger 1980, eq. 7).

    Args:
        r_a: correlation of a with the target.
        r_b: correlation of b with the target.
        r_ab: correlation of a with b.
        n: sample size (pass n_eff for the autocorrelation-robust version).

    Returns:
        ``(t, df, p)`` with ``df = n - 3``, p two-sided.

    Examples:
        >>> t, df, p = williams_t(0.664, 0.097, 0.2, 51)
        >>> round(t, 3), df, round(p, 5)
        (4.027, 48.0, 0.0002)
    """
    det = 1 - r_a**2 - r_b**2 - r_ab**2 + 2 * r_a * r_b * r_ab
    rbar = (r_a + r_b) / 2
    df = n - 3
    if df <= 0:
        return float("nan"), float(df), float("nan")
    t = (r_a - r_b) * np.sqrt((n - 1) * (1 + r_ab) / (2 * ((n - 1) / (n - 3)) * det + rbar**2 * (1 - r_ab) ** 3))
    return float(t), float(df), float(2 * stats.t.sf(abs(t), df))


def overlap_correlation(r_a: float, r_b: float, r_ab: float) -> float:
    """Large-sample correlation between the estimates ``r_a`` and ``r_b`` that share the target (Zou 2007,
    overlapping case, after Pearson & Filon 1898): the dependence term of Zou's interval.

    Examples:
        >>> round(overlap_correlation(0.396, 0.179, 0.088), 4)
        0.0526
    """
    num = (r_ab - 0.5 * r_a * r_b) * (1 - r_a**2 - r_b**2 - r_ab**2) + r_ab**3
    return float(num / ((1 - r_a**2) * (1 - r_b**2)))


def zou_interval(r_a: float, r_b: float, r_ab: float, ci_a: tuple[float, float], ci_b: tuple[float, float]
                 ) -> tuple[float, float]:
    """Zou's (2007) interval for ``r_a - r_b`` when both share the target (overlapping, dependent).

    Args:
        r_a: correlation of a with the target; ``ci_a`` its interval.
        r_b: correlation of b with the target; ``ci_b`` its interval.
        r_ab: correlation of a with b.
        ci_a: ``(low, high)`` of r_a.
        ci_b: ``(low, high)`` of r_b.

    Returns:
        ``(low, high)`` of the difference.

    Examples:
        >>> low, high = zou_interval(0.6, 0.3, 0.4, (0.4, 0.75), (0.03, 0.53))
        >>> round(low, 3), round(high, 3)
        (0.048, 0.564)
    """
    (l1, u1), (l2, u2) = ci_a, ci_b
    c = overlap_correlation(r_a, r_b, r_ab)
    d = r_a - r_b
    low = d - np.sqrt(max((r_a - l1) ** 2 + (u2 - r_b) ** 2 - 2 * c * (r_a - l1) * (u2 - r_b), 0.0))
    high = d + np.sqrt(max((u1 - r_a) ** 2 + (r_b - l2) ** 2 - 2 * c * (u1 - r_a) * (r_b - l2), 0.0))
    return float(low), float(high)


def compare_correlations(
    results: Any,
    target: str | tuple[str, str],
    a: str | tuple[str, str],
    b: str | tuple[str, str],
    *,
    method: str = "spearman",
    inference: str = "neff",
    ci_level: float = 0.95,
    max_lag: int | None = None,
) -> pd.DataFrame:
    """Test whether a correlates more strongly with the target than b does, on the same segments.

    Only segments where target, a and b all have a value are used. With ``inference="neff"`` each correlation's
    interval uses its own effective N, and Williams' t uses the smaller of the two (conservative). As in
    :func:`~affectproxy.compare.correlate`, serial dependence is counted only inside a recording (segments
    grouped by ``recording``, in ``start`` order) and the result does not depend on the order of rows.

    Args:
        results: a :class:`~affectproxy.Results` or its tidy DataFrame.
        target: the shared series, e.g. ``"trust/pathos"``.
        a: the first series, e.g. ``"gemini/valence"``.
        b: the second series, e.g. ``"emotion2vec/valence"``.
        method: "spearman" (correlations of ranks) or "pearson".
        inference: "neff" (default) or "naive" (plain n).
        ci_level: level of Zou's interval.
        max_lag: lags summed in n_eff (default ``floor(n/5)``, at most the longest recording less one).

    Returns:
        One-row DataFrame: target, a, b (``evaluator/dimension``), method, n, n_eff (used for Williams' t),
        r_a, r_b, r_ab, diff (r_a - r_b), ci_low, ci_high (Zou 2007), ci_level, t, df, p (Williams' t),
        inference.

    Raises:
        CorrelationInputError: unknown series or options, or fewer than 5 shared segments.

    Examples:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> t = rng.standard_normal(60)
        >>> vals = {"ref": t, "good": t + 0.5 * rng.standard_normal(60), "bad": rng.standard_normal(60)}
        >>> tidy = pd.DataFrame([(i, ev, "v", v[i]) for ev, v in vals.items() for i in range(60)],
        ...                     columns=["segment_id", "evaluator", "dimension", "value"])
        >>> row = compare_correlations(tidy, "ref/v", "good/v", "bad/v").iloc[0]
        >>> bool(row["diff"] > 0 and row["ci_low"] > 0 and row["p"] < 0.05)
        True
    """
    if method not in ("spearman", "pearson"):
        raise CorrelationInputError(f"compare_correlations supports method 'spearman' or 'pearson', not {method!r}.")
    if inference not in ("neff", "naive"):
        raise CorrelationInputError(f"compare_correlations supports inference 'neff' or 'naive', not {inference!r}.")
    frame = tidy_frame(results)
    avail = series_list(frame)
    keys = [parse_series(s, avail, what) for s, what in ((target, "target"), (a, "a"), (b, "b"))]
    if len(set(keys)) < 3:
        raise CorrelationInputError(f"target, a and b must be three different series, got {[label(k) for k in keys]}.")
    values, _, _, codes = ordered_matrix(frame, keys)
    both = ~np.isnan(values).any(axis=1)
    n = int(both.sum())
    if n < 5:
        raise CorrelationInputError(f"Only {n} segments have target, a and b all present; at least 5 are needed.")
    data = values[both].T
    if method == "spearman":
        data = rank_nan(data)
    r = np.corrcoef(data)
    r_a, r_b, r_ab = float(r[0, 1]), float(r[0, 2]), float(r[1, 2])
    trans = values.T if method == "pearson" else rank_nan(values.T)
    longest = int(np.bincount(codes).max())
    acf = autocorrelation(trans, default_max_lag(values.shape[0], longest) if max_lag is None else max_lag, codes)
    lengths = recording_lengths(both, codes)
    if inference == "neff":
        ne_a = float(neff_from_acf(acf[0], acf[1], n, max_lag, lengths))
        ne_b = float(neff_from_acf(acf[0], acf[2], n, max_lag, lengths))
    else:
        ne_a = ne_b = float(n)
    ci_a = tuple(float(v) for v in fisher_interval(r_a, ne_a, method=method, level=ci_level))  # type: ignore[arg-type]
    ci_b = tuple(float(v) for v in fisher_interval(r_b, ne_b, method=method, level=ci_level))  # type: ignore[arg-type]
    low, high = zou_interval(r_a, r_b, r_ab, ci_a, ci_b)  # type: ignore[arg-type]
    n_eff = min(ne_a, ne_b)
    t, df, p = williams_t(r_a, r_b, r_ab, n_eff)
    row = (label(keys[0]), label(keys[1]), label(keys[2]), method, n, n_eff, r_a, r_b, r_ab, r_a - r_b, low, high,
           ci_level, t, df, p, inference)
    return pd.DataFrame([row], columns=DEPENDENT_COLUMNS)


__all__ = ["DEPENDENT_COLUMNS", "compare_correlations", "overlap_correlation", "williams_t", "zou_interval"]
