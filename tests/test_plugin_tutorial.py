"""The plugin tutorial (docs/writing-a-plugin.md) is built from its own code blocks, installed and run."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "writing-a-plugin.md"
BLOCK = re.compile(r'^```(\w+) title="([^"]+)"\n(.*?)^```$', re.S | re.M)


def page_files() -> dict[str, str]:
    """title -> code of every titled block of the tutorial page."""
    return {title: code for _, title, code in BLOCK.findall(PAGE.read_text(encoding="utf-8"))}


def test_the_page_shows_the_whole_example_plugin() -> None:
    files = page_files()
    assert set(files) == {"pyproject.toml", "src/affectproxy_example/__init__.py",
                          "src/affectproxy_example/plugin.py", "src/affectproxy_example/loudness.py"}
    for title, code in files.items():  # the page and plugins/example never drift apart
        assert code == (ROOT / "plugins" / "example" / title).read_text(encoding="utf-8"), title
    project = tomllib.loads(files["pyproject.toml"])
    assert project["build-system"]["build-backend"] and project["build-system"]["requires"]
    assert project["project"]["entry-points"]["affectproxy"] == {"loudness": "affectproxy_example.plugin"}
    tree = ast.parse(files["src/affectproxy_example/loudness.py"])
    (evaluate,) = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "evaluate"]
    body = ast.unparse(evaluate)
    assert "..." not in body and "assert" not in body and "segment_samples(" in body
    assert "EmotionEstimate(segment_id=seg.id, evaluator=self.name, values=" in body


def test_build_the_tutorial_plugin_from_the_page_and_run_it(tmp_path: Path, run_python, speech_wav: Path) -> None:
    src = tmp_path / "plugin"
    for title, code in page_files().items():
        (src / title).parent.mkdir(parents=True, exist_ok=True)
        (src / title).write_text(code, encoding="utf-8")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(site), str(src)],
                   check=True, capture_output=True, text=True, timeout=120)
    out = run_python(f"""
        import affectproxy as ap, affectproxy_example
        from affectproxy.testing import check_evaluator
        print("module from page build:", affectproxy_example.__file__.startswith({str(site)!r}))
        (row,) = [r for r in ap.list_evaluators() if r.name == "loudness"]
        print("listed:", row.can_run, row.plugin.split()[0])
        check_evaluator(ap.get_evaluator("loudness"))
        rec = ap.Recording("speech", {str(speech_wav)!r})
        segs = [ap.Segment("quiet", rec, 0, 1), ap.Segment("loud", rec, 5, 6)]
        wide = ap.evaluate(segs, ["loudness"], progress=False).wide()
        print("louder:", wide.loc["loud", "loudness.arousal"] > wide.loc["quiet", "loudness.arousal"])
        try:
            ap.get_evaluator("loudness").evaluate([ap.Segment("s1", rec, 0, 1)])
        except ap.AudioError as exc:
            print("guard:", exc)
        try:
            ap.get_evaluator("loudness", scale_db=0)
        except ValueError as exc:
            print("option:", exc)
    """, paths=(site,), env={"AFFECTPROXY_PLUGINS": "loudness"}).stdout
    assert "module from page build: True" in out
    assert "listed: True affectproxy-example" in out
    assert "louder: True" in out
    assert "guard: Segment 's1' of recording 'speech' (loudness) has no audio." in out
    assert "option: loudness: scale_db must be a positive number of dB, got 0." in out
