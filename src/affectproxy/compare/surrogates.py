"""Phase-randomised surrogates (Theiler et al. 1992) for a correlation test that respects autocorrelation.

A surrogate of x keeps x's power spectrum (hence its autocorrelation) and, after rank remapping, exactly x's
values (ties included), but destroys any relation to y. The surrogate p-value is the share of surrogates whose
``|r|`` reaches the observed ``|r|``: ``(1 + #{|r_s| >= |r|}) / (B + 1)``.

For several recordings (:func:`recording_surrogates`) each recording is phase-randomised on its own, so serial
dependence is kept where it exists (inside a recording) and never invented across recordings, and the recordings'
mean levels are permuted among the recordings, which are independent of each other: a corpus of one-segment
recordings gets a plain permutation test.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import stats

from affectproxy.compare.inference import Method, check_method

_CHUNK = 20_000_000  # array elements per block, to bound memory


def phase_randomised(x: np.ndarray, n_surrogates: int = 999, random_state: int | np.random.Generator | None = 0
                     ) -> np.ndarray:
    """Amplitude-adjusted phase-randomised surrogates of one series.

    The series is rank-mapped to normal scores, its Fourier phases are replaced by uniform random ones
    (keeping the amplitudes, the mean and, for even length, the Nyquist term), and the result's ranks are
    mapped back to x's sorted values, so every surrogate is a reordering of x.

    Args:
        x: a 1-D series in time order without NaN.
        n_surrogates: number of surrogates ``B``.
        random_state: seed or numpy Generator.

    Returns:
        Array ``(B, n)``; each row is a permutation of ``x``'s values.

    Raises:
        CorrelationInputError: if x is not 1-D, contains NaN, or ``n_surrogates < 1``.

    Examples:
        >>> import numpy as np
        >>> x = np.array([0.0, 1.0, 1.0, 2.0, 5.0, 3.0])
        >>> s = phase_randomised(x, 4, random_state=1)
        >>> s.shape, bool(np.all(np.sort(s, axis=1) == np.sort(x)))
        ((4, 6), True)
    """
    from affectproxy.compare._align import CorrelationInputError

    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1 or np.isnan(arr).any():
        raise CorrelationInputError("phase_randomised needs one 1-D series without NaN; drop or align NaN first.")
    if n_surrogates < 1:
        raise CorrelationInputError(f"n_surrogates must be at least 1, got {n_surrogates}; 999 is usual.")
    rng = np.random.default_rng(random_state)
    n = arr.size
    order = np.argsort(arr, kind="stable")
    ordinal = np.empty(n, dtype=int)
    ordinal[order] = np.arange(n)
    gauss = stats.norm.ppf((ordinal + 0.5) / n)
    amp = np.abs(np.fft.rfft(gauss))
    sorted_x = arr[order]
    nfreq = amp.size
    out = np.empty((n_surrogates, n))
    block = max(1, _CHUNK // max(n, 1))
    for start in range(0, n_surrogates, block):
        b = min(block, n_surrogates - start)
        phases = rng.uniform(0.0, 2.0 * np.pi, size=(b, nfreq))
        phases[:, 0] = 0.0
        if n % 2 == 0:
            phases[:, -1] = 0.0
        surr = np.fft.irfft(amp * np.exp(1j * phases), n, axis=-1)
        ranks = np.argsort(np.argsort(surr, axis=1, kind="stable"), axis=1, kind="stable")
        out[start:start + b] = sorted_x[ranks]
    return out


def recording_surrogates(x: np.ndarray, codes: np.ndarray, n_surrogates: int = 999,
                         random_state: int | np.random.Generator | None = 0) -> np.ndarray:
    """Surrogates of a series made of several recordings: each recording phase-randomised on its own
    (:func:`phase_randomised`), then the recordings' mean levels permuted among the recordings.

    Args:
        x: 1-D series, recordings one after another (``codes`` non-decreasing), each in time order; NaN allowed
            (left in place; the remaining values of a recording are treated as consecutive).
        codes: recording index of each position, non-decreasing.
        n_surrogates: number of surrogates ``B``.
        random_state: seed or Generator. With one recording the result equals ``phase_randomised`` with the
            same seed.

    Returns:
        Array ``(B, n)``, NaN where ``x`` is NaN. Inside each recording a surrogate is a reordering of that
        recording's values shifted by the difference between another recording's mean and its own.

    Examples:
        >>> import numpy as np
        >>> x = np.array([1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 20.0])
        >>> s = recording_surrogates(x, np.array([0, 0, 0, 1, 1, 1, 2]), 200, random_state=0)
        >>> sorted(set(np.round(s[:, 6], 6).tolist()))  # the one-segment recording takes every recording's mean
        [2.0, 11.0, 20.0]
    """
    arr = np.asarray(x, dtype=float)
    rng = np.random.default_rng(random_state)
    out = np.full((n_surrogates, arr.size), np.nan)
    bounds = np.flatnonzero(np.r_[True, np.diff(codes) != 0, True]) if arr.size else np.array([0, 0])
    blocks = []
    for lo, hi in itertools.pairwise(bounds):
        valid = np.flatnonzero(~np.isnan(arr[lo:hi])) + lo
        if valid.size:
            blocks.append(valid)
    if len(blocks) == 1:
        out[:, blocks[0]] = phase_randomised(arr[blocks[0]], n_surrogates, rng)
        return out
    means = np.array([arr[b].mean() for b in blocks])
    for b in blocks:
        out[:, b] = (phase_randomised(arr[b], n_surrogates, rng) if b.size > 1
                     else np.broadcast_to(arr[b], (n_surrogates, 1)))
    perm = np.argsort(rng.random((n_surrogates, len(blocks))), axis=1)
    for k, b in enumerate(blocks):
        out[:, b] += (means[perm[:, k]] - means[k])[:, None]
    return out


def _kendall_rows(s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of every row of ``s`` with ``y`` (O(n^2) per row, blocked)."""
    n = y.size
    if n > 3000:
        return np.array([stats.kendalltau(row, y).statistic for row in s])
    i, j = np.triu_indices(n, 1)
    sy = np.sign(y[j] - y[i])
    ty = float(np.sum(sy * sy))
    out = np.empty(s.shape[0])
    block = max(1, _CHUNK // max(i.size, 1))
    for start in range(0, s.shape[0], block):
        part = s[start:start + block]
        sx = np.sign(part[:, j] - part[:, i])
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + block] = (sx @ sy) / np.sqrt(np.sum(sx * sx, axis=1) * ty)
    return out


