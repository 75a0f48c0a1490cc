"""`affectproxy demo`: the main job, end to end, offline; also from a plain (non-editable) wheel install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from affectproxy.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("timeline.png", "target.png", "scatter.png")  # with a target: its row, not a mostly empty matrix


def test_demo_runs_end_to_end_and_writes_a_report(tmp_path: Path) -> None:
    out_dir = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "-o", str(out_dir), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"Report: {out_dir / 'index.html'}" in result.output
    assert "skipped emotion2vec" in result.output  # no weights here: listed with the reason and the fix
    html = (out_dir / "index.html").read_text()
    assert len(html) > 3000 and "<table" in html
    for name in FIGURES:
        png = out_dir / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, name
        assert name in html
    assert not (out_dir / "heatmap.png").exists()
    assert "<h1>affectproxy demo: the bundled example</h1>" in html and "-0.000" not in html
    # the prosodic arousal index tracks the arousal the example was synthesised with
    from affectproxy import compare
    from affectproxy.results import open_results

    table = compare.correlate(open_results(out_dir / "demo.sqlite"), target=("intended", "arousal"))
    row = table[(table["x_evaluator"] == "prosody") & (table["x_dimension"] == "arousal")].iloc[0]
    assert row["r"] == pytest.approx(0.949, abs=0.01)  # as reported in the README (openSMILE is deterministic)
    pairs = len(table)
    if pairs <= 20:  # every pair is plotted (here 16, among them the headline prosody/arousal pair)
        assert f"All {pairs} pairs of the table" in html
    else:  # more evaluators installed: the strongest 20, and the page says how many are left out
        assert f"{pairs - 20} of {pairs} pairs are not plotted" in html
    # a rerun reuses the store and computes nothing new
    again = CliRunner().invoke(main, ["demo", "-o", str(out_dir), "--no-progress"])
    assert again.exit_code == 0, again.output


def test_demo_works_from_a_non_editable_wheel(tmp_path: Path) -> None:
    dist, site = tmp_path / "dist", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(dist), str(ROOT)], check=True, capture_output=True)
    (wheel,) = dist.glob("affectproxy-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    code = (
        "import affectproxy, sys; from affectproxy.demo import run_demo;"
        f"assert affectproxy.__file__.startswith({str(site)!r}), affectproxy.__file__;"
        f"o = run_demo({str(tmp_path / 'out')!r}, progress=False); print(o.report)"
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "index.html").exists()
    assert pd.read_csv(site / "affectproxy" / "data" / "example" / "segments.csv").shape[0] >= 10
