"""LLM evaluators on Ray: one requests-per-minute limit and one budget for the whole cluster (held by one actor,
not one per worker); every paid answer and call-log row reaches the store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from affectproxy.cluster.engine import evaluate_on_ray
from affectproxy.cluster.testing import PRICE, Echo, read_log
from affectproxy.engine import RunFailuresWarning
from affectproxy.llm.budget import expected_cost
from affectproxy.store import Store

WINDOW = 1.0  # seconds: "per minute" shrunk so the test is quick
RPM = 6


def test_one_rate_limit_across_workers(ray_cluster, synthetic, tmp_path: Path) -> None:
    segs = synthetic[:24]
    log = tmp_path / "requests.log"
    llm = {"max_in_flight": 8, "clustertest": {"rpm": RPM, "options": {"log": str(log)}}}
    res = evaluate_on_ray(segs, [Echo()], store=tmp_path / "llm.sqlite", llm=llm, progress=False,
                          rate_window=WINDOW, resources={"echo": {"actors": 2}})
    assert res.summary[0].new == len(segs) and res.failures == []
    assert {e.segment_id: e.values["valence"] for e in res.estimates} == {
        s.id: min(1.0, len(s.text) / 100) for s in segs}
    starts = sorted(r["t"] for r in read_log(log))
    assert len(starts) == len(segs)
    assert len({r["pid"] for r in read_log(log)}) == 2  # both workers sent requests ...
    # ... yet the starts kept to RPM per WINDOW over both: with one limiter per worker, twice as many would start
    # at once and the run would take half as long (the slack allows for the log's timing jitter under load)
    assert min(starts[i + RPM] - starts[i] for i in range(len(starts) - RPM)) >= 0.5 * WINDOW
    assert starts[-1] - starts[0] >= 0.9 * (len(segs) / RPM - 1) * WINDOW
    with Store(tmp_path / "llm.sqlite") as db:
        calls = db.calls()
    assert len(calls) == len(segs) and {c["status"] for c in calls} == {"ok"}
    assert sorted(c["segment_ids"][0] for c in calls) == sorted(s.id for s in segs)
    expected = {r.segment_ids[0]: expected_cost(r, PRICE, None) for r in Echo().requests(segs, None)}
    assert all(c["cost"] == pytest.approx(expected[c["segment_ids"][0]]) for c in calls)  # priced on the workers
    with sqlite3.connect(tmp_path / "llm.sqlite") as con:
        (cached,) = con.execute("SELECT COUNT(*) FROM cache").fetchone()
    assert cached == len(segs)  # every paid answer is in the store's cache


def test_one_budget_for_the_cluster_stops_paid_calls_on_every_worker(ray_cluster, synthetic, tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    segs = synthetic[:12]
    costs = [expected_cost(r, PRICE, None) for r in Echo().requests(segs, None)]
    max_cost = 5.5 * max(costs)  # room for 5 or 6 calls in all: one budget per worker would allow that on each
    with pytest.warns(RunFailuresWarning, match="Budget reached"):
        res = evaluate_on_ray(segs, [Echo()], store=tmp_path / "b.sqlite", progress=False, max_cost=max_cost,
                              llm={"clustertest": {"options": {"log": str(log), "delay": 0.2}}},
                              resources={"echo": {"actors": 2}})
    summary = res.summary[0]
    assert summary.stopped.startswith("Budget reached") and summary.failed == 0
    paid = read_log(log)
    assert 1 <= len(paid) <= max_cost // min(costs) and summary.new == len(paid)
    with Store(tmp_path / "b.sqlite") as db:
        assert sum(c["cost"] for c in db.calls()) <= max_cost


def test_gemini_through_its_local_test_server_keeps_one_rate_limit_across_workers(ray_cluster, synthetic,
                                                                                  tmp_path: Path) -> None:
    from affectproxy_gemini.testing import FakeGemini, fake_key

    segs = synthetic[:12]
    with FakeGemini() as server:
        llm = {"max_in_flight": 8, "gemini": {"rpm": RPM, "api_key": fake_key(), "base_url": server.url}}
        res = evaluate_on_ray(segs, [{"type": "gemini", "base_url": server.url}], store=tmp_path / "g.sqlite",
                              llm=llm, progress=False, rate_window=WINDOW, resources={"gemini": {"actors": 2}})
        starts = sorted(c.call.time for c in server.generate_calls)
    assert res.summary[0].new == len(segs) and res.failures == []
    assert len(starts) == len(segs)
    assert min(starts[i + RPM] - starts[i] for i in range(len(starts) - RPM)) >= 0.5 * WINDOW
    with Store(tmp_path / "g.sqlite") as db:
        calls = db.calls()
    assert len(calls) == len(segs) and {c["provider"] for c in calls} == {"gemini"}
    assert len({c["segment_ids"][0] for c in calls}) == len(segs)
