"""``affectproxy audit`` on the command line: EMO-DB folder and CSV corpora, repeatable evaluators, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from affectproxy.cli import main

from .conftest import write_tone


def test_audit_command(tmp_path: Path, emodb_dir: Path, raters: None, cat_plan: dict, word_plan: dict) -> None:
    (tmp_path / "cat.json").write_text(json.dumps(cat_plan))
    (tmp_path / "word.json").write_text(json.dumps(word_plan))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "audit", str(emodb_dir), "--corpus", "emodb", "-o", str(out), "--no-progress",
        "--evaluator", f"fixedcat:plan_file={tmp_path / 'cat.json'}",
        "--evaluator", f"fixedword:plan_file={tmp_path / 'word.json'},name=words",
    ])
    assert result.exit_code == 0, result.output
    assert "14 files (2 skipped" in result.output
    assert "Report:" in result.output and (out / "report.html").is_file()
    side = pd.read_csv(out / "side_by_side.csv", index_col=0)
    assert list(side.columns) == ["fixedcat", "words"]
    assert side.loc["accuracy", "words"] == 10 / 14
    assert "fine-tuning data" in result.output  # the EMO-DB note


def test_audit_command_csv_with_text(tmp_path: Path, raters: None) -> None:
    (tmp_path / "a").mkdir()
    rows = [("a/1.wav", "calm", "s1", "Guten Morgen"), ("a/2.wav", "angry", "s2", "Raus hier")]
    for file, *_ in rows:
        write_tone(tmp_path / file, 0.4)
    pd.DataFrame(rows, columns=["file", "label", "speaker", "text"]).to_csv(tmp_path / "corpus.csv", index=False)
    (tmp_path / "plan.json").write_text(json.dumps({"a/1.wav": ["ruhig", 0.8], "a/2.wav": ["wütend", 0.9]}))
    ev = f"fixedword:plan_file={tmp_path / 'plan.json'}"
    (tmp_path / "syn.json").write_text(json.dumps({"calm": ["ruhig"], "angry": ["wütend", "zornig"]}))
    runner = CliRunner()
    for flag, out in (([], "plain"), (["--with-text", "--synonyms", str(tmp_path / "syn.json")], "text")):
        result = runner.invoke(main, ["audit", str(tmp_path / "corpus.csv"), "--corpus", "csv", "-e", ev, "-o",
                                      str(tmp_path / out), "--labels", "angry,calm,sad", "--no-progress", *flag])
        assert result.exit_code == 0, result.output
    plain = pd.read_csv(tmp_path / "plain" / "answers.csv")
    assert plain["rationale"].tolist() == ["text=''", "text=''"]  # audio only unless --with-text
    text = pd.read_csv(tmp_path / "text" / "answers.csv")
    assert text["rationale"].tolist() == ["text='Guten Morgen'", "text='Raus hier'"]
    # this corpus's labels are not EMO-DB's: the default table matches only the label names themselves
    assert plain["mapped"].tolist() == ["no match", "no match"]
    assert text["mapped"].tolist() == ["calm", "angry"]


def test_audit_command_errors(tmp_path: Path, emodb_dir: Path) -> None:
    result = CliRunner().invoke(main, ["audit", str(emodb_dir), "-e", "nosuchrater", "-o", str(tmp_path / "o"),
                                       "--no-progress"])
    assert result.exit_code == 1
    assert "Unknown evaluator 'nosuchrater'" in result.output
    result = CliRunner().invoke(main, ["audit", str(emodb_dir), "-e", "x:model", "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "needs key=value" in result.output
