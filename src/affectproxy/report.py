"""An HTML report of a comparison: tables, figures and a short methods paragraph, in one folder."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectproxy.compare._align import Series, label, series_list, tidy_frame
from affectproxy.errors import StoreError

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #4a6fa5;padding-bottom:.2em}
h2{font-size:1.2em;margin-top:1.8em;color:#1f3b64}
table{border-collapse:collapse;font-size:.82em;margin:.6em 0}th,td{padding:.25em .5em;border-bottom:1px solid #ddd;
text-align:right}th{background:#eef2f8;position:sticky;top:0}td.l,th.l{text-align:left}tr.sig td{font-weight:600}
td.ref{color:#8a5a00;white-space:nowrap}ol.tnotes{font-size:.85em;color:#5a4000;margin-top:.2em}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}.note{color:#666;font-size:.9em}
ul.notes{background:#fff8e5;border-left:4px solid #e0b040;padding:.5em 1.5em}.scroll{overflow-x:auto}
"""

_TEXT_COLUMNS = {"x_evaluator", "x_dimension", "y_evaluator", "y_dimension", "method", "inference", "padjust", "note",
                 "evaluator", "dimension", "segment_id", "warning"}
_P_COLUMNS = {"p", "p_naive", "p_adj"}
#: The label key an evaluator sets on an estimate to flag it (e.g. prosody: no F0 in a voiced segment).
WARNING_LABEL = "warning"
#: At most this many flagged estimates are listed one by one.
MAX_FLAGS_LISTED = 50


def _fmt(value: Any, column: str) -> str:
    from affectproxy.compare.plots import format_number, format_p

    if isinstance(value, (float, np.floating)):
        if column in _P_COLUMNS:
            return html.escape(format_p(value))
        return format_number(value, 1 if column == "n_eff" else 3)
    return html.escape(str(value))


def _html_table(frame: pd.DataFrame, highlight: pd.Series | None = None) -> str:
    """A table; a ``note`` column becomes footnote numbers, with the distinct notes listed under the table."""
    notes: dict[str, int] = {}
    head = "".join(f'<th class="{"l" if c in _TEXT_COLUMNS else ""}">{html.escape(c)}</th>' for c in frame.columns)
    body = []
    for k, (_, row) in enumerate(frame.iterrows()):
        cls = ' class="sig"' if highlight is not None and bool(highlight.iloc[k]) else ""
        cells = []
        for c in frame.columns:
            if c == "note":
                text = str(row[c]) if isinstance(row[c], str) else ""
                ref = notes.setdefault(text, len(notes) + 1) if text else None
                cells.append(f'<td class="l ref">{f"<a href=#note{ref}>[{ref}]</a>" if ref else ""}</td>')
            else:
                cells.append(f'<td class="{"l" if c in _TEXT_COLUMNS else ""}">{_fmt(row[c], c)}</td>')
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    listed = "".join(f"<li id='note{i}'>{html.escape(t)}</li>" for t, i in notes.items())
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
            + (f'<ol class="tnotes">{listed}</ol>' if listed else ""))


def flagged_estimates(results: Any) -> pd.DataFrame:
    """Estimates an evaluator flagged with a ``labels["warning"]`` (columns segment_id, evaluator, warning).

    Only :class:`~affectproxy.Results` carry labels; a tidy DataFrame gives an empty table.
    """
    rows = [(e.segment_id, e.evaluator, e.labels[WARNING_LABEL]) for e in getattr(results, "estimates", ())
            if WARNING_LABEL in (getattr(e, "labels", None) or {})]
    return pd.DataFrame(rows, columns=["segment_id", "evaluator", "warning"])


