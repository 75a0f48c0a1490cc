"""Figures for a paper: MTMM heatmap, forest plot, a target's profile, scatter per pair, per-segment timeline.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no GUI backend, nothing
shown); save it with ``fig.savefig(path)``. Numbers are written with :func:`format_number` and p-values with
:func:`format_p`, the same functions the HTML report uses, so a figure and the table never disagree in format.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from affectproxy.compare._align import Series, label, matrix, series_list, tidy_frame

#: What the stars after a correlation mean (they mark the adjusted p-value).
STARS_LEGEND = "* p_adj < 0.05   ** p_adj < 0.01   *** p_adj < 0.001"


def format_number(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals; never "-0.000" (a value that rounds to zero has no sign); "–" for NaN.

    Examples:
        >>> format_number(-0.0001), format_number(0.98234, 2), format_number(float("nan"))
        ('0.000', '0.98', '–')
    """
    v = float(value)
    if not math.isfinite(v):
        return "–" if math.isnan(v) else ("∞" if v > 0 else "-∞")
    text = f"{v:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def format_p(p: Any) -> str:
    """A p-value as the report writes it everywhere: three decimals, "<0.001" below 0.001, "–" for NaN.

    Examples:
        >>> format_p(0.0123), format_p(7.4e-06), format_p(1.0)
        ('0.012', '<0.001', '1.000')
    """
    v = float(p)
    if math.isnan(v):
        return "–"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def p_phrase(name: str, p: Any) -> str:
    """``"p_adj = 0.012"`` or ``"p_adj < 0.001"``: :func:`format_p` in a sentence."""
    text = format_p(p)
    return f"{name} < 0.001" if text == "<0.001" else f"{name} = {text}"


def _mtmm_order(series: list[Series]) -> list[Series]:
    dims = list(dict.fromkeys(d for _, d in series))
    evs = list(dict.fromkeys(e for e, _ in series))
    return sorted(series, key=lambda s: (dims.index(s[1]), evs.index(s[0])))


def stars(p: float) -> str:
    """``***`` below 0.001, ``**`` below 0.01, ``*`` below 0.05, else empty (see :data:`STARS_LEGEND`)."""
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def find_target(table: pd.DataFrame) -> Series | None:
    """The series every row of a correlation table shares (the ``target`` it was computed with), else None.

    A one-row table gives its y series.
    """
    if table.empty:
        return None
    xs = list(zip(table["x_evaluator"], table["x_dimension"], strict=True))
    ys = list(zip(table["y_evaluator"], table["y_dimension"], strict=True))
    if len(table) == 1:
        return ys[0]
    common = {xs[0], ys[0]}
    for x, y in zip(xs, ys, strict=True):
        common &= {x, y}
    return next(iter(common)) if len(common) == 1 else None


def _other(row: pd.Series, target: Series) -> Series:
    x = (row["x_evaluator"], row["x_dimension"])
    return (row["y_evaluator"], row["y_dimension"]) if x == target else x


