"""Inference for correlations of serially dependent series: effective sample size, t test, Fisher-z intervals.

Consecutive segments of one speech are autocorrelated, so a correlation between two such series carries less
information than its ``n`` suggests. Following Pyper & Peterman (1998), the effective sample size is

    1/n_eff = 1/n + (2/n) * sum_{j=1..J} (P_j / n) * rho_xx(j) * rho_yy(j)

with the autocorrelations ``rho(j)`` estimated from each series in time order (ranks for Spearman and Kendall).
Serial dependence exists only inside a recording: ``P_j`` counts the pairs of segments ``j`` apart *in the same
recording* (``n - j`` for one recording), the autocorrelations are pooled over the lag pairs of every recording,
and segments of different recordings are independent (a corpus of one-segment recordings gives ``n_eff = n``).
``J = min(floor(n / 5), L - 1)`` lags, ``L`` the longest recording: Pyper & Peterman's ``n / 5`` for one
recording, and for a corpus every lag a recording has, so dependence that spans a whole recording (a speaker's
or a file's level) is counted. ``n_eff`` is clamped to ``[3, n]`` and
replaces ``n`` in the t test (``df = n_eff - 2``) and in the Fisher-z interval (Bonett & Wright 2000 variances).
See ``docs/statistics.md`` for the derivation and the simulations that check size and coverage.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import stats

Method = Literal["spearman", "kendall", "pearson"]
METHODS: tuple[str, ...] = ("spearman", "kendall", "pearson")


def default_max_lag(n: int, longest: int | None = None) -> int:
    """The number of lags ``J`` summed in the effective sample size: ``floor(n / 5)``, at least 1, and at most
    ``longest - 1`` (no pairs lie further apart inside a recording).

    Pyper & Peterman (1998) use ``n / 5`` for one series; longer sums add estimation noise, shorter ones miss
    slow dependence. In a corpus of several recordings the lags are pooled over recordings, so ``n / 5``
    (``n`` all segments) usually exceeds the recordings' lengths and every within-recording lag is summed;
    that is what keeps the size at 5% when recordings differ in level (docs/statistics.md).

    Args:
        n: all segments (paired observations).
        longest: the longest recording; None for one recording of ``n``.

    Examples:
        >>> default_max_lag(51)
        10
        >>> default_max_lag(200, longest=20)
        19
    """
    lag = max(1, int(n) // 5)
    return lag if longest is None else max(1, min(lag, int(longest) - 1))


def recording_codes(groups: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Check recording labels and give a stable order that puts each recording's positions together.

    Args:
        groups: one recording label per position (any hashable values), or None for one recording.
        n: the number of positions.

    Returns:
        ``(order, codes)``: ``order`` sorts positions by recording (stable, recordings in order of first
        appearance), ``codes`` is the recording index of each position in that order (non-decreasing).

    Raises:
        CorrelationInputError: if ``groups`` does not have one label per position.
    """
    if groups is None:
        return np.arange(n), np.zeros(n, dtype=int)
    labels = np.asarray(groups)
    if labels.shape != (n,):
        from affectproxy.compare._align import CorrelationInputError

        raise CorrelationInputError(f"groups must give one recording per segment ({n}), got shape {labels.shape}.")
    first: dict[object, int] = {}
    raw = np.array([first.setdefault(v, len(first)) for v in labels.tolist()], dtype=int)
    order = np.argsort(raw, kind="stable")
    return order, raw[order]


def spread(x: np.ndarray, codes: np.ndarray, gap: int) -> np.ndarray:
    """Lay recordings end to end along the last axis with ``gap`` NaN positions between them.

    With ``gap >= max_lag`` no lag pair of :func:`autocorrelation` spans two recordings. ``codes`` must be
    non-decreasing (see :func:`recording_codes`); one recording returns ``x`` unchanged.
    """
    arr = np.asarray(x, dtype=float)
    if codes.size == 0 or codes[-1] == codes[0] or gap <= 0:
        return arr
    pos = np.arange(codes.size) + codes * gap
    out = np.full((*arr.shape[:-1], int(pos[-1]) + 1), np.nan)
    out[..., pos] = arr
    return out


