"""Audit statistics over an answers table: match rates with Wilson intervals, confusion, calibration, recall.

Every function takes the answers table (:func:`affectproxy.audit.answers.answers_frame`: one row per file and
evaluator, with ``label``, ``mapped``, ``correct`` and ``confidence``) and returns a tidy DataFrame. Files an
evaluator failed on have no row: rates are over the files it answered (``n``), and the report lists failures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

from affectproxy.audit.mapping import NO_MATCH

MATCH_COLUMNS = ["evaluator", "by", "group", "n", "matches", "rate", "ci_low", "ci_high"]


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion k/n (Wilson 1927); (nan, nan) when n is 0.

    Examples:
        >>> [round(x, 4) for x in wilson_interval(3, 10)]
        [0.1078, 0.6032]
    """
    if n <= 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _rows(frame: pd.DataFrame, by: str, order: Sequence[str] | None, level: float) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for evaluator, sub in frame.groupby("evaluator", sort=False):
        if by == "all":
            groups = [("all", sub)]
        else:
            present = [g for g in sub[by].dropna().unique()]
            keys = [g for g in order if g in set(present)] if order is not None else sorted(present, key=str)
            groups = [(g, sub[sub[by] == g]) for g in keys]
        for group, part in groups:
            n, k = len(part), int(part["correct"].sum())
            low, high = wilson_interval(k, n, level)
            rows.append({"evaluator": evaluator, "by": by, "group": str(group), "n": n, "matches": k,
                         "rate": k / n if n else math.nan, "ci_low": low, "ci_high": high})
    return rows


def match_rates(answers: pd.DataFrame, *, labels: Sequence[str] | None = None,
                by: Sequence[str] = ("all", "label", "speaker", "sex"), level: float = 0.95) -> pd.DataFrame:
    """How often each evaluator's mapped answer matches the label: overall and per label, speaker and sex.

    Args:
        answers: the answers table.
        labels: the corpus's label order for the per-label rows (default: sorted).
        by: which breakdowns: ``"all"`` and any column of ``answers``.
        level: the intervals' coverage.

    Returns:
        DataFrame with columns evaluator, by, group, n, matches, rate, ci_low, ci_high (Wilson score interval).
    """
    rows: list[dict[str, object]] = []
    for key in by:
        if key != "all" and key not in answers.columns:
            continue
        rows += _rows(answers, key, labels if key == "label" else None, level)
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


def confusion(answers: pd.DataFrame, evaluator: str, labels: Sequence[str]) -> pd.DataFrame:
    """Counts of label (rows) x mapped answer (columns, with a ``"no match"`` column) for one evaluator.

    Returns:
        DataFrame indexed by label (every corpus label, in order), columns the labels then ``"no match"``.
    """
    sub = answers[answers["evaluator"] == evaluator]
    cols = [*labels, NO_MATCH]
    table = pd.crosstab(pd.Categorical(sub["label"], categories=list(labels)),
                        pd.Categorical(sub["mapped"], categories=cols), dropna=False)
    table = table.reindex(index=list(labels), columns=cols, fill_value=0).astype(int)
    table.index.name, table.columns.name = "label", "mapped"
    return table


def recall_table(answers: pd.DataFrame, labels: Sequence[str], level: float = 0.95) -> pd.DataFrame:
    """Per evaluator: accuracy, unweighted average recall (UAR) and each label's recall, side by side.

    UAR is the mean of the per-label recalls over the labels that occur in the answered files; a label the
    evaluator cannot name (emotion2vec has no boredom class) counts with recall 0.

    Returns:
        DataFrame indexed by row (``accuracy``, ``UAR``, ``n``, then ``recall:<label>`` per label), one column per
        evaluator.
    """
    out: dict[str, dict[str, float]] = {}
    for evaluator, sub in answers.groupby("evaluator", sort=False):
        col: dict[str, float] = {"n": float(len(sub)), "accuracy": float(sub["correct"].mean())}
        recalls = []
        for label in labels:
            part = sub[sub["label"] == label]
            r = float(part["correct"].mean()) if len(part) else math.nan
            col[f"recall:{label}"] = r
            if len(part):
                recalls.append(r)
        col["UAR"] = float(np.mean(recalls)) if recalls else math.nan
        out[str(evaluator)] = col
    order = ["n", "accuracy", "UAR", *[f"recall:{label}" for label in labels]]
    frame = pd.DataFrame(out).reindex(order)
    frame.index.name = "metric"
    return frame


