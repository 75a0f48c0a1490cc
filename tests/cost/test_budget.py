"""The budget: no paid call starts that would take the run past max_cost; what finished is kept; the message
says what was spent and how to continue; a rerun continues; an unpriced model refuses to start; the CLI exits 4."""

from __future__ import annotations

import threading
import warnings

import pytest
from click.testing import CliRunner

import affectproxy as ap
from affectproxy.cli import EXIT_BUDGET, main
from affectproxy.engine import RunFailuresWarning
from affectproxy.errors import BudgetExceededError
from affectproxy.llm.budget import Budget, UnpricedModelError, expected_cost, is_budget_stop
from affectproxy.llm.providers import get_provider_spec
from affectproxy.planning import plan_tasks
from affectproxy.store import Store

from .conftest import write_speech


def test_reservations_from_many_threads_never_exceed_the_budget() -> None:
    budget = Budget(1.0)
    granted, refused = [], []
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        try:
            granted.append(budget.reserve(0.1))
        except BudgetExceededError as exc:
            refused.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 10 and len(refused) == 6
    assert budget.reserved == pytest.approx(1.0)
    for h in granted:
        h.settle(0.05)
        h.settle(0.05)  # settling twice counts once
    assert budget.spent == pytest.approx(0.5) and budget.reserved == pytest.approx(0.0)
    assert "$0.0000 of max_cost $1.00" in str(refused[0]) and "run again to continue" in str(refused[0])


def _paid(store) -> list[dict]:
    with Store(store) as db:
        return [c for c in db.calls() if not c["cached"]]


def _request_costs(segs, spec) -> list[float]:
    ev = ap.get_evaluator(spec["type"], **{k: v for k, v in spec.items() if k != "type"})
    price = get_provider_spec("gemini").prices.get("gemini-2.5-flash")
    from affectproxy.execution import Context, Execution, Readers

    readers = Readers()
    try:
        tasks, _ = plan_tasks(ev, segs, set(), set(), 1)
        ex = Execution(ev, "x", readers, segs)
        ctx = Context(segs, ev.sample_rate, readers)
        return [expected_cost(r, price, 32) for t in tasks for r in ev.requests(ex._prepare(t)[0], ctx)]
    finally:
        readers.close()


def test_budget_stops_before_exceeding_and_a_rerun_continues(server, key, tmp_path) -> None:
    segs = write_speech(tmp_path, 8)
    spec = {"type": "gemini", "base_url": server.url}
    store = tmp_path / "study.db"
    expected = _request_costs(segs, spec)
    max_cost = sum(expected[:3]) + 0.5 * expected[3]  # room for three calls at their expected cost, not four
    with pytest.warns(RunFailuresWarning, match="stopped early: Budget reached"):
        res = ap.evaluate(segs, [spec], store=store, progress=False, max_cost=max_cost, llm={"max_in_flight": 1})
    paid = _paid(store)
    spent = sum(c["cost"] for c in paid)
    assert spent <= max_cost
    n = len(paid)
    assert 3 <= n == server.count("generate") < 8  # answers cost less than expected: more than three fit
    assert spent + expected[n] > max_cost  # the next call, at its expected cost, would have gone over
    summary = res.summary[0]
    assert summary.new == n and summary.failed == 0 and not res.failures  # not started is not failed
    assert is_budget_stop(summary.stopped)
    assert f"of max_cost ${max_cost:.4f} spent" in summary.stopped and "raise max_cost" in summary.stopped
    # the rerun with a larger budget does the rest, paying for nothing twice
    res2 = ap.evaluate(segs, [spec], store=store, progress=False, max_cost=1.0)
    assert res2.summary[0].new == 8 - n and not res2.summary[0].stopped
    assert server.count("generate") == 8 and len({c["cache_key"] for c in _paid(store)}) == 8


def test_concurrent_calls_in_flight_count_against_the_budget(server, key, tmp_path) -> None:
    server.latency = 0.05
    segs = write_speech(tmp_path, 16)
    spec = {"type": "gemini", "base_url": server.url}
    expected = _request_costs(segs, spec)
    max_cost = sum(expected[:5])
    with pytest.warns(RunFailuresWarning):
        res = ap.evaluate(segs, [spec], store=tmp_path / "s.db", progress=False, max_cost=max_cost,
                          llm={"max_in_flight": 8})
    spent = sum(c["cost"] for c in _paid(tmp_path / "s.db"))
    assert spent <= max_cost
    assert 1 <= server.count("generate") <= 5
    assert is_budget_stop(res.summary[0].stopped) and res.summary[0].new == server.count("generate")


def test_unpriced_model_refuses_to_start_under_a_budget(server, key, tmp_path) -> None:
    segs = write_speech(tmp_path, 3)
    spec = {"type": "gemini", "base_url": server.url, "model": "gemini-9-unpriced"}
    with pytest.warns(RunFailuresWarning, match="no known price"):
        res = ap.evaluate(segs, [spec], store=tmp_path / "s.db", progress=False, max_cost=10.0)
    assert server.count("generate") == 0 and res.summary[0].new == 0
    assert "add its price" in res.summary[0].stopped
    # without a budget it runs (cost unknown)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RunFailuresWarning)
        res = ap.evaluate(segs, [spec], store=tmp_path / "s.db", progress=False)
    assert res.summary[0].new == 3
    assert issubclass(UnpricedModelError, BudgetExceededError)


def _study(tmp_path, server, max_cost: float) -> str:
    write_speech(tmp_path, 6)
    import pandas as pd

    segs = write_speech(tmp_path, 6)
    pd.DataFrame({"segment_id": [s.id for s in segs], "start": [s.start for s in segs],
                  "end": [s.end for s in segs], "text": [s.text for s in segs]}).to_csv(tmp_path / "segs.csv",
                                                                                        index=False)
    path = tmp_path / "study.toml"
    path.write_text(f"""
[study]
segments = "segs.csv"
audio = "speech.wav"
store = "study.sqlite"
max_cost = {max_cost}

[[evaluators]]
type = "gemini"
base_url = "{server.url}"

[llm.gemini]
max_in_flight = 1
""")
    return str(path)


def test_cli_dry_run_then_budget_exit_code(server, key, tmp_path) -> None:
    study = _study(tmp_path, server, 0.001)
    runner = CliRunner()
    out = runner.invoke(main, ["run", study, "--dry-run"])
    assert out.exit_code == 0, out.output
    assert server.count("generate") == 0 and not (tmp_path / "study.sqlite").exists()
    assert "gemini [gemini/gemini-2.5-flash]: 6 pending segment(s), 6 call(s)" in out.output
    assert "(estimate)" in out.output and "budget: max_cost $0.0010" in out.output
    out = runner.invoke(main, ["run", study, "--no-progress"])
    assert out.exit_code == EXIT_BUDGET == 4, out.output
    assert "stopped at its budget" in out.output and "Budget reached" in out.output
    assert 0 < server.count("generate") < 6