def heatmap(table: pd.DataFrame) -> Figure:
    """Correlation matrix laid out multitrait-multimethod: series grouped by dimension, then by evaluator.

    Cells show r and stars for p_adj (:data:`STARS_LEGEND`, written under the matrix); pairs not in the table
    are blank.

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
    marks = [[""] * k for _ in range(k)]
    for x, y, r, p in zip(xs, ys, table["r"], table["p_adj"], strict=True):
        i, j = idx[x], idx[y]
        mat[i, j] = mat[j, i] = r
        marks[i][j] = marks[j][i] = stars(p)
    size = max(4.0, 0.6 * k + 2.5)
    fig = Figure(figsize=(size + 1.2, size + 0.3), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(np.ma.masked_invalid(mat), cmap="RdBu_r", vmin=-1, vmax=1)
    labels = [label(s) for s in series]
    ax.set_xticks(range(k), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    for i in range(k):
        for j in range(k):
            if np.isfinite(mat[i, j]):
                colour = "white" if abs(mat[i, j]) > 0.6 else "black"
                ax.text(j, i, f"{format_number(mat[i, j], 2)}{marks[i][j]}", ha="center", va="center", fontsize=7,
                        color=colour)
    dims = [s[1] for s in series]
    for b in [i for i in range(1, k) if dims[i] != dims[i - 1]]:
        ax.axhline(b - 0.5, color="grey", lw=0.8)
        ax.axvline(b - 0.5, color="grey", lw=0.8)
    fig.colorbar(im, ax=ax, shrink=0.8, label="r")
    method = str(table["method"].iloc[0]) if "method" in table and len(table) else "r"
    ax.set_title(f"{method} correlations, grouped by dimension", fontsize=10)
    fig.supxlabel(f"{STARS_LEGEND}; blank: pair not compared", fontsize=8)
    return fig


def forest(table: pd.DataFrame) -> Figure:
    """Forest plot: r with its interval per pair; filled markers where p_adj < 0.05.

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
    _dots(ax, table, ypos)
    ax.set_yticks(ypos, labels, fontsize=8)
    level = float(table["ci_level"].iloc[0]) if "ci_level" in table and n else 0.95
    ax.set_xlabel(f"r with {level:.0%} interval")
    if n:
        ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False)
    return fig


def _dots(ax: Any, table: pd.DataFrame, ypos: np.ndarray) -> None:
    r = table["r"].to_numpy(dtype=float)
    lo, hi = table["ci_low"].to_numpy(dtype=float), table["ci_high"].to_numpy(dtype=float)
    sig = table["p_adj"].to_numpy(dtype=float) < 0.05
    ax.hlines(ypos, lo, hi, color="#4a6fa5", lw=1.6)
    ax.scatter(r[sig], ypos[sig], color="#1f3b64", zorder=3, label="p_adj < 0.05")
    ax.scatter(r[~sig], ypos[~sig], facecolor="white", edgecolor="#1f3b64", zorder=3, label="n.s.")
    ax.axvline(0, color="grey", lw=0.8, ls="--")
    ax.set_xlim(-1, 1)
    ax.tick_params(labelsize=8)


