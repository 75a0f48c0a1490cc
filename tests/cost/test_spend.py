"""Spend reports: per evaluator and per provider/model, cache savings, cost per hour of speech; the usage
command and the report's HTML section."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

import affectproxy as ap
from affectproxy.cli import main
from affectproxy.engine import RunFailuresWarning
from affectproxy.llm.spend import spend_html, spend_table
from affectproxy.store import Store

from .conftest import write_speech


def test_spend_savings_and_cost_per_hour(server, key, tmp_path) -> None:
    segs = write_speech(tmp_path, 6)
    store = tmp_path / "s.db"
    spec = {"type": "gemini", "base_url": server.url}
    ap.evaluate(segs[:4], [spec], store=store, progress=False)
    with sqlite3.connect(store) as db:
        db.execute("DELETE FROM estimates")  # lose the estimates: the rerun is served by the cache
    ap.evaluate(segs[:4], [spec], store=store, progress=False)
    tiny = ap.Segment("tiny", segs[0].recording, 20.0, 20.05, text="Oh.")  # too short for gemini: never sent
    with pytest.warns(RunFailuresWarning, match="tiny"):
        ap.evaluate([*segs, tiny], [spec], store=store, progress=False)  # s03 is done; s04 and s05 are paid
    with Store(store) as db:
        calls, stored = db.calls(), db.segments()
    paid = [c for c in calls if not c["cached"]]
    assert len(paid) == 6 and sum(c["cached"] for c in calls) == 4
    frame = spend_table(calls, stored)
    row = frame.iloc[0]
    assert row["evaluator"] == "gemini" and row["paid_calls"] == 6 and row["cache_hits"] == 4
    assert row["cost"] == pytest.approx(sum(c["cost"] for c in paid))
    first_four = {s.id for s in segs[:4]}
    assert row["saved"] == pytest.approx(sum(c["cost"] for c in paid if c["segment_ids"][0] in first_four))
    hours = 6 * 1.5 / 3600
    assert row["speech_hours"] == pytest.approx(hours)
    assert row["cost_per_hour"] == pytest.approx(row["cost"] / hours)
    by_model = spend_table(calls, stored, by=("provider", "model"))
    assert list(by_model["model"]) == ["gemini-2.5-flash"] and by_model["cost"].iloc[0] == pytest.approx(row["cost"])
    out = CliRunner().invoke(main, ["usage", str(store)])
    assert out.exit_code == 0, out.output
    assert "4 cache hit(s) saved $" in out.output and "per hour of speech" in out.output
    page = spend_html(store)
    assert "What the LLM raters cost" in page and "cost_per_hour" in page and "gemini-2.5-flash" in page
    report = CliRunner().invoke(main, ["report", str(store), "-o", str(tmp_path / "rep")])
    assert report.exit_code == 0, report.output
    assert "What the LLM raters cost" in (tmp_path / "rep" / "index.html").read_text()


def test_no_calls_no_section(tmp_path) -> None:
    with Store(tmp_path / "empty.db") as db:
        assert spend_html(db) == ""