def _flags_html(flags: pd.DataFrame, tidy: pd.DataFrame) -> str:
    if flags.empty:
        return ""
    per_ev = tidy.drop_duplicates(["segment_id", "evaluator"]).groupby("evaluator")["segment_id"].count()
    counts = flags.groupby("evaluator", sort=False)["segment_id"].count()
    summary = "; ".join(f"{ev}: {n} of {int(per_ev.get(ev, n))} segment{'s' if per_ev.get(ev, n) != 1 else ''}"
                        for ev, n in counts.items())
    shown = flags.head(MAX_FLAGS_LISTED)
    more = (f"<p class='note'>{len(flags) - len(shown)} more flagged estimates are not listed; "
            "read them from Results.estimates (labels['warning']).</p>" if len(flags) > len(shown) else "")
    return ("<h2>Flagged estimates</h2><p>The evaluators flagged these estimates as possibly misleading "
            f"({html.escape(summary)}). Their values are in every table and figure below; read them with the "
            "warning in mind.</p>" + _html_table(shown) + more)


def _methods(table: pd.DataFrame) -> str:
    if table.empty:
        return "<p>No pairs of series from different evaluators to correlate.</p>"
    first = table.iloc[0]
    within = bool((table["x_evaluator"] == table["y_evaluator"]).any())
    pairs = "different evaluators and dimensions of one evaluator" if within else "different evaluators"
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
        f"<p><b>{html.escape(str(first['method']).capitalize())}</b> correlations between series of {pairs}, "
        f"aligned by segment id. <b>n</b> counts segments where both have a value; <b>p</b> comes from "
        f"{inference}; <b>p_naive</b> is the classic test for comparison with published numbers. The interval "
        f"(ci_low, ci_high, level {float(first['ci_level']):.0%}) is Fisher-z with the Bonett-Wright variance for "
        f"Spearman, using n_eff. <b>p_adj</b> applies {adjust.get(str(first['padjust']), first['padjust'])} over "
        f"the {len(table)} rows of this table; rows in bold have p_adj &lt; 0.05. p-values are written with three "
        f"decimals, and as &lt;0.001 below 0.001, in the table and the figures alike; numbered notes are listed "
        f"under the table. See docs/statistics.md.</p>"
    )


def _scatter_sentence(total: int, left_out: int, target: Series | None) -> str:
    if not left_out:
        return f"<p class='note'>All {total} pairs of the table, one panel each.</p>"
    with_target = f", all of them pairs with {html.escape(label(target))}" if target is not None else ""
    return (f"<p class='note'><b>{left_out} of {total} pairs are not plotted</b>{with_target}: the panels show the "
            f"{total - left_out} with the largest |r|. Every pair is in the table above.</p>")