def correlate_rows(s: np.ndarray, y: np.ndarray, method: Method) -> np.ndarray:
    """Correlation of every row of ``s`` (shape ``(B, n)``) with ``y`` (shape ``(n,)``), no NaN allowed."""
    check_method(method)
    if method == "kendall":
        return _kendall_rows(s, y)
    if method == "spearman":
        s = stats.rankdata(s, axis=1)
        y = stats.rankdata(y)
    yc = y - y.mean()
    out = np.empty(s.shape[0])
    block = max(1, _CHUNK // max(y.size, 1))
    for start in range(0, s.shape[0], block):
        part = s[start:start + block]
        pc = part - part.mean(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + block] = (pc @ yc) / np.sqrt(np.sum(pc * pc, axis=1) * np.dot(yc, yc))
    return out


def surrogate_p(r: float, null: np.ndarray) -> float:
    """Two-sided surrogate p: ``(1 + #{|r_s| >= |r|}) / (B + 1)``; NaN if ``r`` is NaN.

    Examples:
        >>> import numpy as np
        >>> surrogate_p(0.5, np.array([0.1, -0.6, 0.2, 0.3]))
        0.4
    """
    if np.isnan(r):
        return float("nan")
    valid = null[~np.isnan(null)]
    return float((1 + np.sum(np.abs(valid) >= abs(r) - 1e-12)) / (valid.size + 1))


def surrogate_test(x: np.ndarray, y: np.ndarray, *, method: Method = "spearman", n_surrogates: int = 999,
                   random_state: int | np.random.Generator | None = 0, groups: np.ndarray | None = None
                   ) -> tuple[float, float]:
    """Correlation of x and y and its phase-randomisation p-value (surrogates of x).

    NaN positions are dropped from the surrogate of x (the remaining values are treated as consecutive) and
    the correlation is taken over the positions where both are present.

    Args:
        x: series in time order (NaN allowed).
        y: series aligned with x.
        method: spearman, kendall or pearson.
        n_surrogates: number of surrogates.
        random_state: seed or Generator.
        groups: recording label of each position (each recording's positions in time order); surrogates are
            made per recording (:func:`recording_surrogates`). None means one recording.

    Returns:
        ``(r, p)``.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = rng.standard_normal(40)
        >>> r, p = surrogate_test(x, x + rng.standard_normal(40), n_surrogates=199, random_state=3)
        >>> p < 0.05
        True
    """
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    valid_x = ~np.isnan(xa)
    both = valid_x & ~np.isnan(ya)
    if both.sum() < 3:
        return float("nan"), float("nan")
    if groups is not None:
        from affectproxy.compare.inference import recording_codes

        order, codes = recording_codes(groups, xa.size)
        xa, ya, both = xa[order], ya[order], both[order]
        surr = recording_surrogates(xa, codes, n_surrogates, random_state)
    else:
        surr = np.full((n_surrogates, xa.size), np.nan)
        surr[:, valid_x] = phase_randomised(xa[valid_x], n_surrogates, random_state)
    obs = correlate_rows(xa[both][None, :], ya[both], method)[0]
    null = correlate_rows(surr[:, both], ya[both], method)
    return float(obs), surrogate_p(obs, null)


__all__ = ["correlate_rows", "phase_randomised", "recording_surrogates", "surrogate_p", "surrogate_test"]
