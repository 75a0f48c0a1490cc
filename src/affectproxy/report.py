"""An HTML report of a comparison: tables, figures and a short methods paragraph, in one folder."""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from affectproxy.errors import StoreError

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #4a6fa5;padding-bottom:.2em}
h2{font-size:1.2em;margin-top:1.8em;color:#1f3b64}
table{border-collapse:collapse;font-size:.82em;margin:.6em 0}th,td{padding:.25em .6em;border-bottom:1px solid #ddd;
text-align:right}th{background:#eef2f8;position:sticky;top:0}td.l,th.l{text-align:left}tr.sig td{font-weight:600}
td.note{min-width:18em;color:#8a5a00}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}.note{color:#666;font-size:.9em}
ul.notes{background:#fff8e5;border-left:4px solid #e0b040;padding:.5em 1.5em}.scroll{overflow-x:auto}
"""

_TEXT_COLUMNS = {"x_evaluator", "x_dimension", "y_evaluator", "y_dimension", "method", "inference", "padjust", "note",
                 "evaluator", "dimension"}


def _fmt(value: Any, column: str) -> str:
    if isinstance(value, float):
        if value != value:
            return "–"
        if column.startswith("p"):
            return "&lt;0.001" if value < 0.001 else f"{value:.3f}"
        return f"{value:.1f}" if column == "n_eff" else f"{value:.3f}"
    return html.escape(str(value))


def _html_table(frame: pd.DataFrame, highlight: pd.Series | None = None) -> str:
    head = "".join(f'<th class="{"l" if c in _TEXT_COLUMNS else ""}">{html.escape(c)}</th>' for c in frame.columns)
    body = []
    for k, (_, row) in enumerate(frame.iterrows()):
        cls = ' class="sig"' if highlight is not None and bool(highlight.iloc[k]) else ""
        cells = "".join(f'<td class="{"l note" if c == "note" else "l" if c in _TEXT_COLUMNS else ""}">'
                        f"{_fmt(row[c], c)}</td>" for c in frame.columns)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _methods(table: pd.DataFrame) -> str:
    if table.empty:
        return "<p>No pairs of series from different evaluators to correlate.</p>"
    first = table.iloc[0]
    inference = {
        "neff": "a t test with the <b>effective sample size</b> n_eff (Pyper &amp; Peterman 1998) in place of n, "
                "which accounts for the autocorrelation of consecutive segments",
        "surrogate": "phase-randomised surrogates (Theiler et al. 1992) of the first series, which keep its "
                     "autocorrelation and its values",
        "naive": "the classic t approximation with n - 2 degrees of freedom (as scipy reports; it ignores "
                 "autocorrelation and rejects too often for serially dependent segments)",
    }.get(str(first["inference"]), str(first["inference"]))
    adjust = {"holm": "Holm's step-down method (family-wise error)", "bh": "Benjamini-Hochberg (false discovery rate)",
              "by": "Benjamini-Yekutieli (false discovery rate under any dependence)", "none": "no adjustment"}
    return (
        f"<p><b>{html.escape(str(first['method']).capitalize())}</b> correlations between series of different "
        f"evaluators, aligned by segment id. <b>n</b> counts segments where both have a value; <b>p</b> comes from "
        f"{inference}; <b>p_naive</b> is the classic test for comparison with published numbers. The interval "
        f"(ci_low, ci_high, level {float(first['ci_level']):.0%}) is Fisher-z with the Bonett-Wright variance for "
        f"Spearman, using n_eff. <b>p_adj</b> applies {adjust.get(str(first['padjust']), first['padjust'])} over "
        f"the {len(table)} rows of this table; rows in bold have p_adj &lt; 0.05. See docs/statistics.md.</p>"
    )


def write_report(
    results: Any,
    out_dir: str | Path,
    *,
    table: pd.DataFrame | None = None,
    title: str = "affectproxy report",
    notes: Iterable[str] = (),
) -> Path:
    """Write ``index.html`` with the correlation table, descriptives, a methods paragraph and four figures.

    Figures are PNGs beside the HTML: timeline.png, heatmap.png, forest.png, scatter.png.

    Args:
        results: a :class:`~affectproxy.Results` or its tidy DataFrame.
        out_dir: folder to write into (created if needed).
        table: a table from :func:`affectproxy.compare.correlate`; computed with the defaults if None.
        title: the page title.
        notes: extra lines shown near the top (e.g. "Skipped emotion2vec: missing funasr").

    Returns:
        Path of index.html.

    Raises:
        StoreError: if the folder cannot be written.

    Examples:
        >>> import tempfile, numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> tidy = pd.DataFrame({"segment_id": np.tile(np.arange(20), 2), "evaluator": np.repeat(["a", "b"], 20),
        ...                      "dimension": "valence", "value": rng.standard_normal(40)})
        >>> write_report(tidy, tempfile.mkdtemp()).name
        'index.html'
    """
    from affectproxy.compare import correlate, describe
    from affectproxy.compare.plots import forest, heatmap, scatter_pairs, timeline

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"Cannot create report folder {str(out)!r}: {exc}. Choose a writable -o folder.") from exc
    tidy = results.to_pandas() if hasattr(results, "to_pandas") else results
    tab = correlate(tidy) if table is None else table
    desc = describe(tidy)
    figures = {"timeline.png": timeline(tidy)}
    if len(tab):
        figures.update({"heatmap.png": heatmap(tab), "forest.png": forest(tab),
                        "scatter.png": scatter_pairs(tidy, tab)})
    try:
        for name, fig in figures.items():
            fig.savefig(out / name, dpi=110)
    except OSError as exc:
        raise StoreError(f"Cannot write figures into {str(out)!r}: {exc}. Choose a writable -o folder.") from exc
    n_seg = tidy["segment_id"].nunique()
    n_ev = tidy["evaluator"].nunique()
    notes_html = "".join(f"<li>{html.escape(str(n))}</li>" for n in notes)
    shown = tab.drop(columns=[c for c in ("ci_level", "inference", "padjust") if c in tab.columns])
    sig = tab["p_adj"] < 0.05 if "p_adj" in tab else None
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p>{n_seg} segments, {n_ev} evaluators, {len(desc)} series, {len(tab)} pairs.</p>",
        f'<ul class="notes">{notes_html}</ul>' if notes_html else "",
        "<h2>Correlations</h2>", _methods(tab), _html_table(shown, sig),
    ]
    if "forest.png" in figures:
        parts += ["<h2>Forest plot</h2><img src='forest.png' alt='forest plot of correlations'>",
                  "<h2>Correlation matrix</h2><p class='note'>Grouped by dimension (multitrait-multimethod): "
                  "blocks on the diagonal compare evaluators on the same dimension.</p>"
                  "<img src='heatmap.png' alt='correlation heatmap'>",
                  "<h2>Scatter plots</h2><img src='scatter.png' alt='scatter plots per pair'>"]
    parts += ["<h2>Descriptives</h2>", _html_table(desc),
              "<h2>Timeline</h2><p class='note'>Each series z-scored; gaps are missing values.</p>"
              "<img src='timeline.png' alt='per-segment timeline'>",
              "<p class='note'>Written by affectproxy.</p></body></html>"]
    path = out / "index.html"
    try:
        path.write_text("\n".join(parts), encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"Cannot write {str(path)!r}: {exc}. Choose a writable -o folder.") from exc
    return path


__all__ = ["write_report"]
