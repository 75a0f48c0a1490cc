"""The audit's output folder: answers.csv, summary CSVs, PNG figures and report.html."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectproxy.audit.mapping import NO_MATCH

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}h1{font-size:1.6em;border-bottom:2px solid #4a6fa5}h2{font-size:1.2em;margin-top:1.8em;
color:#1f3b64}table{border-collapse:collapse;font-size:.82em;margin:.6em 0}th,td{padding:.25em .6em;
border-bottom:1px solid #ddd;text-align:right}th{background:#eef2f8}td.l,th.l{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}ul.notes{background:#fff8e5;border-left:4px solid #e0b040;
padding:.5em 1.5em}.scroll{overflow-x:auto}
"""


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _cell(value: Any) -> tuple[str, bool]:
    if isinstance(value, (float, np.floating)):
        return ("–" if value != value else f"{value:.3f}"), False
    if isinstance(value, (int, np.integer)):
        return str(value), False
    return html.escape(str(value)), True


def _table(frame: pd.DataFrame, *, index: bool = False) -> str:
    if index:
        frame = frame.reset_index()
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for v in row:
            text, left = _cell(v)
            cells.append(f'<td class="l">{text}</td>' if left else f"<td>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _figure_rates(rates: pd.DataFrame, labels: Sequence[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sub = rates[rates["by"].isin(["all", "label"])]
    evaluators = list(dict.fromkeys(sub["evaluator"]))
    groups = ["all", *labels]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(groups)), 3.8))
    width = 0.8 / max(1, len(evaluators))
    for j, ev in enumerate(evaluators):
        part = sub[sub["evaluator"] == ev].set_index("group").reindex(groups)
        x = np.arange(len(groups)) + (j - (len(evaluators) - 1) / 2) * width
        rate = part["rate"].to_numpy(float)
        err = np.vstack([rate - part["ci_low"].to_numpy(float), part["ci_high"].to_numpy(float) - rate])
        ax.bar(x, rate, width, label=ev, alpha=0.85)
        ax.errorbar(x, rate, yerr=np.nan_to_num(err), fmt="none", ecolor="#333", capsize=2, lw=0.8)
    ax.set_xticks(np.arange(len(groups)), ["overall", *labels], rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("match rate (95% Wilson CI)")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(4, len(evaluators)), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _figure_confusion(table: pd.DataFrame, evaluator: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = table.to_numpy(float)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * counts.shape[1], 1.0 + 0.6 * counts.shape[0]))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.6 else "#222")
    ax.set_xticks(range(counts.shape[1]), list(table.columns), rotation=35, ha="right")
    ax.set_yticks(range(counts.shape[0]), list(table.index))
    ax.set_xlabel("mapped answer")
    ax.set_ylabel("acted label")
    ax.set_title(f"{evaluator}: counts (shade: share of the row)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _figure_calibration(curve: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], ls="--", color="#999", lw=0.8, label="perfect calibration")
    for ev, part in curve.groupby("evaluator", sort=False):
        ax.plot(part["mean_confidence"], part["accuracy"], marker="o", label=str(ev))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("stated confidence (bin mean)")
    ax.set_ylabel("share matching the label")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(out_dir: Path, *, corpus: Any, answers: pd.DataFrame, tables: dict[str, Any],
                  failures: pd.DataFrame, notes: Sequence[str], title: str) -> Path:
    """Write the CSVs, figures and report.html into ``out_dir``; returns the report's path.

    Files: answers.csv, match_rates.csv, side_by_side.csv, confusion_<evaluator>.csv, calibration.csv,
    brier.csv, answer_counts.csv, paired.csv, skipped.csv, failures.csv, and the PNG figures.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = list(corpus.labels)
    answers.to_csv(out_dir / "answers.csv", index=False)
    rates, side, brier, curve = tables["match_rates"], tables["side_by_side"], tables["brier"], tables["calibration"]
    rates.to_csv(out_dir / "match_rates.csv", index=False)
    side.to_csv(out_dir / "side_by_side.csv")
    brier.to_csv(out_dir / "brier.csv", index=False)
    curve.to_csv(out_dir / "calibration.csv", index=False)
    counts = tables["answer_counts"]
    counts.to_csv(out_dir / "answer_counts.csv", index=False)
    skipped = pd.DataFrame([(s.path, s.reason) for s in corpus.skipped], columns=["file", "reason"])
    skipped.to_csv(out_dir / "skipped.csv", index=False)
    failures.to_csv(out_dir / "failures.csv", index=False)

    parts = [f"<h1>{html.escape(title)}</h1>"]
    n_labels = pd.Series([s.metadata["label"] for s in corpus.segments]).value_counts().reindex(labels, fill_value=0)
    parts.append(f"<p>{len(corpus.segments)} files of corpus <b>{html.escape(corpus.name)}</b> "
                 f"({', '.join(f'{k} {v}' for k, v in n_labels.items())}); {len(corpus.skipped)} skipped; "
                 f"{len(failures)} failed evaluations.</p>")
    if notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("<h2>Side by side</h2><p>Accuracy (share of files whose mapped answer is the acted label), "
                 "unweighted average recall (UAR: the mean of the per-label recalls) and each label's recall.</p>")
    parts.append(_table(side, index=True))
    paired = tables["paired"]
    paired.to_csv(out_dir / "paired.csv", index=False)
    if not paired.empty:
        parts.append("<p>Pairs of evaluators on the files both answered: a_only = files only the first got right; "
                     "p_mcnemar: exact McNemar test of equal accuracy.</p>" + _table(paired))
    if not rates.empty:
        _figure_rates(rates, labels, out_dir / "match_rates.png")
        parts.append('<h2>Match rates</h2><img src="match_rates.png" alt="match rates per label">')
        for by, title_by in (("all", "Overall"), ("label", "Per acted label"), ("speaker", "Per speaker"),
                             ("sex", "Per sex")):
            sub = rates[rates["by"] == by].drop(columns="by")
            if not sub.empty:
                parts.append(f"<h3>{title_by}</h3>{_table(sub)}")
    for ev, table in tables["confusion"].items():
        name = _safe(ev)
        table.to_csv(out_dir / f"confusion_{name}.csv")
        _figure_confusion(table, ev, out_dir / f"confusion_{name}.png")
        parts.append(f"<h2>Confusion: {html.escape(ev)}</h2><p>Rows: acted label; columns: the mapped answer "
                     f"(&ldquo;{NO_MATCH}&rdquo;: the answer names none of the labels).</p>"
                     f'<img src="confusion_{name}.png" alt="confusion matrix of {html.escape(ev)}">'
                     + _table(table, index=True))
    if not brier.empty:
        parts.append("<h2>Confidence against correctness</h2><p>Brier score: mean of (confidence - correct)&sup2; "
                     "0 is perfect; always answering with confidence 0.5 scores 0.25.</p>" + _table(brier))
        if not curve.empty:
            _figure_calibration(curve, out_dir / "calibration.png")
            parts.append('<img src="calibration.png" alt="calibration curve">' + _table(curve))
    if not counts.empty:
        parts.append("<h2>How answers were mapped</h2><p>Each distinct answer, how often it was given, and the label "
                     "it was mapped to (review these; the full list is in answers.csv).</p>" + _table(counts.head(60)))
    if len(skipped):
        parts.append("<h2>Skipped files</h2>" + _table(skipped))
    if len(failures):
        parts.append("<h2>Failed evaluations</h2><p>Not counted in any rate; rerun the same command to retry.</p>"
                     + _table(failures))
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>")
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


__all__ = ["write_outputs"]
