"""The audit end to end on a synthetic EMO-DB corpus with planned answers: exact tables, resume, outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import affectproxy as ap
from affectproxy.corpus import EMODB_LABELS

from .conftest import installed_raters, make_emodb, plans

LABELS = list(EMODB_LABELS)


def _run(emodb_dir: Path, out: Path, cat_plan: dict, word_plan: dict, **kw: Any) -> Any:
    evs = [{"type": "fixedcat", "plan": cat_plan}, {"type": "fixedword", "plan": word_plan, **kw}]
    with pytest.warns(UserWarning, match="skipped 2 file"):
        return ap.audit(emodb_dir, evs, out, progress=False)


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One audit of the synthetic corpus by both test raters, shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("audit")
    with installed_raters(root / "site"):
        return _run(make_emodb(root / "emodb"), root / "out", *plans())


def test_exact_tables(audited: Any) -> None:
    res = audited
    rates = res.match_rates.set_index(["evaluator", "by", "group"])
    # planned: categorical 7/14 right, open 10/14 (see conftest.PLAN)
    assert rates.loc[("fixedcat", "all", "all"), ["n", "matches"]].tolist() == [14, 7]
    assert rates.loc[("fixedword", "all", "all"), ["n", "matches"]].tolist() == [14, 10]
    per_label_cat = [rates.loc[("fixedcat", "label", lab), "matches"] for lab in LABELS]
    per_label_word = [rates.loc[("fixedword", "label", lab), "matches"] for lab in LABELS]
    assert per_label_cat == [1, 0, 1, 1, 1, 2, 1]
    assert per_label_word == [2, 1, 1, 1, 1, 2, 2]
    assert {g: rates.loc[("fixedcat", "speaker", g), "matches"] for g in ["03", "08", "09", "10"]} == {
        "03": 4, "08": 0, "09": 1, "10": 2}
    assert {g: rates.loc[("fixedword", "speaker", g), "matches"] for g in ["03", "08", "09", "10"]} == {
        "03": 3, "08": 3, "09": 1, "10": 3}
    assert rates.loc[("fixedcat", "sex", "m"), ["n", "matches"]].tolist() == [7, 6]
    assert rates.loc[("fixedcat", "sex", "f"), ["n", "matches"]].tolist() == [7, 1]
    assert rates.loc[("fixedword", "sex", "f"), ["n", "matches"]].tolist() == [7, 4]
    assert rates.loc[("fixedword", "all", "all"), "rate"] == pytest.approx(10 / 14)

    nm = "no match"
    expected_cat = pd.DataFrame(0, index=LABELS, columns=[*LABELS, nm])
    for lab, got in [("anger", "anger"), ("anger", "sadness"), ("boredom", "neutral"), ("boredom", "sadness"),
                     ("disgust", "disgust"), ("disgust", "anger"), ("fear", "fear"), ("fear", nm),
                     ("happiness", "happiness"), ("happiness", nm), ("neutral", "neutral"), ("neutral", "neutral"),
                     ("sadness", "sadness"), ("sadness", "neutral")]:
        expected_cat.loc[lab, got] += 1
    assert res.confusion["fixedcat"].to_numpy().tolist() == expected_cat.to_numpy().tolist()
    assert list(res.confusion["fixedcat"].columns) == [*LABELS, nm]
    expected_word = pd.DataFrame(0, index=LABELS, columns=[*LABELS, nm])
    for lab, got in [("anger", "anger"), ("anger", "anger"), ("boredom", "boredom"), ("boredom", "neutral"),
                     ("disgust", nm), ("disgust", "disgust"), ("fear", "fear"), ("fear", "happiness"),
                     ("happiness", "happiness"), ("happiness", nm), ("neutral", "neutral"), ("neutral", "neutral"),
                     ("sadness", "sadness"), ("sadness", "sadness")]:
        expected_word.loc[lab, got] += 1
    assert res.confusion["fixedword"].to_numpy().tolist() == expected_word.to_numpy().tolist()

    side = res.side_by_side
    assert side.loc["accuracy", "fixedcat"] == pytest.approx(0.5)
    assert side.loc["UAR", "fixedcat"] == pytest.approx(3.5 / 7)
    assert side.loc["UAR", "fixedword"] == pytest.approx(5 / 7)
    assert side.loc["recall:boredom", "fixedcat"] == 0.0
    assert side.loc["recall:neutral", "fixedcat"] == 1.0

    brier = res.brier.set_index("evaluator")
    assert brier.loc["fixedword", "brier"] == pytest.approx(2.435 / 14)  # sum of (conf - correct)^2 by hand
    assert brier.loc["fixedcat", "mean_confidence"] == pytest.approx(0.6)  # the top class's probability
    # files both right: 03a01Wa, 10b02Aa, 03b09Fa, 10a01Na, 09a02Na, 03a04Ta; only fixedcat: 03a05Ea;
    # only fixedword: 08a02Wb, 10a04La, 08a07Ea, 08a05Tb
    pair = res.paired.iloc[0]
    assert pair[["evaluator_a", "evaluator_b", "n", "both_right", "a_only", "b_only", "both_wrong"]].tolist() == [
        "fixedcat", "fixedword", 14, 6, 1, 4, 3]
    assert pair["p_mcnemar"] == pytest.approx(0.375)  # 2 * P(X <= 1), X ~ Binomial(5, 1/2) = 2 * 6/32
    assert any("fine-tuning data" in n for n in res.notes)
    assert any("No class maps to boredom" in n for n in res.notes)


def test_output_folder(audited: Any) -> None:
    res = audited
    out = res.report.parent
    for name in ["audit.sqlite", "report.html", "answers.csv", "match_rates.csv", "side_by_side.csv",
                 "confusion_fixedcat.csv", "confusion_fixedword.csv", "calibration.csv", "brier.csv", "skipped.csv",
                 "match_rates.png", "confusion_fixedword.png", "calibration.png", "answer_counts.csv"]:
        assert (out / name).is_file(), name
    answers = pd.read_csv(out / "answers.csv", dtype={"speaker": str})
    assert len(answers) == 28
    row = answers[(answers["file"] == "08a07Ea.wav") & (answers["evaluator"] == "fixedword")].iloc[0]
    assert (row["label"], row["answer"], row["mapped"], row["confidence"], row["mapped_by"]) == (
        "disgust", "Verachtung", "disgust", 0.4, "synonym")
    assert {"file", "label", "answer", "mapped", "confidence", "rationale"} <= set(answers.columns)
    skipped = pd.read_csv(out / "skipped.csv")
    assert sorted(Path(p).name for p in skipped["file"]) == ["99a01Fa.wav", "readme.wav"]
    assert skipped["reason"].str.contains("speaker 99").any()
    page = (out / "report.html").read_text()
    assert "fine-tuning data" in page and "confusion_fixedcat.png" in page and "readme.wav" in page
    assert res.report.name == "report.html"


def test_resume_pays_nothing_twice(tmp_path: Path, emodb_dir: Path, raters: None, cat_plan: dict,
                                   word_plan: dict) -> None:
    out, log = tmp_path / "out", tmp_path / "calls.log"
    first = _run(emodb_dir, out, cat_plan, word_plan, log=str(log))
    assert len(log.read_text().split()) == 14
    again = _run(emodb_dir, out, cat_plan, word_plan, log=str(log))
    assert len(log.read_text().split()) == 14  # all 14 answers came from out/audit.sqlite
    pd.testing.assert_frame_equal(first.answers, again.answers)


def test_package_stays_callable(run_python: Any) -> None:
    # importing a submodule first binds affectproxy.audit to the package; calling it still runs the audit
    proc = run_python("""
        import affectproxy.audit.metrics
        import affectproxy as ap
        from affectproxy.corpus import CorpusError
        try:
            ap.audit("/nonexistent-corpus", ["x"], "/tmp/never")
        except CorpusError as exc:
            print("raised:", exc)
    """)
    assert "raised: EMO-DB folder '/nonexistent-corpus' does not exist" in proc.stdout


def test_transcripts_change_means_a_new_folder(tmp_path: Path, raters: None) -> None:
    from affectproxy.corpus import load_labelled_csv
    from affectproxy.errors import StoreError

    from .conftest import write_tone

    write_tone(tmp_path / "a.wav", 0.4)
    pd.DataFrame({"file": ["a.wav"], "label": ["anger"], "speaker": ["s"], "text": ["Raus!"]}).to_csv(
        tmp_path / "c.csv", index=False)
    corpus = load_labelled_csv(tmp_path / "c.csv", labels=LABELS)
    ev = [{"type": "fixedword", "plan": {"a.wav": ["wütend", 0.9]}}]
    plain = ap.audit(corpus, ev, tmp_path / "out", progress=False)
    assert plain.answers["rationale"].tolist() == ["text=''"]
    with pytest.raises(StoreError, match="other text"):
        ap.audit(corpus, ev, tmp_path / "out", progress=False, with_text=True)
    assert ap.audit(corpus, ev, tmp_path / "out2", progress=False, with_text=True).answers["rationale"].tolist() == [
        "text='Raus!'"]


def test_failed_files_are_listed_not_counted(tmp_path: Path, emodb_dir: Path, raters: None,
                                             word_plan: dict) -> None:
    plan = {k: v for k, v in word_plan.items() if k != "08b10Fa"}  # the rater has no answer for this file
    with pytest.warns(UserWarning, match="skipped 2"), pytest.warns(RuntimeWarning, match="1 of 14 segments failed"):
        res = ap.audit(emodb_dir, [{"type": "fixedword", "plan": plan}], tmp_path / "out", progress=False)
    overall = res.match_rates.set_index(["by", "group"]).loc[("all", "all")]
    assert (overall["n"], overall["matches"]) == (13, 10)
    failures = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert failures["segment_id"].tolist() == ["08b10Fa"]
    assert "Failed evaluations" in res.report.read_text()