def brier_scores(answers: pd.DataFrame) -> pd.DataFrame:
    """Per evaluator: mean stated confidence, accuracy and Brier score ``mean((confidence - correct)^2)`` over
    the answers that carry a confidence.

    Returns:
        DataFrame with columns evaluator, n, mean_confidence, accuracy, brier.
    """
    rows = []
    for evaluator, sub in answers.groupby("evaluator", sort=False):
        sub = sub[sub["confidence"].notna()]
        if sub.empty:
            continue
        conf, hit = sub["confidence"].to_numpy(float), sub["correct"].to_numpy(float)
        rows.append({"evaluator": evaluator, "n": len(sub), "mean_confidence": float(conf.mean()),
                     "accuracy": float(hit.mean()), "brier": float(np.mean((conf - hit) ** 2))})
    return pd.DataFrame(rows, columns=["evaluator", "n", "mean_confidence", "accuracy", "brier"])


def calibration(answers: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Reliability curve per evaluator: confidence binned into ``bins`` equal-width bins on [0, 1] (each bin
    ``(low, high]``, the first ``[0, high]``), with the mean confidence and the share correct in each.

    Returns:
        DataFrame with columns evaluator, bin_low, bin_high, n, mean_confidence, accuracy (non-empty bins only).
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for evaluator, sub in answers.groupby("evaluator", sort=False):
        sub = sub[sub["confidence"].notna()]
        conf, hit = sub["confidence"].to_numpy(float), sub["correct"].to_numpy(float)
        idx = np.clip(np.searchsorted(edges[1:-1], conf, side="left"), 0, bins - 1)
        for b in range(bins):
            sel = idx == b
            if sel.any():
                rows.append({"evaluator": evaluator, "bin_low": edges[b], "bin_high": edges[b + 1],
                             "n": int(sel.sum()), "mean_confidence": float(conf[sel].mean()),
                             "accuracy": float(hit[sel].mean())})
    return pd.DataFrame(rows, columns=["evaluator", "bin_low", "bin_high", "n", "mean_confidence", "accuracy"])


def paired_tests(answers: pd.DataFrame) -> pd.DataFrame:
    """Each pair of evaluators on the files both answered: who is right where the other is wrong, and the exact
    McNemar test (a two-sided binomial test of the discordant files against 1/2) of equal accuracy.

    Returns:
        DataFrame with columns evaluator_a, evaluator_b, n (files both answered), both_right, a_only, b_only,
        both_wrong, accuracy_a, accuracy_b, difference (a - b), p_mcnemar.
    """
    from scipy.stats import binomtest

    cols = ["evaluator_a", "evaluator_b", "n", "both_right", "a_only", "b_only", "both_wrong", "accuracy_a",
            "accuracy_b", "difference", "p_mcnemar"]
    wide = answers.pivot_table(index="segment_id", columns="evaluator", values="correct", aggfunc="first",
                               sort=False)
    names = list(dict.fromkeys(answers["evaluator"]))
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pair = wide[[a, b]].dropna().astype(bool)
            ra, rb = pair[a].to_numpy(), pair[b].to_numpy()
            a_only, b_only = int((ra & ~rb).sum()), int((~ra & rb).sum())
            disc = a_only + b_only
            p = float(binomtest(a_only, disc, 0.5).pvalue) if disc else 1.0
            n = len(pair)
            acc_a, acc_b = (float(ra.mean()), float(rb.mean())) if n else (math.nan, math.nan)
            rows.append([a, b, n, int((ra & rb).sum()), a_only, b_only, int((~ra & ~rb).sum()), acc_a, acc_b,
                         acc_a - acc_b, p])
    return pd.DataFrame(rows, columns=cols)


__all__ = ["MATCH_COLUMNS", "brier_scores", "calibration", "confusion", "match_rates", "paired_tests",
           "recall_table", "wilson_interval"]
