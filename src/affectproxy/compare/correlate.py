"""The correlation table: every cross-evaluator pair of series, with autocorrelation-robust inference."""

from __future__ import annotations

import warnings
import zlib
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
    ordered_matrix,
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
    recording_lengths,
)
from affectproxy.compare.padjust import PADJUST_METHODS, adjust_pvalues
from affectproxy.compare.surrogates import correlate_rows, recording_surrogates, surrogate_p

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


def series_rng(random_state: int | None, series: Series) -> np.random.Generator:
    """The surrogate generator of one series: seeded by ``random_state`` and the series' name, so a series gets
    the same surrogates whatever the order of the table's rows or of the other series."""
    if random_state is None:
        return np.random.default_rng()
    return np.random.default_rng([int(random_state), zlib.crc32(label(series).encode("utf-8"))])


def remedy(n_eff: float, recordings: int) -> str:
    """What would raise a low ``n_eff``: more segments, or more recordings.

    Within a recording, neighbouring segments repeat each other; recordings are independent. If ``n_eff`` is
    at most twice the number of recordings, each recording counts as one or two observations, so more
    segments per recording add little and more recordings are what helps.

    Examples:
        >>> remedy(4.0, 1)
        'more segments help (a longer recording, or more recordings)'
        >>> remedy(5.0, 5)
        'more recordings help; more segments per recording add little'
    """
    if recordings <= 1:
        return "more segments help (a longer recording, or more recordings)"
    if n_eff <= 2 * recordings:
        return "more recordings help; more segments per recording add little"
    return "more segments help (longer recordings or more of them)"


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

    A series is one (evaluator, dimension). Values are aligned by segment id. Serial dependence is modelled
    only inside a recording: segments are grouped by the ``recording`` column and put in time order by
    ``start`` (a tidy table without ``recording`` is one recording; without ``start``, in table order), and
    segments of different recordings are independent. For each pair only positions where both have a value
    enter ``r``; autocorrelations are estimated on each whole series from lag pairs inside one recording,
    pooled over recordings, so a missing segment never shortens a lag. The result does not depend on the
    order of the table's rows or recordings.

    Args:
        results: a :class:`~affectproxy.Results` or its tidy DataFrame (segment_id, evaluator, dimension, value).
        method: "spearman" (default), "kendall" (tau-b) or "pearson".
        target: ``("trust", "pathos")`` or ``"trust/pathos"``: only pairs with this series as y.
        evaluators: keep only these evaluators (the target always stays).
        dimensions: keep only these dimensions (the target always stays). Without it, by-product series
            (dimensions declared with ``detail=True``, e.g. TRUST's per-advocate scores) are left out.
        within_evaluator: also pair two dimensions of one evaluator (excluded by default).
        inference: what ``p`` is: "neff" (t test with Pyper-Peterman effective N; default), "surrogate"
            (surrogates of x, phase-randomised inside each recording; without a target, of the series whose
            name sorts first) or "naive" (the classic test, as scipy and the paper report).
        padjust: "holm" (default), "bh", "by" or "none"; the family is every row this call returns (so it
            depends on ``target``, ``evaluators``, ``dimensions`` and ``within_evaluator``).
        ci_level: confidence level of the interval.
        n_surrogates: surrogates per pair when ``inference="surrogate"``.
        random_state: seed for the surrogates (each series' generator is seeded by it and the series' name).
        max_lag: lags summed in ``n_eff``; default ``floor(n / 5)``, at most the longest recording less one.

    Returns:
        DataFrame, one row per pair, columns (always the same): x_evaluator, x_dimension, y_evaluator,
        y_dimension, method, n (paired segments), n_eff (effective sample size), r, ci_low, ci_high (Fisher-z
        interval using n_eff, or n when inference="naive"), ci_level, p_naive (classic: t approximation for
        spearman/pearson, scipy's normal approximation for kendall), p (per ``inference``), p_adj (p adjusted
        per ``padjust``), inference, padjust, note (why a value is NaN, or that n_eff is low and what would
        raise it; empty if nothing to say; never an n_eff note when inference="naive").

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
    if dimensions is None:  # by-product series (Dimension.detail) only when named or the target
        detail = {(rec.name, d.name) for rec in getattr(results, "evaluators", None) or ()
                  for d in getattr(rec, "dimensions", ()) if getattr(d, "detail", False)}
        series = [s for s in series if s not in detail or s == tgt]
    values, series, _, codes = ordered_matrix(frame, series)
    pairs = _pairs(series, tgt, within_evaluator)
    m = values.shape[0]
    masks = ~np.isnan(values)
    trans = values.T if method == "pearson" else rank_nan(values.T)
    longest = int(np.bincount(codes).max()) if m else 0
    lag = default_max_lag(m, longest) if max_lag is None else int(max_lag)
    acf = autocorrelation(trans, lag, codes) if m > 1 else np.full((len(series), 1), np.nan)
    if inference == "surrogate" and n_surrogates * m > _SURROGATE_CELLS:
        raise CorrelationInputError(f"{n_surrogates} surrogates x {m} segments is too large; use "
                                    "inference='neff' (robust and fast) or fewer n_surrogates.")
    surr_cache: dict[int, np.ndarray] = {}

    rows = []
    for i, j in pairs:
        both = masks[:, i] & masks[:, j]
        n = int(both.sum())
        lengths = recording_lengths(both, codes)
        n_rec = int(np.count_nonzero(lengths))
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
            n_eff = float(neff_from_acf(acf[i], acf[j], n, max_lag, lengths))
            if inference == "naive":
                p = p_naive
            elif inference == "neff":
                if method == "kendall":
                    z = np.sign(r) * stats.norm.isf(p_naive / 2.0) * np.sqrt(kendall_variance_ratio(n, n_eff))
                    p = float(2.0 * stats.norm.sf(abs(z)))
                else:
                    p = float(p_value_t(r, n_eff))
            else:
                # x is randomised; without a target, the series whose name sorts first (the same whatever
                # the order of the rows or of the series)
                k, other = (i, j) if tgt is not None or label(series[i]) <= label(series[j]) else (j, i)
                if k not in surr_cache:
                    surr_cache[k] = recording_surrogates(values[:, k], codes, n_surrogates,
                                                         series_rng(random_state, series[k]))
                null = correlate_rows(surr_cache[k][:, both], values[both, other], method)
                p = surrogate_p(r, null)
            if n_eff < MIN_NEFF and inference != "naive":
                where = "1 recording" if n_rec == 1 else f"{n_rec} recordings"
                note = (f"n_eff = {n_eff:.2f} < {MIN_NEFF} ({n} segments in {where}): interval and p are rough; "
                        f"{remedy(n_eff, n_rec)}")
        ci_n = n if inference == "naive" else n_eff
        low, high = fisher_interval(r, ci_n, method=method, level=ci_level)
        rows.append((*series[i], *series[j], method, n, n_eff, r, float(low), float(high), ci_level, p_naive, p,
                     np.nan, inference, padjust, note))
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["p_adj"] = adjust_pvalues(table["p"].to_numpy(dtype=float), padjust)
    table = table.astype({"n": "int64", "n_eff": "float64", "r": "float64", "ci_low": "float64",
                          "ci_high": "float64", "ci_level": "float64", "p_naive": "float64", "p": "float64",
                          "p_adj": "float64"})
    low_n = table[(table["n_eff"] < MIN_NEFF) & table["note"].str.startswith("n_eff")]
    if len(low_n) and inference != "naive":
        first = low_n.iloc[0]
        recs = int(codes.max()) + 1 if m else 0
        used = ("autocorrelation within one recording" if recs == 1 else
                f"autocorrelation within each of {recs} recordings, recordings independent")
        warnings.warn(
            f"{len(low_n)} pair(s) have an effective sample size below {MIN_NEFF} (e.g. "
            f"{first['x_evaluator']}/{first['x_dimension']} vs {first['y_evaluator']}/{first['y_dimension']}: "
            f"{first['note']}). n_eff uses the {used}.",
            LowEffectiveNWarning, stacklevel=2,
        )
    return table


_ADJUST_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg", "by": "Benjamini-Yekutieli"}


def family_note(table: pd.DataFrame, *, target: str | Sequence[str] | None = None,
                within_evaluator: bool = False) -> str:
    """One line saying which family ``p_adj`` was corrected over: the method, how many rows, which pairs.

    Examples:
        >>> import pandas as pd
        >>> table = pd.DataFrame({"p": [0.01, 0.2, float("nan")], "padjust": "holm"})
        >>> print(family_note(table))
        p_adj: Holm over the 2 rows with a p (of 3) of this table: every pair of series from different
        evaluators; --target narrows the family.
    """
    if table.empty:
        return "p_adj: no rows, nothing to adjust."
    method = str(table["padjust"].iloc[0])
    if method == "none":
        return "p_adj = p (no adjustment for multiple comparisons)."
    with_p = int(table["p"].notna().sum())
    noun = "row" if with_p == 1 else "rows"
    rows = f"the {with_p} {noun}" if with_p == len(table) else f"the {with_p} {noun} with a p (of {len(table)})"
    if target is not None:
        name = target if isinstance(target, str) else "/".join(map(str, target))
        pairs = f"every series {'' if within_evaluator else 'of another evaluator '}against {name}"
        hint = ""
    else:
        pairs = "every pair of series" + ("" if within_evaluator else " from different evaluators")
        hint = "; --target narrows the family"
    return f"p_adj: {_ADJUST_NAMES.get(method, method)} over {rows} of this table: {pairs}{hint}."


def no_pairs_reason(results: Any, *, within_evaluator: bool = False) -> str:
    """Why :func:`correlate` has no pair to return, and what to do (for an empty table).

    Examples:
        >>> import pandas as pd
        >>> tidy = pd.DataFrame({"segment_id": [1, 2, 1, 2], "evaluator": "prosody",
        ...                      "dimension": ["arousal", "arousal", "f0_range", "f0_range"], "value": [1, 2, 3, 4]})
        >>> print(no_pairs_reason(tidy))
        Only one evaluator (prosody) has results, and the table pairs series of different evaluators, so
        there is no pair. Pass --within (within_evaluator=True) to pair the dimensions inside prosody, e.g.
        prosody/arousal against prosody/f0_range, or add a second evaluator.
    """
    series = series_list(tidy_frame(results))
    names = list(dict.fromkeys(ev for ev, _ in series))
    if not series:
        return "There are no results to correlate; run the study first (affectproxy run STUDY)."
    if len(names) == 1 and not within_evaluator and len(series) > 1:
        return (f"Only one evaluator ({names[0]}) has results, and the table pairs series of different evaluators, "
                f"so there is no pair. Pass --within (within_evaluator=True) to pair the dimensions inside "
                f"{names[0]}, e.g. {label(series[0])} against {label(series[1])}, or add a second evaluator.")
    if len(series) == 1:
        return (f"Only one series ({label(series[0])}) has results, so there is nothing to pair; add an "
                "evaluator or a dimension.")
    return "No pair of series matches the options (target, evaluators, dimensions); check them."


__all__ = ["COLUMNS", "INFERENCES", "correlate", "family_note", "no_pairs_reason", "remedy", "select_series",
           "series_rng"]
