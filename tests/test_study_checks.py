"""Study files fail loudly and early: unknown keys, rejected options, bad [compare] options, unavailable
evaluators and missing audio stop the run before it starts, in one line naming the file and the fix."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

import affectproxy as ap
from affectproxy.cli import main
from affectproxy.study import load_study

SEGMENTS = "id,start,end,text\n" + "".join(f"s{i},{i},{i + 1},Satz {i}\n" for i in range(4))
HUMAN = "segment_id,arousal\n" + "".join(f"s{i},{i / 4:.2f}\n" for i in range(4))
HEAD = '[study]\nsegments = "segments.csv"\n'
TABLE = '[[evaluators]]\ntype = "table"\nname = "human"\npath = "human.csv"\n'


def _write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    (tmp_path / "segments.csv").write_text(SEGMENTS)
    (tmp_path / "human.csv").write_text(HUMAN)
    path = tmp_path / name
    path.write_text(text)
    return path


def _one_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in out, out
    return lines[0]


@pytest.mark.parametrize(("text", "expected"), [
    (HEAD + 'stroe = "x.sqlite"\n' + TABLE,
     r"unknown key 'stroe' in \[study\]; did you mean 'store'\? Valid keys there: name, segments, audio, store"),
    (HEAD + '[[evaluator]]\ntype = "table"\npath = "human.csv"\n' + TABLE,
     r"unknown section \[\[evaluator\]\]; did you mean \[\[evaluators\]\]\?"),
    (HEAD + TABLE + '[compare]\ntaget = "human/arousal"\n',
     r"unknown key 'taget' in \[compare\]; did you mean 'target'\?"),
    (HEAD + TABLE + '[compare]\nmethod = "spearmen"\n',
     r"\[compare\] method = 'spearmen' is not one of spearman, kendall, pearson; did you mean 'spearman'\?"),
    (HEAD + TABLE + '[compare]\ntarget = "human.arousal"\n', r"target = 'human.arousal' must name one series as"),
    (HEAD + 'method = "pearson"\n' + TABLE, r"unknown key 'method' in \[study\]; it belongs in \[compare\]\."),
    ('store = "x.sqlite"\n' + HEAD + TABLE, r"store = 'x.sqlite' stands outside any section; put it under \[study\]"),
    (HEAD + '[evaluators]\ntype = "table"\n', r"write \[\[evaluators\]\] \(double brackets"),
    (HEAD + '[segments]\ntierr = "words"\n' + TABLE, r"unknown key 'tierr' in \[segments\]; did you mean 'tier'\?"),
    (HEAD + 'max_cost = "5 dollars"\n' + TABLE, r"max_cost is a budget in US dollars, a number >= 0"),
    (HEAD + TABLE + '[comapre]\nmethod = "pearson"\n', r"unknown section \[comapre\]; did you mean \[compare\]\?"),
], ids=["stroe", "evaluator-singular", "taget", "method-value", "target-form", "key-in-wrong-section",
        "key-outside-section", "evaluators-single-brackets", "segments-key", "max_cost", "section-typo"])
def test_unknown_sections_and_keys_name_the_file_the_key_and_the_closest_valid_one(
        tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ap.StudyError, match=expected) as info:
        load_study(path)
    assert str(info.value).startswith(f"Study file {str(path)!r}: ") and "\n" not in str(info.value)


def test_llm_tables_and_max_cost_are_valid(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + "max_cost = 2.5\n" + TABLE + '[llm.gemini]\nmax_in_flight = 4\n'
                  '[llm.openai]\nbase_url = "http://127.0.0.1:9"\ntimeout = 30\n')
    study = load_study(path)
    assert study.max_cost == 2.5
    assert study.llm == {"gemini": {"max_in_flight": 4}, "openai": {"base_url": "http://127.0.0.1:9", "timeout": 30}}
    assert load_study(_write(tmp_path, HEAD + TABLE, "plain.toml")).llm == {}
    with pytest.raises(ap.StudyError, match=r"\[llm\].*max_concurency.*max_in_flight"):
        load_study(_write(tmp_path, HEAD + TABLE + '[llm.gemini]\nmax_concurency = 4\n', "typo.toml"))


def test_a_routing_table_is_read_and_checked(tmp_path: Path) -> None:
    route = '[routing]\nfirst = "human"\nthen = "other"\nwhen = "confidence < 0.5"\n'
    study = load_study(_write(tmp_path, HEAD + TABLE + route))
    assert (study.routing.first, study.routing.then) == ("human", "other")
    with pytest.raises(ap.StudyError, match=r"\[routing\]|routing"):
        load_study(_write(tmp_path, HEAD + TABLE + '[routing]\nfirst = "human"\nthne = "other"\n', "bad.toml"))


def test_cli_misspelt_store_stops_before_anything_is_written(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + 'stroe = "x.sqlite"\n' + TABLE)
    out = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert out.exit_code == 1
    assert "did you mean 'store'?" in _one_line(out.output)
    assert not (tmp_path / "study.sqlite").exists() and not (tmp_path / "x.sqlite").exists()


def test_cli_compare_typo_fails_before_the_evaluation_runs(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + TABLE + '[compare]\ntaget = "human/arousal"\n')
    out = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert out.exit_code == 1
    assert "unknown key 'taget' in [compare]; did you mean 'target'?" in _one_line(out.output)
    assert not (tmp_path / "study.sqlite").exists()


@pytest.mark.parametrize(("entry", "expected"), [
    # loudness's factory is _make(**options): the accepted options come from the class it builds
    ('type = "loudness"\nrefrence_db = -30\n',
     r"evaluator #2 \(type = 'loudness'\): unknown option 'refrence_db'; did you mean 'reference_db'\? "
     r"Its options: type, reference_db, scale_db, name\."),
    ('type = "table"\npath = "human.csv"\ngruop_by = "speaker"\n',
     r"evaluator #2 \(type = 'table'\): unknown option 'gruop_by'\. Its options: type, path, columns, key, "
     r"ranges, tolerance, name\."),
    ('type = "loudness"\nscale_db = 0\n',
     r"evaluator #2 \(type = 'loudness'\): option scale_db = 0 rejected: loudness: scale_db must be a positive"),
    ('type = "table"\npath = "human.csv"\nkey = "tiem"\n',
     r"evaluator #2 \(type = 'table'\): option key = 'tiem' rejected: table evaluator 'table': key must be"),
    ('type = "table"\nname = "trust"\n', r"evaluator #2 \(type = 'table'\): it needs the option 'path'"),
    ('type = "emotion2vek"\n', r"evaluator #2 \(type = 'emotion2vek'\): Unknown evaluator 'emotion2vek'"),
], ids=["misspelt-option-via-make", "unknown-option", "value-rejected", "table-key-value", "missing-option",
        "unknown-type"])
def test_rejected_options_are_one_line_naming_file_entry_and_option(tmp_path: Path, entry: str, expected: str
                                                                    ) -> None:
    path = _write(tmp_path, HEAD + TABLE + "[[evaluators]]\n" + entry)
    study = load_study(path)
    with pytest.raises(ap.StudyError, match=expected) as info:
        study.build_evaluators()
    assert str(info.value).startswith(f"Study file {str(path)!r}, evaluator #2") and "\n" not in str(info.value)
    out = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert out.exit_code == 1 and re.search(expected, _one_line(out.output))
    assert not (tmp_path / "study.sqlite").exists()


def test_cli_wrong_table_key_column_is_one_line_before_the_run(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + TABLE.replace("human.csv", "timed.csv"))
    (tmp_path / "timed.csv").write_text("start,end,arousal\n0,1,0.5\n")
    out = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert out.exit_code == 1
    line = _one_line(out.output)
    assert f"Study file {str(path)!r}, evaluator #1 (type = 'table'): Table file " in line
    assert "has no column 'segment_id'" in line and 'key = \"time\"' in line
    assert not (tmp_path / "study.sqlite").exists()


def test_missing_audio_names_the_study_files_audio_key_before_the_run(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + 'audio = "speech.wav"\n[[evaluators]]\ntype = "loudness"\n')
    out = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert out.exit_code == 1
    line = _one_line(out.output)
    assert f"Study file {str(path)!r}: [study] audio names {tmp_path / 'speech.wav'}, which does not exist" in line
    assert "'loudness' needs audio. Fix the audio key" in line
    assert not (tmp_path / "study.sqlite").exists()

    path = _write(tmp_path, '[segments]\npath = "segments.csv"\naudio = "talk.wav"\n'
                  '[[evaluators]]\ntype = "loudness"\n')
    assert "[segments] audio names" in _one_line(CliRunner().invoke(main, ["run", str(path)]).output)

    path = _write(tmp_path, HEAD + '[[evaluators]]\ntype = "loudness"\n')
    line = _one_line(CliRunner().invoke(main, ["run", str(path), "--no-progress"]).output)
    assert "4 of 4 segments (first: 's0') have no audio file, and 'loudness' needs audio. Add audio = " in line


def test_a_study_without_audio_runs_evaluators_that_need_none(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + 'audio = "not-needed.wav"\n' + TABLE)
    out = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "human: 4 new" in out.output


UNAVAILABLE = """
from functools import partial

