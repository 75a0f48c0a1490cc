"""Inference for correlations of serially dependent series: effective sample size, t test, Fisher-z intervals.

Consecutive segments of one speech are autocorrelated, so a correlation between two such series carries less
information than its ``n`` suggests. Following Pyper & Peterman (1998), the effective sample size is

    1/n_eff = 1/n + (2/n) * sum_{j=1..J} ((n - j)/n) * rho_xx(j) * rho_yy(j)

with the autocorrelations ``rho(j)`` estimated from each series in time order (ranks for Spearman and Kendall)
and ``J = floor(n / 5)`` lags. ``n_eff`` is clamped to ``[3, n]`` and replaces ``n`` in the t test
(``df = n_eff - 2``) and in the Fisher-z interval (Bonett & Wright 2000 variances). See ``docs/statistics.md``
for the derivation and the simulation that checks size and coverage.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import stats

Method = Literal["spearman", "kendall", "pearson"]
METHODS: tuple[str, ...] = ("spearman", "kendall", "pearson")


def default_max_lag(n: int) -> int:
    """The number of lags ``J`` summed in the effective sample size: ``floor(n / 5)``, at least 1.

    Pyper & Peterman (1998) use ``n / 5``; longer sums add estimation noise, shorter ones miss slow dependence.

    Examples:
        >>> default_max_lag(51)
        10
    """
    return max(1, int(n) // 5)


def autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelations at lags ``0..max_lag`` of series in time order, tolerating NaN gaps.

    The lag-``j`` estimate is ``mean(products of centred pairs j apart) / variance``, i.e. the estimator of
    Pyper & Peterman (1998) (the usual one times ``n / (n - j)``); pairs involving a NaN are skipped, so a
    missing segment never turns lag 2 into lag 1. Computed for all series at once with an FFT.

    Args:
        x: array of shape ``(..., n)``, time along the last axis; NaN marks a missing value.
        max_lag: the largest lag returned (at most ``n - 1``).

    Returns:
        Array of shape ``(..., max_lag + 1)``; lag 0 is 1 (NaN for a constant or empty series). A lag with no
        complete pair gives 0.

    Examples:
        >>> import numpy as np
        >>> autocorrelation(np.array([1.0, 2.0, 3.0, 4.0]), 1).round(3).tolist()
        [1.0, 0.333]
    """
    arr = np.asarray(x, dtype=float)
    n = arr.shape[-1]
    lag = int(min(max(max_lag, 0), max(n - 1, 0)))
    mask = ~np.isnan(arr)
    count = mask.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(mask, arr, 0.0).sum(axis=-1, keepdims=True) / count
    centred = np.where(mask, arr - mean, 0.0)
    size = 1 << int(np.ceil(np.log2(max(2 * n, 2))))
    fx = np.fft.rfft(centred, size, axis=-1)
    fm = np.fft.rfft(mask.astype(float), size, axis=-1)
    sums = np.fft.irfft(fx * np.conj(fx), size, axis=-1)[..., : lag + 1]
    pairs = np.rint(np.fft.irfft(fm * np.conj(fm), size, axis=-1)[..., : lag + 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = np.where(pairs > 0, sums / np.maximum(pairs, 1), 0.0)
        var = cov[..., :1]
        out = cov / var
    out[..., 0] = np.where(var[..., 0] > 1e-12 * np.maximum(np.abs(mean[..., 0]), 1.0) ** 2, 1.0, np.nan)
    return np.where(np.isnan(out[..., :1]), np.nan, out)


def neff_from_acf(
    acf_x: np.ndarray, acf_y: np.ndarray, n: np.ndarray | float, max_lag: int | None = None
) -> np.ndarray:
    """Effective sample size from two autocorrelation functions (lag 0 first), Pyper & Peterman (1998).

    Args:
        acf_x: autocorrelations of x at lags ``0..L``, shape ``(..., L + 1)``.
        acf_y: the same for y, broadcastable against ``acf_x``.
        n: the number of paired observations.
        max_lag: lags ``1..min(L, max_lag)`` are summed; default ``floor(n / 5)``.

    Returns:
        ``n_eff`` clamped to ``[3, n]`` (``n`` itself when ``n < 3``).

    Examples:
        >>> import numpy as np
        >>> rho = 0.6 ** np.arange(11)
        >>> round(float(neff_from_acf(rho, rho, 51)), 2)
        24.4
    """
    ax = np.asarray(acf_x, dtype=float)[..., 1:]
    ay = np.asarray(acf_y, dtype=float)[..., 1:]
    n_arr = np.asarray(n, dtype=float)
    lags = np.arange(1, ax.shape[-1] + 1)
    limit = (np.floor(n_arr / 5.0) if max_lag is None else np.full_like(n_arr, float(max_lag)))[..., None]
    weights = np.where(lags <= limit, (n_arr[..., None] - lags) / n_arr[..., None], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = 1.0 / n_arr + (2.0 / n_arr) * np.nansum(weights * ax * ay, axis=-1)
        n_eff = 1.0 / inv
    n_eff = np.where(inv > 0, n_eff, n_arr)
    return np.where(n_arr < 3, n_arr, np.clip(n_eff, 3.0, np.maximum(n_arr, 3.0)))


def effective_n(x: np.ndarray, y: np.ndarray, *, method: Method = "spearman", max_lag: int | None = None) -> np.ndarray:
    """Effective sample size of the correlation of ``x`` and ``y`` (Pyper & Peterman 1998).

    Args:
        x: values in time order, shape ``(n,)`` or ``(runs, n)``; NaN marks a missing segment.
        y: same shape as ``x``.
        method: "spearman" and "kendall" use the autocorrelation of ranks, "pearson" of the values.
        max_lag: lags summed; default ``floor(n / 5)``.

    Returns:
        ``n_eff`` per row (a 0-d array for 1-D input), clamped to ``[3, n]``.

    Raises:
        CorrelationInputError: if the shapes differ or the method is unknown.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> walk_x, walk_y = np.cumsum(rng.standard_normal((2, 60)), axis=1)
        >>> round(float(effective_n(walk_x, walk_y, method="pearson")), 1)
        8.5
    """
    from affectproxy.compare._align import CorrelationInputError

    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.shape != ya.shape:
        raise CorrelationInputError(f"x and y must have the same shape, got {xa.shape} and {ya.shape}.")
    check_method(method)
    both = ~np.isnan(xa) & ~np.isnan(ya)
    n = both.sum(axis=-1)
    if method != "pearson":
        xa, ya = rank_nan(xa), rank_nan(ya)
    lag = default_max_lag(xa.shape[-1]) if max_lag is None else int(max_lag)
    return neff_from_acf(autocorrelation(xa, lag), autocorrelation(ya, lag), n, max_lag)


def rank_nan(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties averaged) along the last axis, NaN kept in place.

    Examples:
        >>> import numpy as np
        >>> rank_nan(np.array([3.0, np.nan, 1.0, 3.0])).tolist()
        [2.5, nan, 1.0, 2.5]
    """
    return stats.rankdata(np.asarray(x, dtype=float), axis=-1, nan_policy="omit")


def check_method(method: str) -> None:
    """Raise :class:`CorrelationInputError` unless ``method`` is spearman, kendall or pearson."""
    if method not in METHODS:
        from affectproxy.compare._align import CorrelationInputError

        raise CorrelationInputError(f"Unknown method {method!r}: use one of {', '.join(METHODS)}.")


def p_value_t(r: np.ndarray | float, n: np.ndarray | float) -> np.ndarray:
    """Two-sided p of a correlation from the t approximation ``t = r sqrt((n-2)/(1-r^2))``, ``df = n - 2``.

    This is what scipy reports for Spearman and Pearson; pass ``n_eff`` (which may be fractional) for the
    autocorrelation-robust version.

    Args:
        r: correlation(s).
        n: sample size(s), or effective sample size(s); NaN where ``n <= 2``.

    Returns:
        p-values (array, 0-d for scalars).

    Examples:
        >>> round(float(p_value_t(0.097, 51)), 3)
        0.498
        >>> float(p_value_t(0.664, 51)) < 0.001
        True
    """
    r_arr = np.asarray(r, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    df = n_arr - 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        t = r_arr * np.sqrt(df / ((1.0 - r_arr) * (1.0 + r_arr)))
        p = 2.0 * stats.t.sf(np.abs(t), df)
    p = np.where(np.abs(r_arr) >= 1.0, 0.0, p)
    return np.where((df > 0) & ~np.isnan(r_arr), p, np.nan)


def kendall_variance_ratio(n: np.ndarray | float, n_eff: np.ndarray | float) -> np.ndarray:
    """``Var0(tau | n) / Var0(tau | n_eff)`` with ``Var0(tau | n) = 2(2n+5) / (9 n (n-1))``.

    Multiplying Kendall's normal statistic by the square root of this rescales it to the effective sample size.
    """
    def var0(m: np.ndarray) -> np.ndarray:
        return 2.0 * (2.0 * m + 5.0) / (9.0 * m * (m - 1.0))

    n_arr, ne = np.asarray(n, dtype=float), np.asarray(n_eff, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return var0(n_arr) / var0(ne)


def fisher_variance(r: np.ndarray | float, n: np.ndarray | float, method: Method = "spearman") -> np.ndarray:
    """Variance of ``atanh(r)``: Pearson ``1/(n-3)``, Spearman ``(1 + r^2/2)/(n-3)`` (Bonett & Wright 2000),
    Kendall ``0.437/(n-4)`` (Fieller, Hartley & Pearson 1957). Infinite where the denominator is not positive.
    """
    check_method(method)
    r_arr, n_arr = np.asarray(r, dtype=float), np.asarray(n, dtype=float)
    if method == "kendall":
        num, den = np.full_like(r_arr, 0.437), n_arr - 4.0
    elif method == "spearman":
        num, den = 1.0 + r_arr**2 / 2.0, n_arr - 3.0
    else:
        num, den = np.ones_like(r_arr), n_arr - 3.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.inf)


def fisher_interval(
    r: np.ndarray | float, n: np.ndarray | float, *, method: Method = "spearman", level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Fisher-z confidence interval of a correlation, ``tanh(atanh(r) +- z * sqrt(var))``.

    Args:
        r: correlation(s).
        n: sample size(s); pass ``n_eff`` for the autocorrelation-robust interval.
        method: selects the variance (see :func:`fisher_variance`).
        level: confidence level in (0, 1).

    Returns:
        ``(low, high)`` arrays; ``(-1, 1)`` where the variance is infinite, NaN where ``r`` is NaN.

    Raises:
        CorrelationInputError: if ``level`` is not in (0, 1).

    Examples:
        >>> low, high = fisher_interval(0.5, 28, method="pearson")
        >>> round(float(low), 3), round(float(high), 3)
        (0.156, 0.736)
    """
    if not 0.0 < level < 1.0:
        from affectproxy.compare._align import CorrelationInputError

        raise CorrelationInputError(f"ci_level must be between 0 and 1, got {level!r}; e.g. 0.95.")
    r_arr = np.clip(np.asarray(r, dtype=float), -1.0, 1.0)
    se = np.sqrt(fisher_variance(r_arr, n, method))
    crit = stats.norm.isf((1.0 - level) / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.arctanh(r_arr)
        low = np.tanh(z - crit * se)
        high = np.tanh(z + crit * se)
    low = np.where(np.isinf(se) & ~np.isnan(r_arr), -1.0, low)
    high = np.where(np.isinf(se) & ~np.isnan(r_arr), 1.0, high)
    return low, high


__all__ = [
    "METHODS",
    "autocorrelation",
    "check_method",
    "default_max_lag",
    "effective_n",
    "fisher_interval",
    "fisher_variance",
    "kendall_variance_ratio",
    "neff_from_acf",
    "p_value_t",
    "rank_nan",
]
