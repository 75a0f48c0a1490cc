"""`affectproxy compare` and `affectproxy report` on a real store: same options, same table, family printed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import affectproxy as ap
from affectproxy.cli import main


def _store(tmp_path: Path, evaluators: int) -> Path:
    """Four recordings (files) of eight segments, rated by table evaluators (no audio needed)."""
    rng = np.random.default_rng(0)
    segs = [ap.Segment(f"f{k}s{t}", ap.Recording(f"file{k}"), 2.0 * t, 2.0 * t + 2) for k in range(4) for t in range(8)]
    base = rng.uniform(-1, 1, len(segs))
    (tmp_path / "human.csv").write_text("segment_id,arousal,valence\n" + "".join(
        f"{s.id},{b:.3f},{rng.uniform(-1, 1):.3f}\n" for s, b in zip(segs, base, strict=True)))
    (tmp_path / "panel.csv").write_text("segment_id,arousal\n" + "".join(
        f"{s.id},{np.clip(b + rng.normal(0, 0.5), -1, 1):.3f}\n" for s, b in zip(segs, base, strict=True)))
    specs = [dict(type="table", name="human", path=str(tmp_path / "human.csv"), columns=["arousal", "valence"]),
             dict(type="table", name="panel", path=str(tmp_path / "panel.csv"), columns=["arousal"])]
    store = tmp_path / "study.sqlite"
    ap.evaluate(segs, specs[:evaluators], store=store, progress=False)
    return store


def test_single_evaluator_explains_and_offers_within(tmp_path: Path) -> None:
    store = _store(tmp_path, 1)
    runner = CliRunner()
    out = runner.invoke(main, ["compare", str(store)])
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "Only one evaluator (human)" in out.output and "--within" in out.output
    assert "human/arousal against human/valence" in out.output
    out = runner.invoke(main, ["compare", str(store), "--within", "-o", str(tmp_path / "w.csv")])
    assert out.exit_code == 0, out.output
    table = pd.read_csv(tmp_path / "w.csv")
    assert len(table) == 1 and set(table.x_evaluator) == set(table.y_evaluator) == {"human"}
    assert "p_adj: Holm over the 1 row of this table: every pair of series;" in out.output
    out = runner.invoke(main, ["report", str(store), "-o", str(tmp_path / "r")])
    assert out.exit_code == 0, out.output
    assert "Only one evaluator (human)" in (tmp_path / "r" / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("options", [[], ["--target", "panel/arousal", "--method", "pearson", "--inference", "naive"],
                                     ["--within", "--inference", "surrogate"]])
def test_compare_and_report_give_the_same_p_adj_and_name_the_family(tmp_path: Path, options: list[str]) -> None:
    store = _store(tmp_path, 2)
    runner = CliRunner()
    out = runner.invoke(main, ["compare", str(store), *options, "-o", str(tmp_path / "c.csv")])
    assert out.exit_code == 0, out.output
    compared = pd.read_csv(tmp_path / "c.csv")
    family = next(line for line in out.output.splitlines() if line.startswith("p_adj:"))
    assert f"over the {len(compared)} rows" in family
    rep = runner.invoke(main, ["report", str(store), "-o", str(tmp_path / "r"), *options])
    assert rep.exit_code == 0, rep.output
    assert family in rep.output and family in (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    reported = pd.read_csv(tmp_path / "r" / "correlations.csv")
    assert reported["p_adj"].to_numpy() == pytest.approx(compared["p_adj"].to_numpy(), rel=1e-12)
    assert list(reported.inference.unique()) == list(compared.inference.unique())
    if not options:
        assert len(compared) == 2 and "every pair of series from different evaluators" in family
    elif "--target" in options:
        assert len(compared) == 2 and "against panel/arousal" in family and (compared.method == "pearson").all()
    else:
        assert len(compared) == 3
