"""Figures for a paper: MTMM heatmap, forest plot, scatter per pair, per-segment timeline.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no GUI backend, nothing
shown); save it with ``fig.savefig(path)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from affectproxy.compare._align import Series, label, matrix, series_list, tidy_frame


def _mtmm_order(series: list[Series]) -> list[Series]:
    dims = list(dict.fromkeys(d for _, d in series))
    evs = list(dict.fromkeys(e for e, _ in series))
    return sorted(series, key=lambda s: (dims.index(s[1]), evs.index(s[0])))


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def heatmap(table: pd.DataFrame) -> Figure:
    """Correlation matrix laid out multitrait-multimethod: series grouped by dimension, then by evaluator.

    Cells show r and stars for p_adj (* < .05, ** < .01, *** < .001); pairs not in the table are blank.

    Args:
        table: the output of :func:`~affectproxy.compare.correlate`.

    Returns:
        The figure.

    Examples:
        >>> import pandas as pd
        >>> tab = pd.DataFrame({"x_evaluator": ["a"], "x_dimension": ["v"], "y_evaluator": ["b"],
        ...                     "y_dimension": ["v"], "r": [0.5], "p_adj": [0.01]})
        >>> type(heatmap(tab)).__name__
        'Figure'
    """
    xs = list(zip(table["x_evaluator"], table["x_dimension"], strict=True))
    ys = list(zip(table["y_evaluator"], table["y_dimension"], strict=True))
    series = _mtmm_order(list(dict.fromkeys(xs + ys)))
    idx = {s: i for i, s in enumerate(series)}
    k = len(series)
    mat = np.full((k, k), np.nan)
    stars = [[""] * k for _ in range(k)]
    for x, y, r, p in zip(xs, ys, table["r"], table["p_adj"], strict=True):
        i, j = idx[x], idx[y]
        mat[i, j] = mat[j, i] = r
        stars[i][j] = stars[j][i] = _stars(p)
    size = max(4.0, 0.6 * k + 2.5)
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(np.ma.masked_invalid(mat), cmap="RdBu_r", vmin=-1, vmax=1)
    labels = [label(s) for s in series]
    ax.set_xticks(range(k), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    for i in range(k):
        for j in range(k):
            if np.isfinite(mat[i, j]):
                colour = "white" if abs(mat[i, j]) > 0.6 else "black"
                ax.text(j, i, f"{mat[i, j]:.2f}{stars[i][j]}", ha="center", va="center", fontsize=7, color=colour)
    dims = [s[1] for s in series]
    for b in [i for i in range(1, k) if dims[i] != dims[i - 1]]:
        ax.axhline(b - 0.5, color="grey", lw=0.8)
        ax.axvline(b - 0.5, color="grey", lw=0.8)
    fig.colorbar(im, ax=ax, shrink=0.8, label="r")
    method = str(table["method"].iloc[0]) if "method" in table and len(table) else "r"
    ax.set_title(f"{method} correlations (grouped by dimension; * p_adj < .05)", fontsize=10)
    return fig


def forest(table: pd.DataFrame) -> Figure:
    """Forest plot: r with its interval per pair; filled markers where p_adj < .05.

    Args:
        table: the output of :func:`~affectproxy.compare.correlate`.

    Returns:
        The figure.
    """
    n = len(table)
    fig = Figure(figsize=(7.5, max(2.5, 0.32 * n + 1.2)), layout="constrained")
    ax = fig.add_subplot()
    ypos = np.arange(n)[::-1]
    labels = [f"{xe}/{xd}  vs  {ye}/{yd}" for xe, xd, ye, yd in
              zip(table["x_evaluator"], table["x_dimension"], table["y_evaluator"], table["y_dimension"], strict=True)]
    r = table["r"].to_numpy(dtype=float)
    lo, hi = table["ci_low"].to_numpy(dtype=float), table["ci_high"].to_numpy(dtype=float)
    sig = table["p_adj"].to_numpy(dtype=float) < 0.05
    ax.hlines(ypos, lo, hi, color="#4a6fa5", lw=1.6)
    ax.scatter(r[sig], ypos[sig], color="#1f3b64", zorder=3, label="p_adj < .05")
    ax.scatter(r[~sig], ypos[~sig], facecolor="white", edgecolor="#1f3b64", zorder=3, label="n.s.")
    ax.axvline(0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(ypos, labels, fontsize=8)
    ax.set_xlim(-1, 1)
    level = float(table["ci_level"].iloc[0]) if "ci_level" in table and n else 0.95
    ax.set_xlabel(f"r with {level:.0%} interval")
    if n:
        ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False)
    return fig


def scatter_pairs(results: Any, table: pd.DataFrame, *, max_pairs: int = 12) -> Figure:
    """One scatter plot per pair of the table (the first ``max_pairs``), r and p in each title.

    Args:
        results: a :class:`~affectproxy.Results` or its tidy DataFrame.
        table: the output of :func:`~affectproxy.compare.correlate` on the same results.
        max_pairs: at most this many panels.

    Returns:
        The figure.
    """
    values, series, _ = matrix(tidy_frame(results))
    col = {s: k for k, s in enumerate(series)}
    rows = table.head(max_pairs)
    count = max(len(rows), 1)
    ncols = min(4, count)
    nrows = int(np.ceil(count / ncols))
    fig = Figure(figsize=(3.1 * ncols, 2.9 * nrows), layout="constrained")
    for k, (_, row) in enumerate(rows.iterrows()):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        x = values[:, col[(row["x_evaluator"], row["x_dimension"])]]
        y = values[:, col[(row["y_evaluator"], row["y_dimension"])]]
        ax.scatter(x, y, s=12, alpha=0.75, color="#4a6fa5")
        ax.set_xlabel(f"{row['x_evaluator']}/{row['x_dimension']}", fontsize=8)
        ax.set_ylabel(f"{row['y_evaluator']}/{row['y_dimension']}", fontsize=8)
        ax.set_title(f"r = {row['r']:.2f}, p = {row['p']:.3g}", fontsize=8)
        ax.tick_params(labelsize=7)
    return fig


def timeline(results: Any) -> Figure:
    """Every evaluator's series over the segments, one panel per dimension, z-scored so shapes compare.

    Missing values break the line (no interpolation). The x axis is the segment start time when the tidy table
    has ``start``, else the segment index.

    Args:
        results: a :class:`~affectproxy.Results` or its tidy DataFrame.

    Returns:
        The figure.
    """
    frame = tidy_frame(results)
    values, series, segs = matrix(frame)
    if "start" in frame.columns and frame["start"].notna().all():
        starts = frame.drop_duplicates("segment_id").set_index("segment_id")["start"]
        xs = starts.reindex(segs).to_numpy(dtype=float)
        xlabel = "segment start (s)"
    else:
        xs, xlabel = np.arange(len(segs), dtype=float), "segment"
    dims = list(dict.fromkeys(d for _, d in series_list(frame)))
    fig = Figure(figsize=(9, 2.3 * len(dims) + 0.6), layout="constrained")
    axes = [fig.add_subplot(len(dims), 1, i + 1) for i in range(len(dims))]
    for ax, dim in zip(axes, dims, strict=True):
        for k, (ev, d) in enumerate(series):
            if d != dim:
                continue
            v = values[:, k]
            sd = np.nanstd(v)
            z = (v - np.nanmean(v)) / sd if sd > 0 else v - np.nanmean(v)
            ax.plot(xs, z, marker=".", ms=3, lw=1.1, label=ev)
        ax.set_ylabel(f"{dim} (z)", fontsize=9)
        ax.legend(fontsize=7, loc="upper right", ncols=3)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel(xlabel)
    return fig


__all__ = ["forest", "heatmap", "scatter_pairs", "timeline"]