def write_report(
    results: Any,
    out_dir: str | Path,
    *,
    table: pd.DataFrame | None = None,
    title: str = "affectproxy report",
    notes: Iterable[str] = (),
    target: str | Sequence[str] | None = None,
    max_scatter: int = 20,
    store: Any = None,
) -> Path:
    """Write ``index.html`` with the correlation table, descriptives, a methods paragraph and the figures.

    Figures are PNGs beside the HTML: forest.png and heatmap.png (every pair; without a target), or target.png
    (the target's row of the matrix: r with its interval per series, strongest first; with a target), and
    scatter.png and timeline.png. Estimates an evaluator flagged (``labels["warning"]``, e.g. prosody's "no F0
    although voiced") are listed near the top.

    Args:
        results: a :class:`~affectproxy.Results` or its tidy DataFrame (a DataFrame carries no flags).
        out_dir: folder to write into (created if needed).
        table: a table from :func:`affectproxy.compare.correlate`; computed with the defaults (and ``target``) if
            None.
        title: the page title and heading (e.g. from the study's name).
        notes: extra lines shown near the top (e.g. "Skipped emotion2vec: missing funasr").
        store: the study's store (a path or :class:`~affectproxy.store.Store`): adds what the LLM calls cost
            (per evaluator and model, cache savings, cost per hour of speech) when it logged any.
        target: the target series (``"evaluator/dimension"``); found from ``table`` when every row shares one.
        max_scatter: at most this many scatter panels; more pairs show the strongest, and the report says how
            many are left out.

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
    from affectproxy.compare._align import parse_series
    from affectproxy.compare.plots import (
        STARS_LEGEND,
        find_target,
        forest,
        heatmap,
        scatter_pairs,
        scatter_selection,
        target_profile,
        timeline,
    )

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"Cannot create report folder {str(out)!r}: {exc}. Choose a writable -o folder.") from exc
    tidy = results.to_pandas() if hasattr(results, "to_pandas") else results
    tab = correlate(tidy, target=target) if table is None else table
    if target is not None:
        tgt: Series | None = parse_series(target, series_list(tidy_frame(tidy)))
    else:
        tgt = find_target(tab) if len(tab) > 1 else None
    desc = describe(tidy)
    figures = {"timeline.png": timeline(tidy)}
    if len(tab):
        figures["scatter.png"] = scatter_pairs(tidy, tab, max_pairs=max_scatter)
        if tgt is not None:
            figures["target.png"] = target_profile(tab, tgt)
        else:
            figures.update({"forest.png": forest(tab), "heatmap.png": heatmap(tab)})
    try:
        for name, fig in figures.items():
            fig.savefig(out / name, dpi=110)
    except OSError as exc:
        raise StoreError(f"Cannot write figures into {str(out)!r}: {exc}. Choose a writable -o folder.") from exc
    n_seg = tidy["segment_id"].nunique()
    n_ev = tidy["evaluator"].nunique()
    n_rec = tidy["recording"].nunique() if "recording" in tidy.columns else 1
    notes_html = "".join(f"<li>{html.escape(str(n))}</li>" for n in notes)
    shown = tab.drop(columns=[c for c in ("ci_level", "inference", "padjust") if c in tab.columns])
    sig = tab["p_adj"] < 0.05 if "p_adj" in tab else None
    recordings = f" in {n_rec} recordings" if n_rec > 1 else ""
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p>{n_seg} segments{recordings}, {n_ev} evaluators, {len(desc)} series, {len(tab)} pairs"
        + (f" (every series against the target <b>{html.escape(label(tgt))}</b>)" if tgt is not None else "")
        + ".</p>",
        f'<ul class="notes">{notes_html}</ul>' if notes_html else "",
        _flags_html(flagged_estimates(results), tidy),
        "<h2>Correlations</h2>", _methods(tab), _html_table(shown, sig),
    ]
    if store is not None:
        from affectproxy.llm.spend import spend_html

        parts.append(spend_html(store))
    if "target.png" in figures:
        assert tgt is not None
        parts += [f"<h2>Correlations with {html.escape(label(tgt))}</h2><p class='note'>The target's row of the "
                  "correlation matrix (the rest of the matrix was not computed): r with its interval for every "
                  f"series, strongest first; filled markers have p_adj &lt; 0.05. {STARS_LEGEND}.</p>"
                  "<img src='target.png' alt='correlations with the target'>"]
    elif "forest.png" in figures:
        parts += ["<h2>Forest plot</h2><img src='forest.png' alt='forest plot of correlations'>",
                  "<h2>Correlation matrix</h2><p class='note'>Grouped by dimension (multitrait-multimethod): "
                  f"blocks on the diagonal compare evaluators on the same dimension. {STARS_LEGEND}; blank cells "
                  "are pairs not in the table (by default two dimensions of one evaluator are not paired).</p>"
                  "<img src='heatmap.png' alt='correlation heatmap'>"]
    if "scatter.png" in figures:
        _, left_out = scatter_selection(tab, max_scatter)
        parts += ["<h2>Scatter plots</h2>", _scatter_sentence(len(tab), left_out, tgt),
                  "<img src='scatter.png' alt='scatter plots per pair'>"]
    layout = ("segments in order, grouped by recording (recordings have their own clocks)" if n_rec > 1
              else "segment start time")
    parts += ["<h2>Descriptives</h2>", _html_table(desc),
              f"<h2>Timeline</h2><p class='note'>Each series z-scored; x: {layout}; gaps are missing values.</p>"
              "<img src='timeline.png' alt='per-segment timeline'>",
              "<p class='note'>Written by affectproxy.</p></body></html>"]
    path = out / "index.html"
    try:
        path.write_text("\n".join(parts), encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"Cannot write {str(path)!r}: {exc}. Choose a writable -o folder.") from exc
    return path


__all__ = ["MAX_FLAGS_LISTED", "WARNING_LABEL", "flagged_estimates", "write_report"]
