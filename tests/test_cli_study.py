"""The command line and study files, run as a user runs them (click's runner and real files)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import affectproxy as ap
from affectproxy.cli import main
from affectproxy.study import load_study


def _study(tmp_path: Path, speech_wav: Path) -> Path:
    (tmp_path / "segments.csv").write_text(
        "id,start,end,text,speaker\n" + "".join(f"s{i},{i},{i + 1},Satz {i},A\n" for i in range(6)))
    (tmp_path / "human.csv").write_text("segment_id,arousal\n" + "".join(
        f"s{i},{(i - 2.5) / 3:.3f}\n" for i in range(6)))
    path = tmp_path / "study.toml"
    path.write_text(f"""
[study]
name = "cli"
segments = "segments.csv"
audio = "{speech_wav.name}"
store = "out/study.sqlite"

[[evaluators]]
type = "loudness"

[[evaluators]]
type = "table"
name = "human"
path = "human.csv"
columns = ["arousal"]
""")
    return path


def test_study_paths_resolve_against_the_file(tmp_path: Path, speech_wav: Path) -> None:
    study = load_study(_study(tmp_path, speech_wav))
    assert study.segments == tmp_path / "segments.csv" and study.audio == speech_wav
    assert study.store == tmp_path / "out" / "study.sqlite"
    assert study.evaluators[1] == {"type": "table", "name": "human", "path": str(tmp_path / "human.csv"),
                                   "columns": ["arousal"]}


def test_bad_study_files(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text("[study\n")
    with pytest.raises(ap.StudyError, match="not valid TOML"):
        load_study(tmp_path / "a.toml")
    (tmp_path / "b.toml").write_text('[study]\nsegments = "s.csv"\n')
    with pytest.raises(ap.StudyError, match=r"at least one \[\[evaluators\]\]"):
        load_study(tmp_path / "b.toml")
    (tmp_path / "c.toml").write_text('[study]\nsegments = "s.csv"\n[[evaluators]]\nname = "x"\n')
    with pytest.raises(ap.StudyError, match="evaluator #1 has no 'type'"):
        load_study(tmp_path / "c.toml")
    with pytest.raises(ap.StudyError, match="No study file"):
        load_study(tmp_path / "none.toml")


def test_run_export_compare_report(tmp_path: Path, speech_wav: Path) -> None:
    runner = CliRunner()
    study = _study(tmp_path, speech_wav)
    out = runner.invoke(main, ["run", str(study), "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "loudness: 6 new, 0 already done, 0 failed" in out.output
    assert "human: 6 new, 0 already done, 0 failed" in out.output
    store = tmp_path / "out" / "study.sqlite"

    out = runner.invoke(main, ["export", str(store), "-o", str(tmp_path / "tidy.csv")])
    assert out.exit_code == 0, out.output
    tidy = pd.read_csv(tmp_path / "tidy.csv")
    assert set(tidy["evaluator"]) == {"loudness", "human"} and len(tidy) == 6 * 3
    runner.invoke(main, ["export", str(store), "-o", str(tmp_path / "wide.parquet"), "--wide"])
    wide = pd.read_parquet(tmp_path / "wide.parquet")
    assert list(wide.columns) == ["segment_id", "loudness.arousal", "loudness.level_db", "human.arousal"]

    out = runner.invoke(main, ["compare", str(store), "--target", "human/arousal", "-o", str(tmp_path / "c.csv")])
    assert out.exit_code == 0, out.output
    table = pd.read_csv(tmp_path / "c.csv")
    assert len(table) == 2 and set(table["y_evaluator"]) == {"human"}
    # the tone gets louder every second and so does the human rating: a perfect rank correlation
    row = table[table["x_dimension"] == "arousal"].iloc[0]
    assert row["r"] == pytest.approx(1.0)

    out = runner.invoke(main, ["report", str(store), "-o", str(tmp_path / "report")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "report" / "index.html").stat().st_size > 1000


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["run", str(tmp_path / "missing.toml")])
    assert out.exit_code == 1 and out.output.startswith("Error: No study file")
    (tmp_path / "s.toml").write_text('[study]\nsegments = "s.csv"\n[[evaluators]]\ntype = "emotion2vek"\n')
    (tmp_path / "s.csv").write_text("start,end\n0,1\n")
    out = runner.invoke(main, ["run", str(tmp_path / "s.toml")])
    assert out.exit_code == 1 and "Unknown evaluator 'emotion2vek'" in out.output
    assert "Traceback" not in out.output


def test_evaluators_command_lists_status() -> None:
    out = CliRunner().invoke(main, ["evaluators"])
    assert out.exit_code == 0
    assert "table" in out.output and "loudness" in out.output and "-> ready" in out.output
