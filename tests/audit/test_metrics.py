"""Audit statistics against independent implementations (statsmodels, scikit-learn)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, confusion_matrix, recall_score
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from affectproxy.audit.mapping import NO_MATCH
from affectproxy.audit.metrics import (
    brier_scores,
    calibration,
    confusion,
    match_rates,
    paired_tests,
    recall_table,
    wilson_interval,
)

LABELS = ["anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"]


@pytest.mark.parametrize(("k", "n"), [(0, 5), (5, 5), (3, 10), (161, 535), (1, 1), (40, 81)])
@pytest.mark.parametrize("level", [0.95, 0.9])
def test_wilson_matches_statsmodels(k: int, n: int, level: float) -> None:
    low, high = proportion_confint(k, n, alpha=1 - level, method="wilson")
    assert wilson_interval(k, n, level) == pytest.approx((low, high), abs=1e-12)


def test_wilson_empty() -> None:
    assert all(np.isnan(wilson_interval(0, 0)))


@pytest.fixture
def answers() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 300
    label = rng.choice(LABELS, n)
    # right about half the time, else a random label or no match
    wrong = rng.choice([*LABELS, NO_MATCH], n)
    mapped = np.where(rng.random(n) < 0.45, label, wrong)
    conf = np.round(rng.uniform(0.05, 0.99, n), 3)
    ev = np.where(np.arange(n) < 200, "a", "b")
    frame = pd.DataFrame({"evaluator": ev, "label": label, "mapped": mapped, "confidence": conf,
                          "speaker": rng.choice(["03", "08", "10"], n), "sex": rng.choice(["m", "f"], n)})
    frame["correct"] = frame["label"] == frame["mapped"]
    return frame


def test_match_rates_use_wilson_per_group(answers: pd.DataFrame) -> None:
    rates = match_rates(answers, labels=LABELS).set_index(["evaluator", "by", "group"])
    sub = answers[(answers["evaluator"] == "a") & (answers["sex"] == "f")]
    row = rates.loc[("a", "sex", "f")]
    assert (row["n"], row["matches"]) == (len(sub), sub["correct"].sum())
    low, high = proportion_confint(sub["correct"].sum(), len(sub), method="wilson")
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert [g for (e, b, g) in rates.index if e == "a" and b == "label"] == LABELS
    assert rates.loc[("b", "all", "all"), "n"] == 100


def test_confusion_matches_sklearn(answers: pd.DataFrame) -> None:
    sub = answers[answers["evaluator"] == "a"]
    ours = confusion(answers, "a", LABELS)
    theirs = confusion_matrix(sub["label"], sub["mapped"], labels=[*LABELS, NO_MATCH])[: len(LABELS)]
    assert ours.to_numpy().tolist() == theirs.tolist()
    assert list(ours.columns) == [*LABELS, NO_MATCH]


def test_recall_table_matches_sklearn(answers: pd.DataFrame) -> None:
    table = recall_table(answers, LABELS)
    for ev in ["a", "b"]:
        sub = answers[answers["evaluator"] == ev]
        present = [lab for lab in LABELS if (sub["label"] == lab).any()]
        uar = recall_score(sub["label"], sub["mapped"], labels=present, average="macro", zero_division=0)
        per = recall_score(sub["label"], sub["mapped"], labels=present, average=None, zero_division=0)
        assert table.loc["UAR", ev] == pytest.approx(uar)
        assert [table.loc[f"recall:{lab}", ev] for lab in present] == pytest.approx(list(per))
        assert table.loc["accuracy", ev] == pytest.approx(sub["correct"].mean())


def test_brier_and_calibration_match_sklearn(answers: pd.DataFrame) -> None:
    sub = answers[answers["evaluator"] == "a"]
    brier = brier_scores(answers).set_index("evaluator")
    assert brier.loc["a", "brier"] == pytest.approx(brier_score_loss(sub["correct"], sub["confidence"]))
    curve = calibration(answers, bins=10)
    curve = curve[curve["evaluator"] == "a"]
    prob_true, prob_pred = calibration_curve(sub["correct"], sub["confidence"], n_bins=10, strategy="uniform")
    assert curve["accuracy"].tolist() == pytest.approx(list(prob_true))
    assert curve["mean_confidence"].tolist() == pytest.approx(list(prob_pred))
    assert curve["n"].sum() == len(sub)


def test_calibration_bin_edges_follow_sklearn() -> None:
    frame = pd.DataFrame({"evaluator": "a", "confidence": [0.0, 0.1, 0.2, 0.9, 1.0], "correct": [0, 1, 0, 1, 1]})
    curve = calibration(frame, bins=10)
    prob_true, prob_pred = calibration_curve(frame["correct"], frame["confidence"], n_bins=10, strategy="uniform")
    assert curve["accuracy"].tolist() == pytest.approx(list(prob_true))
    assert curve["mean_confidence"].tolist() == pytest.approx(list(prob_pred))


def test_paired_mcnemar_matches_statsmodels(answers: pd.DataFrame) -> None:
    # the same 100 files rated by "a" and "b" (b: the first 100 files of a's, re-rated)
    both = answers[answers["evaluator"] == "a"].head(100).copy()
    rng = np.random.default_rng(3)
    b = both.copy()
    b["evaluator"] = "b"
    b["correct"] = np.where(rng.random(100) < 0.3, ~b["correct"], b["correct"])
    frame = pd.concat([both.assign(segment_id=range(100)), b.assign(segment_id=range(100)),
                       answers[answers["evaluator"] == "a"].iloc[100:].assign(segment_id=range(100, 200))])
    row = paired_tests(frame).iloc[0]
    ra, rb = both["correct"].to_numpy(), b["correct"].to_numpy()
    table = [[(ra & rb).sum(), (ra & ~rb).sum()], [(~ra & rb).sum(), (~ra & ~rb).sum()]]
    assert (row["n"], row["both_right"], row["a_only"], row["b_only"]) == (100, table[0][0], table[0][1],
                                                                           table[1][0])
    assert row["p_mcnemar"] == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert row["difference"] == pytest.approx(ra.mean() - rb.mean())
