"""``affectproxy usage STORE`` and ``Results.labels()``."""

from __future__ import annotations

from click.testing import CliRunner
from llm_scripted import Vendor, answer, request

import affectproxy as ap
from affectproxy.cli import main
from affectproxy.llm import LLMConfig, LLMLayer
from affectproxy.results import Results
from affectproxy.store import Store


def test_usage_command(vendor: Vendor, tmp_path) -> None:
    path = tmp_path / "study.db"
    store = Store(path)
    vendor.behaviour = lambda req, n: answer('{"valence": 0.1,' if n == 0 else '{"valence": 0.1}')
    with LLMLayer(store, config=LLMConfig.from_mapping({"scripted": {"jitter": False}})) as lay:
        lay.run([request("a")], evaluator="rater")
        lay.run([request("a")], evaluator="rater")  # a cache hit
        lay.run([request("b", model="unpriced")], evaluator="other")
    store.close()
    result = CliRunner().invoke(main, ["usage", str(path), "-o", str(tmp_path / "u.csv")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "rater" in out and "other" in out and "in_audio" in out
    # 3 paid responses: an invalid one, its repair, one unpriced; 1 cache hit
    assert "3 paid calls" in out and "1 cache hits" in out
    assert "audio 960" in out and "unknown for 1 calls" in out
    # priced part: two attempts of (320 audio * $2 + 100 text * $0.5 + 20 out * $4) per 1M tokens
    assert f"${2 * (320 * 2 + 100 * 0.5 + 20 * 4) / 1e6:.4f}" in out
    assert (tmp_path / "u.csv").exists()


def test_usage_command_without_calls(tmp_path) -> None:
    Store(tmp_path / "s.db").close()
    result = CliRunner().invoke(main, ["usage", str(tmp_path / "s.db")])
    assert result.exit_code == 0 and "No LLM calls" in result.output


def test_results_labels_is_tidy_and_ordered() -> None:
    rec = ap.Recording("r")
    segs = [ap.Segment("s2", rec, 0, 1), ap.Segment("s1", rec, 1, 2)]
    est = [
        ap.EmotionEstimate("s1", "gemini", {"valence": 0.1}, labels={"emotion": "weary", "rhetoric": "appeal"}),
        ap.EmotionEstimate("s2", "gemini", {"valence": 0.2}, labels={"emotion": "angry"}),
        ap.EmotionEstimate("s2", "e2v", {"valence": 0.2}),
    ]
    frame = Results(segs, [], est, []).labels()
    assert list(frame.columns) == ["segment_id", "evaluator", "field", "label"]
    assert frame.values.tolist() == [["s2", "gemini", "emotion", "angry"], ["s1", "gemini", "emotion", "weary"],
                                     ["s1", "gemini", "rhetoric", "appeal"]]
    assert Results(segs, [], [], []).labels().empty