def recording_lengths(mask: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Present positions per recording: ``mask`` ``(..., n)`` boolean, ``codes`` non-decreasing -> ``(..., R)``."""
    m = np.asarray(mask, dtype=float)
    starts = np.flatnonzero(np.r_[True, np.diff(codes) != 0]) if codes.size else np.array([0])
    if m.shape[-1] == 0:
        return np.zeros((*m.shape[:-1], 1))
    return np.add.reduceat(m, starts, axis=-1)


def autocorrelation(x: np.ndarray, max_lag: int, groups: np.ndarray | None = None) -> np.ndarray:
    """Autocorrelations at lags ``0..max_lag`` of series in time order, tolerating NaN gaps.

    The lag-``j`` estimate is ``mean(products of centred pairs j apart) / variance``, i.e. the estimator of
    Pyper & Peterman (1998) (the usual one times ``n / (n - j)``); pairs involving a NaN are skipped, so a
    missing segment never turns lag 2 into lag 1. With ``groups``, only pairs inside one recording count
    (pooled over recordings, centred on the mean of all values). Computed for all series at once with an FFT.

    Args:
        x: array of shape ``(..., n)``, time along the last axis; NaN marks a missing value.
        max_lag: the largest lag returned (at most ``n - 1``).
        groups: recording label of each position (positions of one recording in time order), or None for one
            recording.

    Returns:
        Array of shape ``(..., max_lag + 1)``; lag 0 is 1 (NaN for a constant or empty series). A lag with no
        complete pair gives 0.

    Examples:
        >>> import numpy as np
        >>> autocorrelation(np.array([1.0, 2.0, 3.0, 4.0]), 1).round(3).tolist()
        [1.0, 0.333]
    """
    arr = np.asarray(x, dtype=float)
    if groups is not None:
        order, codes = recording_codes(groups, arr.shape[-1])
        arr = spread(arr[..., order], codes, int(max_lag))
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
    acf_x: np.ndarray, acf_y: np.ndarray, n: np.ndarray | float, max_lag: int | None = None,
    lengths: np.ndarray | None = None,
) -> np.ndarray:
    """Effective sample size from two autocorrelation functions (lag 0 first), Pyper & Peterman (1998).

    Args:
        acf_x: autocorrelations of x at lags ``0..L``, shape ``(..., L + 1)``.
        acf_y: the same for y, broadcastable against ``acf_x``.
        n: the number of paired observations.
        max_lag: lags ``1..min(L, max_lag)`` are summed; default ``min(floor(n / 5), longest recording - 1)``.
        lengths: paired observations per recording, shape ``(..., R)``; lag ``j`` is weighted by the pairs
            ``sum_r max(n_r - j, 0)`` (divided by ``n``). None means one recording of ``n``.

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
    if lengths is None:
        longest, pairs = n_arr, n_arr[..., None] - lags
    else:
        lens = np.asarray(lengths, dtype=float)
        longest = lens.max(axis=-1) if lens.shape[-1] else np.zeros(lens.shape[:-1])
        pairs = np.maximum(lens[..., None, :] - lags[:, None], 0.0).sum(axis=-1)
    limit = (np.minimum(np.floor(n_arr / 5.0), np.maximum(longest - 1.0, 0.0)) if max_lag is None
             else np.full_like(n_arr, float(max_lag)))[..., None]
    weights = np.where(lags <= limit, pairs / n_arr[..., None], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = 1.0 / n_arr + (2.0 / n_arr) * np.nansum(weights * ax * ay, axis=-1)
        n_eff = 1.0 / inv
    n_eff = np.where(inv > 0, n_eff, n_arr)
    return np.where(n_arr < 3, n_arr, np.clip(n_eff, 3.0, np.maximum(n_arr, 3.0)))


def effective_n(x: np.ndarray, y: np.ndarray, *, method: Method = "spearman", max_lag: int | None = None,
                groups: np.ndarray | None = None) -> np.ndarray:
    """Effective sample size of the correlation of ``x`` and ``y`` (Pyper & Peterman 1998).

    Args:
        x: values in time order, shape ``(n,)`` or ``(runs, n)``; NaN marks a missing segment.
        y: same shape as ``x``.
        method: "spearman" and "kendall" use the autocorrelation of ranks, "pearson" of the values.
        max_lag: lags summed; default :func:`default_max_lag` (``floor(n / 5)``, at most the longest
            recording less one).
        groups: recording label of each of the ``n`` positions (the same for every row; positions of one
            recording in time order, recordings in any order); None means one recording.

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
        >>> float(effective_n(walk_x, walk_y, method="pearson", groups=np.arange(60)))  # 60 one-segment recordings
        60.0
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
    if groups is None:
        lag = default_max_lag(xa.shape[-1]) if max_lag is None else int(max_lag)
        return neff_from_acf(autocorrelation(xa, lag), autocorrelation(ya, lag), n, max_lag)
    order, codes = recording_codes(groups, xa.shape[-1])
    xa, ya, both = xa[..., order], ya[..., order], both[..., order]
    longest = int(np.bincount(codes).max()) if codes.size else 0
    lag = default_max_lag(xa.shape[-1], longest) if max_lag is None else int(max_lag)
    acf_x = autocorrelation(spread(xa, codes, lag), lag)
    acf_y = autocorrelation(spread(ya, codes, lag), lag)
    return neff_from_acf(acf_x, acf_y, n, max_lag, recording_lengths(both, codes))


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
    "recording_codes",
    "recording_lengths",
    "spread",
]
