"""Multiple-comparison adjustment of p-values: Holm, Benjamini-Hochberg, Benjamini-Yekutieli."""

from __future__ import annotations

import numpy as np

PADJUST_METHODS: tuple[str, ...] = ("holm", "bh", "by", "none")


def adjust_pvalues(p: np.ndarray | list[float], method: str = "holm") -> np.ndarray:
    """Adjust a family of p-values; NaN entries are left out of the family and stay NaN.

    Args:
        p: the family's p-values.
        method: "holm" (Holm 1979, controls the family-wise error rate), "bh" (Benjamini & Hochberg 1995,
            false discovery rate), "by" (Benjamini & Yekutieli 2001, FDR under any dependence) or "none".

    Returns:
        Adjusted p-values (same order), capped at 1; identical to R's ``p.adjust``.

    Raises:
        CorrelationInputError: for an unknown method.

    Examples:
        >>> adjust_pvalues([0.01, 0.04, 0.03], "holm").round(3).tolist()
        [0.03, 0.06, 0.06]
        >>> adjust_pvalues([0.01, 0.04, 0.03], "bh").round(3).tolist()
        [0.03, 0.04, 0.04]
    """
    if method not in PADJUST_METHODS:
        from affectproxy.compare._align import CorrelationInputError

        raise CorrelationInputError(f"Unknown padjust {method!r}: use one of {', '.join(PADJUST_METHODS)}.")
    arr = np.asarray(p, dtype=float)
    out = np.full(arr.shape, np.nan)
    ok = ~np.isnan(arr)
    vals = arr[ok]
    m = vals.size
    if m == 0 or method == "none":
        out[ok] = vals
        return out
    order = np.argsort(vals, kind="stable")
    sorted_p = vals[order]
    ranks = np.arange(1, m + 1)
    if method == "holm":
        adj = np.maximum.accumulate((m - ranks + 1) * sorted_p)
    else:
        factor = float(np.sum(1.0 / ranks)) if method == "by" else 1.0
        adj = np.minimum.accumulate((m * factor / ranks * sorted_p)[::-1])[::-1]
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


__all__ = ["PADJUST_METHODS", "adjust_pvalues"]