import affectproxy as ap

class Const:
    sample_rate = None
    min_duration = 0.0
    def __init__(self, name="const", model=None):
        self.name, self.model = name, model
        self.dimensions = (ap.Dimension("arousal"),)
    def fingerprint(self):
        return {"model": self.model}
    def evaluate(self, segments):
        return [ap.EmotionEstimate(s.id, self.name, {"arousal": 0.5}) for s in segments]

class WithCheck(Const):
    def check(self):
        if self.model is None:
            return ap.CheckResult(False, "no model given; pass model = DIR")
        return ap.CheckResult(True)

@ap.hookimpl
def affectproxy_evaluators():
    yield ap.EvaluatorSpec("noweights", partial(Const, name="noweights"), "spec check fails",
                           check=lambda: ap.CheckResult(
                               False, "weights of hub/model not in the cache; pass model = DIR or download them"))
    yield ap.EvaluatorSpec("ownchk", partial(WithCheck, name="ownchk"), "instance check",
                           check=lambda: ap.CheckResult(False, "spec says no"))
    yield ap.EvaluatorSpec("needs_pkg", Const, "needs a package", requires=("no_such_pkg_xyz",),
                           extra="pip install affectproxy-needs")
"""


def test_unavailable_evaluators_stop_the_run_listing_every_problem_or_are_skipped(
        tmp_path: Path, run_python, make_distribution) -> None:
    site = make_distribution(tmp_path / "site", "affectproxy-unavail", {"unavail": "unavail_plugin"},
                             {"unavail_plugin": UNAVAILABLE})
    path = _write(tmp_path, HEAD + '[[evaluators]]\ntype = "noweights"\n[[evaluators]]\ntype = "ownchk"\n'
                  'model = "somewhere"\n[[evaluators]]\ntype = "needs_pkg"\n' + TABLE)
    code = f"""
        import sys
        from affectproxy.cli import main
        main(["run", {str(path)!r}, "--no-progress", *sys.argv[1:]])
    """
    env = {"AFFECTPROXY_PLUGINS": "unavail"}
    stopped = run_python(code, paths=(site,), env=env, check=False)
    assert stopped.returncode == 1
    line = _one_line(stopped.stderr)
    assert ("2 evaluators cannot run here: noweights: weights of hub/model not in the cache; pass model = DIR or "
            "download them; needs_pkg: Evaluator 'needs_pkg' needs no_such_pkg_xyz: pip install affectproxy-needs. "
            "Fix them, or skip them with affectproxy run --skip-unavailable.") in line
    assert "ownchk" not in line  # its own check() sees model = "somewhere" and passes; the spec's would refuse
    assert not (tmp_path / "study.sqlite").exists()

    skipped = run_python(code.replace("*sys.argv[1:]", '"--skip-unavailable"'), paths=(site,), env=env)
    assert "note: skipping evaluator noweights: weights of hub/model" in skipped.stderr
    assert "note: skipping evaluator needs_pkg: Evaluator 'needs_pkg' needs no_such_pkg_xyz" in skipped.stderr
    assert "ownchk: 4 new" in skipped.stdout and "human: 4 new" in skipped.stdout
    assert "noweights:" not in skipped.stdout


def test_study_files_in_the_docs_and_examples_pass_the_strict_checks(tmp_path: Path) -> None:
    from affectproxy.study import parse_study

    root = Path(__file__).resolve().parents[1]
    blocks = [(root / "examples" / "study.toml").read_text()]
    for page in ("quickstart.md", "concepts.md"):
        text = (root / "docs" / page).read_text()
        blocks += [re.sub(r"(?m)^   ", "", b) for b in re.findall(r"```toml\n(.*?)```", text, re.S)]
    studies = [b for b in blocks if "[study]" in b]
    assert len(studies) == 3
    for block in studies:
        parse_study(tomllib.loads(block), tmp_path, "doc.toml")
    table = [b for b in blocks if 'type = "table"' in b and "[study]" not in b]
    (tmp_path / "trust_pathos.csv").write_text("segment_id,pathos,level\na,1,3\n")
    for block in table:  # the documented table options are accepted by the evaluator
        data = tomllib.loads(block)
        options = dict(data["evaluators"][0])
        options.pop("type")
        ap.get_evaluator("table", **{**options, "path": tmp_path / "trust_pathos.csv"})
    assert table


def test_a_batch_table_is_read_and_checked(tmp_path: Path) -> None:
    study = load_study(_write(tmp_path, HEAD + TABLE + "[batch]\npoll_interval = 60\nmax_requests_per_job = 2000\n"))
    assert study.batch == {"poll_interval": 60, "max_requests_per_job": 2000}
    assert load_study(_write(tmp_path, HEAD + TABLE, "plain.toml")).batch == {}
    for body, message in (("max_request_per_job = 5", r"\[batch\]: Unknown batch option\(s\) \['max_request_per_"),
                          ("max_bytes_per_job = 0", r"\[batch\]: .*max_bytes_per_job=0: give a whole number"),
                          ('poll_interval = "soon"', r"\[batch\]: .*poll_interval and max_wait are seconds"),
                          ("resubmits = -1", r"\[batch\]: .*resubmits >= 0")):
        with pytest.raises(ap.StudyError, match=message):
            load_study(_write(tmp_path, HEAD + TABLE + f"[batch]\n{body}\n", "bad.toml"))
