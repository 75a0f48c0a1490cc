"""Agreement beyond rank: Lin's CCC, ICC, Krippendorff's alpha (interval), mean pairwise Spearman."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from affectproxy.compare._align import (
    CorrelationInputError,
    Series,
    label,
    matrix,
    parse_series,
    series_list,
    tidy_frame,
)
from affectproxy.compare.inference import rank_nan

AGREEMENT_COLUMNS: list[str] = ["measure", "value", "n", "k", "description"]


def ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's (1989) concordance correlation ``2 s_xy / (s_x^2 + s_y^2 + (mean_x - mean_y)^2)`` (1/n moments).

    Pairs with a NaN are dropped. NaN if fewer than 2 pairs or both series are constant.

    Examples:
        >>> import numpy as np
        >>> ccc(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
        1.0
        >>> round(ccc(np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])), 3)
        0.571
    """
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = ~np.isnan(xa) & ~np.isnan(ya)
    xa, ya = xa[ok], ya[ok]
    if xa.size < 2:
        return float("nan")
    sxy = np.mean((xa - xa.mean()) * (ya - ya.mean()))
    den = xa.var() + ya.var() + (xa.mean() - ya.mean()) ** 2
    return float(2 * sxy / den) if den > 0 else float("nan")


def icc(ratings: np.ndarray) -> dict[str, float]:
    """Intraclass correlations of a complete ``(segments, raters)`` matrix, two-way model (McGraw & Wong 1996).

    Returns:
        ``{"icc_a1", "icc_c1", "icc_ak", "icc_ck"}``: absolute agreement and consistency, single rater and mean
        of k raters (Shrout & Fleiss ICC(2,1), ICC(3,1), ICC(2,k), ICC(3,k)).

    Raises:
        CorrelationInputError: if the matrix has NaN or fewer than 2 rows or columns.

    Examples:
        >>> import numpy as np
        >>> out = icc(np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 4.0], [4.0, 6.0]]))
        >>> round(out["icc_c1"], 3), round(out["icc_a1"], 3)
        (0.945, 0.712)
    """
    x = np.asarray(ratings, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2 or np.isnan(x).any():
        raise CorrelationInputError(f"icc needs a complete matrix of at least 2 segments x 2 raters, got {x.shape}.")
    n, k = x.shape
    grand = x.mean()
    rows, cols = x.mean(axis=1), x.mean(axis=0)
    msr = k * np.sum((rows - grand) ** 2) / (n - 1)
    msc = n * np.sum((cols - grand) ** 2) / (k - 1)
    mse = np.sum((x - rows[:, None] - cols[None, :] + grand) ** 2) / ((n - 1) * (k - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "icc_a1": float((msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)),
            "icc_c1": float((msr - mse) / (msr + (k - 1) * mse)),
            "icc_ak": float((msr - mse) / (msr + (msc - mse) / n)),
            "icc_ck": float((msr - mse) / msr),
        }


def krippendorff_alpha_interval(ratings: np.ndarray) -> float:
    """Krippendorff's alpha with the interval metric; ``(segments, raters)`` matrix, NaN = not rated.

    ``alpha = 1 - D_o / D_e`` over pairable values (segments with at least two ratings).

    Examples:
        >>> import numpy as np
        >>> round(krippendorff_alpha_interval(np.array([[1.0, 1.0], [2.0, 3.0], [3.0, 3.0], [np.nan, 4.0]])), 3)
        0.828
    """
    x = np.asarray(ratings, dtype=float)
    counts = (~np.isnan(x)).sum(axis=1)
    x = x[counts >= 2]
    m = counts[counts >= 2].astype(float)
    total = m.sum()
    if total < 2:
        return float("nan")
    s1 = np.nansum(x, axis=1)
    s2 = np.nansum(x**2, axis=1)
    within = 2 * (m * s2 - s1**2) / (m - 1)
    d_o = within.sum() / total
    all_vals = x[~np.isnan(x)]
    d_e = 2 * (total * np.sum(all_vals**2) - all_vals.sum() ** 2) / (total * (total - 1))
    return float(1 - d_o / d_e) if d_e > 0 else float("nan")


def krippendorff_alpha_ordinal(ratings: np.ndarray) -> float:
    """Krippendorff's alpha with the ordinal metric; ``(segments, raters)`` matrix, NaN = not rated.

    For ordered categories such as TRUST's integer Pathos (-2..+2): only the order of the values matters, so
    any increasing rescaling gives the same alpha.

    The metric between ranks c <= k is ``(sum_{g=c..k} n_g - (n_c + n_k) / 2) ** 2`` with n_g the pairable
    values' frequencies (Krippendorff 2011), computed from the coincidence matrix of pairable segments.
    """
    x = np.asarray(ratings, dtype=float)
    counts = (~np.isnan(x)).sum(axis=1)
    x = x[counts >= 2]
    levels = np.unique(x[~np.isnan(x)])
    if levels.size < 2:
        return float("nan")
    idx = {v: i for i, v in enumerate(levels)}
    q = levels.size
    coinc = np.zeros((q, q))
    for row in x:
        vals = row[~np.isnan(row)]
        m = vals.size
        codes = np.array([idx[v] for v in vals])
        per = np.bincount(codes, minlength=q).astype(float)
        coinc += (np.outer(per, per) - np.diag(per)) / (m - 1)
    n_c = coinc.sum(axis=1)
    n = n_c.sum()
    cum = np.cumsum(n_c)
    delta = np.zeros((q, q))
    for c in range(q):
        for k in range(c, q):
            d = (cum[k] - (cum[c - 1] if c else 0.0) - (n_c[c] + n_c[k]) / 2) ** 2
            delta[c, k] = delta[k, c] = d
    d_o = (coinc * delta).sum() / n
    d_e = (np.outer(n_c, n_c) * delta).sum() / (n * (n - 1))
    return float(1 - d_o / d_e) if d_e > 0 else float("nan")


def _raters(frame: pd.DataFrame, raters: Sequence[str | Sequence[str]] | None, evaluators: Sequence[str] | None,
            dimension: str | None) -> list[Series]:
    avail = series_list(frame)
    if raters is not None:
        chosen = [parse_series(r, avail, "rater") for r in raters]
    else:
        if dimension is None:
            dims = sorted({d for _, d in avail})
            raise CorrelationInputError(f"Name the raters or a dimension, e.g. dimension='valence' (have {dims}).")
        chosen = [s for s in avail if s[1] == dimension and (evaluators is None or s[0] in evaluators)]
    if len(chosen) < 2:
        raise CorrelationInputError(f"Agreement needs at least 2 raters, got {[label(s) for s in chosen]}; "
                                    "pass raters=[...] or a dimension shared by several evaluators.")
    return chosen


def declared_ranges(results: Any) -> dict[str, tuple[float, float]]:
    """``evaluator/dimension -> (low, high)`` for every dimension with a finite declared range.

    Read from ``results.evaluators`` (a :class:`~affectproxy.Results` knows each evaluator's declared
    :class:`~affectproxy.Dimension` s through the store's evaluator records); empty for a plain DataFrame.
    """
    out: dict[str, tuple[float, float]] = {}
    for rec in getattr(results, "evaluators", None) or ():
        for dim in getattr(rec, "dimensions", ()) or ():
            low, high = float(dim.low), float(dim.high)
            if np.isfinite(low) and np.isfinite(high) and high > low:
                out[f"{rec.name}/{dim.name}"] = (low, high)
    return out


def agreement(
    results: Any,
    raters: Sequence[str | Sequence[str]] | None = None,
    *,
    evaluators: Sequence[str] | None = None,
    dimension: str | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    rescale: bool = True,
    level: str = "interval",
) -> pd.DataFrame:
    """Agreement of several raters on one scale, e.g. the TRUST advocates scoring Pathos.

    Raters are series: pass them as ``raters=["trust_a/pathos", ("trust_b", "pathos")]``, or name a
    ``dimension`` (optionally with ``evaluators``) to take every evaluator's series of that dimension.
    Absolute-agreement measures (CCC, ICC(A,·), alpha) need a shared scale, so each rater is mapped linearly
    from its range onto 0..1 first. The ranges are the evaluators' declared dimension ranges (a
    :class:`~affectproxy.Results` knows them, e.g. Gemini's valence -1..1 and TRUST's pathos -2..2), overridden
    by ``ranges``. If any rater has no range (neither declared nor given), no rater is rescaled and the
    descriptions say so.

    Args:
        results: a :class:`~affectproxy.Results` or its tidy DataFrame.
        raters: the series to treat as raters.
        evaluators: with ``dimension``: keep only these evaluators.
        dimension: take every series of this dimension as a rater.
        ranges: scale of a rater (label ``evaluator/dimension`` or evaluator name -> (low, high)); overrides
            the declared range.
        rescale: False compares the raw values (no ranges used).
        level: Krippendorff's alpha metric: ``"interval"`` (the default) or ``"ordinal"`` (ordered categories such
            as TRUST's -2..+2 Pathos; the values' order is all that counts).

    Returns:
        DataFrame, one row per measure: measure (ccc, icc_a1, icc_c1, icc_ak, icc_ck, krippendorff_alpha,
        mean_spearman), value, n (segments used), k (raters), description (says whether the values were
        rescaled). CCC and Spearman are means over rater pairs (pairwise complete); ICC uses segments rated by
        all; alpha uses every pairable value.

    Raises:
        CorrelationInputError: fewer than 2 raters, unknown series, or a bad range.

    Examples:
        >>> import pandas as pd
        >>> tidy = pd.DataFrame({"segment_id": [1, 2, 3, 4] * 2, "evaluator": ["a"] * 4 + ["b"] * 4,
        ...                      "dimension": "pathos", "value": [-1, 0, 1, 2, -1, 0, 2, 2]})
        >>> agreement(tidy, dimension="pathos").set_index("measure")["value"].round(3).to_dict()
        {'ccc': 0.917, 'icc_a1': 0.936, 'icc_c1': 0.936, 'icc_ak': 0.967, 'icc_ck': 0.967, 'krippendorff_alpha': 0.926,
         'mean_spearman': 0.949}
    """
    if level not in ("interval", "ordinal"):
        raise CorrelationInputError(f"level must be 'interval' or 'ordinal', got {level!r}.")
    frame = tidy_frame(results)
    chosen = _raters(frame, raters, evaluators, dimension)
    values, _, _ = matrix(frame, chosen)
    given = dict(ranges or {})
    declared = declared_ranges(results)
    scales = []
    for s in chosen:
        rng = given.get(label(s), given.get(s[0], declared.get(label(s))))
        if rng is not None:
            low, high = float(rng[0]), float(rng[1])
            if not high > low:
                raise CorrelationInputError(f"Range of {label(s)} must be (low, high) with high > low, got {rng!r}.")
        scales.append(rng)
    missing = [label(s) for s, rng in zip(chosen, scales, strict=True) if rng is None]
    if rescale and not missing:
        for k, rng in enumerate(scales):
            low, high = float(rng[0]), float(rng[1])  # type: ignore[index]
            values[:, k] = (values[:, k] - low) / (high - low)
        scale = "on 0..1 from each rater's range"
    elif rescale and len(missing) < len(chosen) and not given:
        scale = f"raw values (no declared range for {', '.join(missing)}; pass ranges=)"
    elif rescale and len(missing) < len(chosen):
        raise CorrelationInputError(f"No range for {', '.join(missing)}: give every rater a range "
                                    "(ranges={'evaluator/dimension': (low, high)}) or none (rescale=False).")
    else:
        scale = "raw values"
    k = len(chosen)
    pairs = list(combinations(range(k), 2))
    complete = values[~np.isnan(values).any(axis=1)]
    cccs = [ccc(values[:, i], values[:, j]) for i, j in pairs]
    rhos = []
    for i, j in pairs:
        ok = ~np.isnan(values[:, i]) & ~np.isnan(values[:, j])
        rx, ry = rank_nan(values[ok, i]), rank_nan(values[ok, j])
        rhos.append(float(np.corrcoef(rx, ry)[0, 1]) if ok.sum() > 2 and rx.std() > 0 and ry.std() > 0 else np.nan)
    icc_vals = icc(complete) if complete.shape[0] >= 2 else dict.fromkeys(("icc_a1", "icc_c1", "icc_ak", "icc_ck"),
                                                                          float("nan"))
    pairable = int(((~np.isnan(values)).sum(axis=1) >= 2).sum())
    n_all = int(np.sum(~np.isnan(values).all(axis=1)))
    rows = [
        ("ccc", float(np.nanmean(cccs)) if not np.all(np.isnan(cccs)) else np.nan, n_all, k,
         f"Lin's concordance correlation, mean over rater pairs; {scale}"),
        ("icc_a1", icc_vals["icc_a1"], complete.shape[0], k, f"ICC(A,1): absolute agreement, single rater; {scale}"),
        ("icc_c1", icc_vals["icc_c1"], complete.shape[0], k, "ICC(C,1): consistency, single rater"),
        ("icc_ak", icc_vals["icc_ak"], complete.shape[0], k,
         f"ICC(A,k): absolute agreement, mean of k raters; {scale}"),
        ("icc_ck", icc_vals["icc_ck"], complete.shape[0], k, "ICC(C,k): consistency, mean of k raters"),
        ("krippendorff_alpha",
         krippendorff_alpha_interval(values) if level == "interval" else krippendorff_alpha_ordinal(values),
         pairable, k, f"Krippendorff's alpha, {level} metric; {scale}"),
        ("mean_spearman", float(np.nanmean(rhos)) if not np.all(np.isnan(rhos)) else np.nan, n_all, k,
         "Spearman correlation, mean over rater pairs"),
    ]
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)


__all__ = ["AGREEMENT_COLUMNS", "agreement", "ccc", "declared_ranges", "icc", "krippendorff_alpha_interval",
           "krippendorff_alpha_ordinal"]