def target_profile(table: pd.DataFrame, target: Series | None = None) -> Figure:
    """The target's row of the correlation matrix: every other series' r with its interval, strongest first.

    Each row is labelled with the other series and annotated with r and stars for p_adj (:data:`STARS_LEGEND`,
    written under the plot); filled markers where p_adj < 0.05. Rows whose r is NaN are listed at the bottom
    with "no r".

    Args:
        table: the output of :func:`~affectproxy.compare.correlate` with a ``target``.
        target: the target series; found with :func:`find_target` if None.

    Returns:
        The figure.

    Raises:
        ValueError: if no series is common to every row and ``target`` is None.
    """
    tgt = target if target is not None else find_target(table)
    if tgt is None:
        raise ValueError("target_profile needs a table computed with a target (one series in every row).")
    order = table.assign(_abs=table["r"].abs()).sort_values("_abs", ascending=False, na_position="last",
                                                             kind="stable")
    n = len(order)
    fig = Figure(figsize=(7.5, max(2.4, 0.27 * n + 1.4)), layout="constrained")
    ax = fig.add_subplot()
    ypos = np.arange(n)[::-1].astype(float)
    _dots(ax, order, ypos)
    ax.set_yticks(ypos, [label(_other(row, tgt)) for _, row in order.iterrows()], fontsize=8)
    ax.set_ylim(-0.7, n - 0.3)
    for y, (_, row) in zip(ypos, order.iterrows(), strict=True):
        text = f"{format_number(row['r'], 2)}{stars(row['p_adj'])}" if np.isfinite(row["r"]) else "no r"
        ax.text(1.02, y, text, transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    method = str(table["method"].iloc[0]) if "method" in table and n else "r"
    level = float(table["ci_level"].iloc[0]) if "ci_level" in table and n else 0.95
    ax.set_xlabel(f"{method} r with {level:.0%} interval")
    ax.set_title(f"Correlation with {label(tgt)} ({n} series, strongest first)", fontsize=10)
    if n:
        ax.legend(fontsize=8, loc="lower right", frameon=False)
    fig.supxlabel(STARS_LEGEND, fontsize=8)
    return fig


def scatter_selection(table: pd.DataFrame, max_pairs: int) -> tuple[pd.DataFrame, int]:
    """The pairs a scatter figure shows: all of them, or the ``max_pairs`` strongest by |r| (NaN last).

    Returns:
        ``(rows to draw, how many pairs are left out)``.
    """
    if len(table) <= max_pairs:
        return table, 0
    order = table.assign(_abs=table["r"].abs()).sort_values("_abs", ascending=False, na_position="last",
                                                             kind="stable").drop(columns="_abs")
    return order.head(max_pairs), len(table) - max_pairs


def scatter_pairs(results: Any, table: pd.DataFrame, *, max_pairs: int = 20) -> Figure:
    """One scatter plot per pair of the table, r with its interval and p_adj in each title.

    All pairs when there are at most ``max_pairs``; else the ``max_pairs`` strongest by |r|, and the figure's
    title says how many are left out (:func:`scatter_selection`).

    Args:
        results: a :class:`~affectproxy.Results` or its tidy DataFrame.
        table: the output of :func:`~affectproxy.compare.correlate` on the same results.
        max_pairs: at most this many panels.

    Returns:
        The figure.
    """
    values, series, _ = matrix(tidy_frame(results))
    col = {s: k for k, s in enumerate(series)}
    rows, left_out = scatter_selection(table, max_pairs)
    count = max(len(rows), 1)
    ncols = min(4, count)
    nrows = int(np.ceil(count / ncols))
    fig = Figure(figsize=(3.1 * ncols, 2.9 * nrows + (0.4 if left_out else 0)), layout="constrained")
    for k, (_, row) in enumerate(rows.iterrows()):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        x = values[:, col[(row["x_evaluator"], row["x_dimension"])]]
        y = values[:, col[(row["y_evaluator"], row["y_dimension"])]]
        ax.scatter(x, y, s=12, alpha=0.75, color="#4a6fa5")
        ax.set_xlabel(f"{row['x_evaluator']}/{row['x_dimension']}", fontsize=8)
        ax.set_ylabel(f"{row['y_evaluator']}/{row['y_dimension']}", fontsize=8)
        ax.set_title(f"r = {format_number(row['r'], 2)} [{format_number(row['ci_low'], 2)}, "
                     f"{format_number(row['ci_high'], 2)}], {p_phrase('p_adj', row['p_adj'])}", fontsize=8)
        ax.tick_params(labelsize=7)
    if left_out:
        fig.suptitle(f"The {len(rows)} strongest of {len(table)} pairs (by |r|); {left_out} not shown "
                     "(all are in the table)", fontsize=9)
    return fig


def timeline_layout(frame: pd.DataFrame, segs: list[Any]) -> tuple[np.ndarray, str, list[tuple[str, float, float]]]:
    """Where each segment goes on the timeline's x axis.

    One recording: the segment start time (seconds) when every segment has one, else the segment's position.
    Several recordings: segments in order (by start time within a recording, recordings in order of first
    appearance), numbered consecutively with a gap of one between recordings, since their clocks are unrelated
    (a corpus of one-utterance files all starts at 0).

    Returns:
        ``(x per segment in the order of segs, x axis label, [(recording, first x, last x), ...])``; the list is
        empty for one recording.
    """
    first = frame.drop_duplicates("segment_id").set_index("segment_id")
    has_start = "start" in frame.columns and frame["start"].notna().all()
    recs = first["recording"].reindex(segs).astype(str) if "recording" in frame.columns else None
    if recs is None or recs.nunique() <= 1:
        if has_start:
            return first["start"].reindex(segs).to_numpy(dtype=float), "segment start (s)", []
        return np.arange(len(segs), dtype=float), "segment", []
    rec_order = {r: i for i, r in enumerate(dict.fromkeys(recs))}
    key = pd.DataFrame({"rec": [rec_order[r] for r in recs], "pos": np.arange(len(segs)),
                        "start": first["start"].reindex(segs).to_numpy(dtype=float) if has_start else 0.0})
    key = key.sort_values(["rec", "start", "pos"], kind="stable")
    xs = np.empty(len(segs))
    spans: list[tuple[str, float, float]] = []
    x, names = 0.0, list(rec_order)
    codes = key["rec"].to_numpy()
    for rec in range(len(names)):
        idx = key["pos"].to_numpy()[codes == rec]
        xs[idx] = x + np.arange(idx.size)
        spans.append((names[rec], x, x + idx.size - 1))
        x += idx.size + 1
    return xs, f"segments in order, grouped by recording ({len(spans)} recordings)", spans


def timeline(results: Any) -> Figure:
    """Every evaluator's series over the segments, one panel per dimension, z-scored so shapes compare.

    Dimensions several evaluators share come first. Missing values break the line (no interpolation), and so does
    the change from one recording to the next.
    The x axis is laid out by :func:`timeline_layout`: start time for one recording, segment order grouped by
    recording (with recording names under the axis and a separator between recordings) for several.

    Args:
        results: a :class:`~affectproxy.Results` or its tidy DataFrame.

    Returns:
        The figure.
    """
    frame = tidy_frame(results)
    values, series, segs = matrix(frame)
    xs, xlabel, spans = timeline_layout(frame, segs)
    order = np.argsort(xs, kind="stable")
    xs_sorted = xs[order]
    breaks = np.r_[False, np.diff(xs_sorted) > 1.5] if spans else np.zeros(len(xs), dtype=bool)
    dims = list(dict.fromkeys(d for _, d in series_list(frame)))
    dims.sort(key=lambda d: -sum(1 for _, sd in series if sd == d))  # shared dimensions (comparisons) first
    panel = 2.3 if len(dims) <= 4 else 1.7
    fig = Figure(figsize=(9, panel * len(dims) + 0.9), layout="constrained")
    axes = [fig.add_subplot(len(dims), 1, i + 1) for i in range(len(dims))]
    for ax, dim in zip(axes, dims, strict=True):
        for k, (ev, d) in enumerate(series):
            if d != dim:
                continue
            v = values[:, k]
            sd = np.nanstd(v)
            z = ((v - np.nanmean(v)) / sd if sd > 0 else v - np.nanmean(v))[order]
            px, pz = xs_sorted, z
            if breaks.any():  # a NaN between recordings breaks the line there
                cut = np.flatnonzero(breaks)
                px, pz = np.insert(px, cut, np.nan), np.insert(pz, cut, np.nan)
            ax.plot(px, pz, marker="o" if spans else ".", ms=3.5 if spans else 3, lw=1.1, label=ev)
        ax.set_ylabel(f"{dim} (z)", fontsize=9)
        ax.legend(fontsize=7, loc="upper right", ncols=3)
        ax.tick_params(labelsize=7)
        for _, lo, _hi in spans[1:]:
            ax.axvline(lo - 1, color="grey", lw=0.6, ls=":")
    if spans:
        step = max(1, math.ceil(len(spans) / 40))
        shown = spans[::step]
        for ax in axes:
            ax.set_xticks([(lo + hi) / 2 for _, lo, hi in shown])
            ax.set_xticklabels([] if ax is not axes[-1] else [name for name, _, _ in shown],
                               rotation=60 if len(shown) > 8 else 0, ha="right" if len(shown) > 8 else "center",
                               fontsize=7)
    axes[-1].set_xlabel(xlabel)
    return fig


__all__ = ["STARS_LEGEND", "find_target", "forest", "format_number", "format_p", "heatmap", "p_phrase",
           "scatter_pairs", "scatter_selection", "stars", "target_profile", "timeline", "timeline_layout"]
