"""The correlation table: every cross-evaluator pair of series, with autocorrelation-robust inference."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from affectproxy.compare._align import (
    CorrelationInputError,
    LowEffectiveNWarning,
    Series,
    label,
    matrix,
    parse_series,
    series_list,
    tidy_frame,
)
from affectproxy.compare.inference import (
    Method,
    autocorrelation,
    check_method,
    default_max_lag,
    fisher_interval,
    kendall_variance_ratio,
    neff_from_acf,
    p_value_t,
    rank_nan,
)
from affectproxy.compare.padjust import PADJUST_METHODS, adjust_pvalues
from affectproxy.compare.surrogates import correlate_rows, phase_randomised, surrogate_p

COLUMNS: list[str] = [
    "x_evaluator", "x_dimension", "y_evaluator", "y_dimension", "method", "n", "n_eff", "r", "ci_low", "ci_high",
    "ci_level", "p_naive", "p", "p_adj", "inference", "padjust", "note",
]
INFERENCES: tuple[str, ...] = ("neff", "surrogate", "naive")
MIN_NEFF = 8
_SURROGATE_CELLS = 200_000_000


def select_series(frame: pd.DataFrame, evaluators: Sequence[str] | None, dimensions: Sequence[str] | None,
                  keep: Series | None = None) -> list[Series]:
    """Series of ``frame`` restricted to the given evaluators and dimensions (``keep`` always stays).

    Raises:
        CorrelationInputError: naming an evaluator or dimension that does not occur.
    """
    series = series_list(frame)
    for name, wanted, have in (("evaluator", evaluators, {s[0] for s in series}),
                               ("dimension", dimensions, {s[1] for s in series})):
        if wanted is None:
            continue
        unknown = [w for w in wanted if w not in have]
        if unknown:
            raise CorrelationInputError(f"Unknown {name}(s) {', '.join(map(repr, unknown))}; "
                                        f"the results have {', '.join(sorted(have))}.")
    return [s for s in series if s == keep or ((evaluators is None or s[0] in evaluators)
                                               and (dimensions is None or s[1] in dimensions))]


def _pairs(series: list[Series], target: Series | None, within: bool) -> list[tuple[int, int]]:
    if target is not None:
        t = series.index(target)
        return [(i, t) for i, s in enumerate(series) if i != t and (within or s[0] != target[0])]
    return [(i, j) for i in range(len(series)) for j in range(i + 1, len(series))
            if within or series[i][0] != series[j][0]]


def _r(x: np.ndarray, y: np.ndarray) -> float:
    xc, yc = x - x.mean(), y - y.mean()
    return float(np.dot(xc, yc) / np.sqrt(np.dot(xc, xc) * np.dot(yc, yc)))


def correlate(
    results: Any,
    method: Method = "spearman",
    *,
    target: str | Sequence[str] | None = None,
    evaluators: Sequence[str] | None = None,
    dimensions: Sequence[str] | None = None,
    within_evaluator: bool = False,
    inference: str = "neff",
    padjust: str = "holm",
    ci_level: float = 0.95,
    n_surrogates: int = 999,
    random_state: int | None = 0,
    max_lag: int | None = None,
) -> pd.DataFrame:
    """Correlate every cross-evaluator pair of series, segment by segment, with robust inference.

    A series is one (evaluator, dimension). Values are aligned by segment id, in order of first appearance.
    For each pair only positions where both have a value enter ``r``; autocorrelations are estimated on each
    whole series in time order, so a missing segment never shortens a lag.

    Args:
        results: a :class:`~affectproxy.Results` or its tidy DataFrame (segment_id, evaluator, dimension, value).
        method: "spearman" (default), "kendall" (tau-b) or "pearson".
        target: ``("trust", "pathos")`` or ``"trust/pathos"``: only pairs with this series as y.
        evaluators: keep only these evaluators (the target always stays).
        dimensions: keep only these dimensions (the target always stays).
        within_evaluator: also pair two dimensions of one evaluator (excluded by default).
        inference: what ``p`` is: "neff" (t test with Pyper-Peterman effective N; default), "surrogate"
            (phase-randomised surrogates of x) or "naive" (the classic test, as scipy and the paper report).
        padjust: "holm" (default), "bh", "by" or "none"; the family is every row this call returns.
        ci_level: confidence level of the interval.
        n_surrogates: surrogates per pair when ``inference="surrogate"``.
        random_state: seed for the surrogates.
        max_lag: lags summed in ``n_eff``; default ``floor(n / 5)``.

    Returns:
        DataFrame, one row per pair, columns (always the same): x_evaluator, x_dimension, y_evaluator,
        y_dimension, method, n (paired segments), n_eff (effective sample size), r, ci_low, ci_high (Fisher-z
        interval using n_eff, or n when inference="naive"), ci_level, p_naive (classic: t approximation for
        spearman/pearson, scipy's normal approximation for kendall), p (per ``inference``), p_adj (p adjusted
        per ``padjust``), inference, padjust, note (why a value is NaN or rough; empty if nothing to say).

    Raises:
        CorrelationInputError: for unknown options, series, evaluators or dimensions, or malformed input.

    Warns:
        LowEffectiveNWarning: if any pair has ``n_eff < 8``.

    Examples:
        >>> import numpy as np, pandas as pd
        >>> x = np.sin(np.arange(30) / 3)
        >>> tidy = pd.DataFrame({"segment_id": list(range(30)) * 2, "evaluator": ["a"] * 30 + ["b"] * 30,
        ...                      "dimension": "valence", "value": np.r_[x, x + np.cos(np.arange(30))]})
        >>> table = correlate(tidy)
        >>> table[["x_evaluator", "y_evaluator", "n", "r"]].round(3).to_dict("records")
        [{'x_evaluator': 'a', 'y_evaluator': 'b', 'n': 30, 'r': 0.667}]
        >>> bool(table.loc[0, "n_eff"] < 30), bool(table.loc[0, "p"] > table.loc[0, "p_naive"])
        (True, True)
    """
    check_method(method)
    if inference not in INFERENCES:
        raise CorrelationInputError(f"Unknown inference {inference!r}: use one of {', '.join(INFERENCES)}.")
    if padjust not in PADJUST_METHODS:
        raise CorrelationInputError(f"Unknown padjust {padjust!r}: use one of {', '.join(PADJUST_METHODS)}.")
    frame = tidy_frame(results)
    tgt = parse_series(target, series_list(frame)) if target is not None else None
    series = select_series(frame, evaluators, dimensions, keep=tgt)
    values, series, _ = matrix(frame, series)
    pairs = _pairs(series, tgt, within_evaluator)
    m = values.shape[0]
    masks = ~np.isnan(values)
    trans = values.T if method == "pearson" else rank_nan(values.T)
    lag = default_max_lag(m) if max_lag is None else int(max_lag)
    acf = autocorrelation(trans, lag) if m > 1 else np.full((len(series), 1), np.nan)
    if inference == "surrogate" and n_surrogates * m > _SURROGATE_CELLS:
        raise CorrelationInputError(f"{n_surrogates} surrogates x {m} segments is too large; use "
                                    "inference='neff' (robust and fast) or fewer n_surrogates.")
    seeds = np.random.default_rng(random_state).integers(0, 2**63 - 1, size=max(len(series), 1))
    surr_cache: dict[int, np.ndarray] = {}

    rows = []
    for i, j in pairs:
        both = masks[:, i] & masks[:, j]
        n = int(both.sum())
        xv, yv = values[both, i], values[both, j]
        r = p_naive = n_eff = p = np.nan
        note = ""
        if n < 3:
            note = f"fewer than 3 segments with both values (n={n})"
        elif np.ptp(xv) == 0 or np.ptp(yv) == 0:
            const = [label(series[k]) for k, v in ((i, xv), (j, yv)) if np.ptp(v) == 0]
            note = f"constant series: {', '.join(const)}"
            n_eff = float(n)
        else:
            if method == "kendall":
                res = stats.kendalltau(xv, yv, method="asymptotic")
                r, p_naive = float(res.statistic), float(res.pvalue)
            else:
                clean = bool(np.array_equal(both, masks[:, i]) and np.array_equal(both, masks[:, j]))
                if method == "spearman":
                    xt, yt = (trans[i, both], trans[j, both]) if clean else (rank_nan(xv), rank_nan(yv))
                else:
                    xt, yt = xv, yv
                r = _r(xt, yt)
                p_naive = float(p_value_t(r, n))
            n_eff = float(neff_from_acf(acf[i], acf[j], n, max_lag))
            if inference == "naive":
                p = p_naive
            elif inference == "neff":
                if method == "kendall":
                    z = np.sign(r) * stats.norm.isf(p_naive / 2.0) * np.sqrt(kendall_variance_ratio(n, n_eff))
                    p = float(2.0 * stats.norm.sf(abs(z)))
                else:
                    p = float(p_value_t(r, n_eff))
            else:
                if i not in surr_cache:
                    valid = masks[:, i]
                    surr = np.full((n_surrogates, m), np.nan)
                    surr[:, valid] = phase_randomised(values[valid, i], n_surrogates, int(seeds[i]))
                    surr_cache[i] = surr
                null = correlate_rows(surr_cache[i][:, both], yv, method)
                p = surrogate_p(r, null)
            if n_eff < MIN_NEFF:
                note = f"n_eff = {n_eff:.2f} < {MIN_NEFF}: interval and p are rough"
        ci_n = n if inference == "naive" else n_eff
        low, high = fisher_interval(r, ci_n, method=method, level=ci_level)
        rows.append((*series[i], *series[j], method, n, n_eff, r, float(low), float(high), ci_level, p_naive, p,
                     np.nan, inference, padjust, note))
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["p_adj"] = adjust_pvalues(table["p"].to_numpy(dtype=float), padjust)
    table = table.astype({"n": "int64", "n_eff": "float64", "r": "float64", "ci_low": "float64",
                          "ci_high": "float64", "ci_level": "float64", "p_naive": "float64", "p": "float64",
                          "p_adj": "float64"})
    low_n = table[table["n_eff"] < MIN_NEFF]
    if len(low_n) and inference != "naive":
        first = low_n.iloc[0]
        warnings.warn(
            f"{len(low_n)} pair(s) have an effective sample size below {MIN_NEFF} (e.g. "
            f"{first['x_evaluator']}/{first['x_dimension']} vs {first['y_evaluator']}/{first['y_dimension']}: "
            f"n_eff = {first['n_eff']:.2f}); their intervals and p-values are rough. More segments help.",
            LowEffectiveNWarning, stacklevel=2,
        )
    return table


__all__ = ["COLUMNS", "INFERENCES", "correlate", "select_series"]
