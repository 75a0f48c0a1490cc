"""The Gemini path of an audit: the real gemini evaluator (audit prompt) and the real google-genai client against
the local Gemini server (affectproxy_gemini.testing), answering from the plan; then the LLM judge."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import affectproxy as ap
from affectproxy.audit.judge import JUDGE_SYSTEM, LLMJudge
from affectproxy.corpus import EMODB_LABELS, Corpus, load_emodb
from affectproxy_gemini.testing import FakeGemini, GenerateCall, fake_key

from .conftest import PLAN, make_emodb

DURATION = {round(0.5 + 0.05 * i, 2): stem for i, stem in enumerate(PLAN)}  # each planned file's length
JUDGE = {"surprise": "no match", "determination": "happiness"}


def _answer(call: GenerateCall) -> dict[str, Any]:
    if call.system.strip() == JUDGE_SYSTEM.strip():
        word = call.text.split("<answer>")[1].split("</answer>")[0]
        return {"label": JUDGE[word], "reason": "test"}
    stem = DURATION[round(call.audio[0].seconds, 2)]
    _, word, conf = PLAN[stem]
    return {"emotion": word, "confidence": conf, "rationale": f"{stem} sounds {word}"}


@pytest.fixture
def gemini_llm(monkeypatch: pytest.MonkeyPatch) -> Any:
    for var in ("GOOGLE_GENAI_USE_VERTEXAI", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    key = fake_key()
    monkeypatch.setenv("GEMINI_API_KEY", key)
    with FakeGemini(_answer, api_key=key) as server:
        yield server, {"gemini": {"base_url": server.url, "jitter": False, "max_retries": 0}}


def test_gemini_audit_then_judge(tmp_path: Path, emodb_dir: Path, gemini_llm: Any) -> None:
    server, llm = gemini_llm
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="skipped 2 file"):
        res = ap.audit(emodb_dir, ["gemini"], out, llm=llm, progress=False)
    calls = list(server.generate_calls)
    assert len(calls) == 14
    for call in calls:  # audio only, and the label set is never shown
        assert len(call.audio) == 1 and "<transcript>" not in call.text
        shown = (call.system + call.text).lower()
        assert not [lab for lab in EMODB_LABELS if lab in shown], shown
    rates = res.match_rates.set_index(["evaluator", "by", "group"])
    assert rates.loc[("gemini", "all", "all"), ["n", "matches"]].tolist() == [14, 10]
    assert [rates.loc[("gemini", "label", lab), "matches"] for lab in EMODB_LABELS] == [2, 1, 1, 1, 1, 2, 2]
    conf = res.confusion["gemini"]
    assert conf.loc["disgust", "no match"] == 1 and conf.loc["fear", "happiness"] == 1
    answers = pd.read_csv(out / "answers.csv").set_index("file")
    assert answers.loc["09b03Ab.wav", ["answer", "mapped", "confidence", "rationale"]].tolist() == [
        "excitement", "happiness", 0.85, "09b03Ab sounds excitement"]
    assert res.brier.set_index("evaluator").loc["gemini", "brier"] == pytest.approx(2.435 / 14)

    server.reset()
    with pytest.warns(UserWarning, match="skipped 2 file"):
        judged = ap.audit(emodb_dir, ["gemini"], out, llm=llm, progress=False, judge=LLMJudge("gemini"))
    judge_calls = list(server.generate_calls)
    assert len(judge_calls) == 2  # the 14 ratings came from the store; only the two unmatched answers were judged
    assert sorted(c.text.split("<answer>")[1].split("</answer>")[0] for c in judge_calls) == sorted(JUDGE)
    rates = judged.match_rates.set_index(["evaluator", "by", "group"])
    assert rates.loc[("gemini", "all", "all"), "matches"] == 11
    row = judged.answers.set_index("file").loc["08b10Fa.wav"]
    assert (row["mapped"], row["mapped_by"]) == ("happiness", "judge")

    server.reset()
    with pytest.warns(UserWarning, match="skipped 2 file"):
        ap.audit(emodb_dir, ["gemini"], out, llm=llm, progress=False, judge=LLMJudge("gemini"))
    assert server.generate_calls == []  # the judge's answers are cached in out/audit.sqlite too


def test_with_text_sends_the_transcript(tmp_path: Path, gemini_llm: Any) -> None:
    server, llm = gemini_llm
    folder = make_emodb(tmp_path / "emodb")
    with pytest.warns(UserWarning):
        corpus = load_emodb(folder, texts={"a01": "Der Lappen liegt auf dem Eisschrank."})
    small = Corpus("emodb", [s for s in corpus.segments if s.text], corpus.labels)  # the two a01 files
    ap.audit(small, ["gemini"], tmp_path / "out", llm=llm, progress=False, with_text=True)
    assert len(server.generate_calls) == 2
    assert all("<transcript>\nDer Lappen liegt auf dem Eisschrank.\n</transcript>" in c.text
               for c in server.generate_calls)


def test_command_line_with_llm_settings(tmp_path: Path, emodb_dir: Path, gemini_llm: Any) -> None:
    from click.testing import CliRunner

    from affectproxy.cli import main

    server, llm = gemini_llm
    key = os.environ["GEMINI_API_KEY"]
    result = CliRunner().invoke(main, [
        "audit", str(emodb_dir), "-e", "gemini", "-o", str(tmp_path / "out"), "--no-progress",
        "--llm", f"gemini:base_url={llm['gemini']['base_url']},max_retries=0", "--llm", "gemini:max_in_flight=2",
    ])
    assert result.exit_code == 0, result.output
    assert len(server.generate_calls) == 14
    assert key not in result.output
    for path in (tmp_path / "out").iterdir():  # the store, the CSVs, the report: no key anywhere
        assert key.encode() not in path.read_bytes(), path.name
    side = pd.read_csv(tmp_path / "out" / "side_by_side.csv", index_col=0)
    assert side.loc["accuracy", "gemini"] == pytest.approx(10 / 14)
