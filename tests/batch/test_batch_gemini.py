"""Batch mode against the local Gemini server: the same estimates as online at half the price, one job per run,
partial failures and expired jobs resubmitting only what is missing, a FollowUp round as a second job."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import affectproxy as ap
from affectproxy.engine import RunFailuresWarning
from affectproxy.store import Store
from affectproxy_gemini.testing import FakeGemini, Malformed, ServerError

FAST = {"poll_interval": 0.01}
#: gemini-2.5-flash list prices, USD per 1M tokens (ai.google.dev/gemini-api/docs/pricing): text/image/video in
#: 0.30, audio in 1.00, output 2.50; batch jobs at 50 %.
PRICES = {"text": 0.30, "audio": 1.00, "output": 2.50}


def spec(server: FakeGemini) -> dict[str, Any]:
    return {"type": "gemini", "base_url": server.url}


def values(res: ap.Results) -> dict[str, dict[str, float]]:
    return {e.segment_id: dict(e.values) for e in res.estimates}


def paid(store: Path) -> list[dict[str, Any]]:
    with Store(store) as db:
        return [c for c in db.calls() if not c["cached"]]


def server_cost(server: FakeGemini, calls: list[Any]) -> float:
    """What the calls cost at list price, from what the server received and answered (its usage rules)."""
    audio = sum(round(a.seconds * 32) for c in calls for a in c.audio)
    text = sum(-(-len(c.system + "".join(c.texts)) // 4) for c in calls)
    return (audio * PRICES["audio"] + text * PRICES["text"]) / 1e6


def test_batch_equals_online_at_half_price(server: FakeGemini, key: str, speech: list[ap.Segment],
                                           tmp_path: Path) -> None:
    online = ap.evaluate(speech, [spec(server)], store=tmp_path / "online.db", progress=False)
    online_calls = list(server.generate_calls)
    server.reset()
    batch = ap.evaluate(speech, [spec(server)], store=tmp_path / "batch.db", progress=False, batch=FAST)
    assert not batch.failures and len(batch.estimates) == len(speech)
    assert values(batch) == values(online)
    assert server.count("generate") == 0 and server.count("batch") == 1  # one job, no online call
    assert len(server.batches[0].keys) == len(speech)
    # the batch job's requests are the online requests
    def sent(calls: list[Any]) -> list[tuple[Any, ...]]:
        return sorted((c.system, c.texts, [a.data for a in c.audio], repr(c.schema)) for c in calls)

    assert sent(server.generate_calls) == sent(online_calls)
    rows = paid(tmp_path / "batch.db")
    assert len(rows) == len(speech) and all(r["batch"] == 1 and r["status"] == "ok" for r in rows)
    out_tokens = sum(r["output_tokens"] for r in rows)
    expected = (server_cost(server, server.generate_calls) + out_tokens * PRICES["output"] / 1e6) * 0.5
    assert sum(r["cost"] for r in rows) == pytest.approx(expected, rel=1e-9)
    online_cost = sum(r["cost"] for r in paid(tmp_path / "online.db"))
    assert sum(r["cost"] for r in rows) == pytest.approx(online_cost / 2, rel=1e-9)
    with Store(tmp_path / "batch.db") as db:
        assert [j["state"] for j in db.batch_jobs()] == ["done"]


def test_cached_answers_are_not_submitted(server: FakeGemini, key: str, speech: list[ap.Segment],
                                         tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    ap.evaluate(speech, [spec(server)], store=store, progress=False)  # online: every answer cached
    with sqlite3.connect(store) as db:  # lose the estimates, and two cached answers
        db.execute("DELETE FROM estimates")
        keys = [k for (k,) in db.execute("SELECT key FROM cache ORDER BY key")][:2]
        db.execute("DELETE FROM cache WHERE key IN (?, ?)", keys)
    res = ap.evaluate(speech, [spec(server)], store=store, progress=False, batch=FAST)
    assert not res.failures and len(res.estimates) == len(speech)
    assert server.count("batch") == 1 and sorted(server.batches[0].keys) == sorted(keys)  # only the two lost
    with Store(store) as db:
        rows = db.calls()[len(speech):]
    assert sum(c["cached"] for c in rows) == len(speech) - 2 and sum(c["batch"] for c in rows) == 2


def test_partial_failure_resubmits_only_the_missing(server: FakeGemini, key: str, speech: list[ap.Segment],
                                                    tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    server.script(None, ServerError(500), None, Malformed())  # the 2nd request errs, the 4th answer is invalid
    with pytest.warns(RunFailuresWarning, match="2 of 6 segments failed"):
        res = ap.evaluate(speech, [spec(server)], store=store, progress=False, batch={**FAST, "resubmits": 0})
    assert sorted(f.segment_id for f in res.failures) == ["s01", "s03"]
    assert "no repair round" in next(f.message for f in res.failures if f.segment_id == "s03")
    first = server.batches[0].keys
    res2 = ap.evaluate(speech, [spec(server)], store=store, progress=False, batch=FAST)
    assert not res2.failures and len(res2.estimates) == len(speech)
    assert server.count("batch") == 2 and server.batches[1].keys == [first[1], first[3]]
    rows = paid(store)
    assert sum(r["status"] == "ok" for r in rows) == len(speech)


def test_resubmits_within_the_run(server: FakeGemini, key: str, speech: list[ap.Segment], tmp_path: Path) -> None:
    server.script(None, None, ServerError(503))
    res = ap.evaluate(speech, [spec(server)], store=tmp_path / "s.db", progress=False, batch=FAST)
    assert not res.failures
    assert [len(j.keys) for j in server.batches] == [len(speech), 1]
    assert server.batches[1].keys == [server.batches[0].keys[2]]


def test_expired_job_is_resubmitted(server: FakeGemini, key: str, speech: list[ap.Segment], tmp_path: Path) -> None:
    server.expire_next_batch()
    store = tmp_path / "s.db"
    with pytest.warns(RunFailuresWarning, match="6 of 6 segments failed"):
        res = ap.evaluate(speech, [spec(server)], store=store, progress=False, batch={**FAST, "resubmits": 0})
    assert len(res.failures) == len(speech) and "expired" in res.failures[0].message
    assert not paid(store) or all(r["status"] == "error" and not r["cost"] for r in paid(store))
    res = ap.evaluate(speech, [spec(server)], store=store, progress=False, batch=FAST)
    assert not res.failures and server.count("batch") == 2
    with Store(store) as db:
        assert [j["state"] for j in db.batch_jobs()] == ["expired", "done"]


def test_unfinished_job_in_the_store_is_picked_up(server: FakeGemini, key: str, speech: list[ap.Segment],
                                                  tmp_path: Path) -> None:
    """A run stopped while the job is pending (max_wait) leaves it recorded; the rerun polls it, submits nothing."""
    store = tmp_path / "s.db"
    server.batch_pending_polls = 10**6
    with pytest.warns(RunFailuresWarning):
        first = ap.evaluate(speech, [spec(server)], store=store, progress=False, batch={**FAST, "max_wait": 0.1})
    assert server.count("batch") == 1 and not first.estimates
    with Store(store) as db:
        assert [j["state"] for j in db.batch_jobs()] == ["submitted"]
    server.batch_pending_polls = 0
    res = ap.evaluate(speech, [spec(server)], store=store, progress=False, batch=FAST)
    assert not res.failures and len(res.estimates) == len(speech)
    assert server.count("batch") == 1


def test_speech_mode_batch(server: FakeGemini, key: str, speech: list[ap.Segment], tmp_path: Path) -> None:
    options = {**spec(server), "mode": "speech", "window": 4.0, "overlap": 1.0}
    online = ap.evaluate(speech, [options], store=tmp_path / "a.db", progress=False)
    n_online = server.count("generate")
    res = ap.evaluate(speech, [options], store=tmp_path / "b.db", progress=False, batch=FAST)
    assert values(res) == values(online) and len(server.batches[0].keys) == n_online


def test_followup_round_is_a_second_job(server: FakeGemini, key: str, speech: list[ap.Segment],
                                        tmp_path: Path) -> None:
    """TRUST with its llm supervisor on Gemini: the advocates' requests are one job, the supervisors' a second."""
    options = {"type": "trust", "provider": "gemini", "model": "gemini-2.5-flash",
               "provider_options": {"base_url": server.url}, "supervisor": "llm"}
    online = ap.evaluate(speech, [options], store=tmp_path / "a.db", progress=False)
    n_online = server.count("generate")
    res = ap.evaluate(speech, [options], store=tmp_path / "b.db", progress=False, batch=FAST)
    assert not res.failures and values(res) == values(online)
    assert [len(j.keys) for j in server.batches] == [n_online - len(speech), len(speech)]


def test_batch_answers_are_cached(server: FakeGemini, key: str, speech: list[ap.Segment], tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    first = ap.evaluate(speech, [spec(server)], store=store, progress=False, batch=FAST)
    with sqlite3.connect(store) as db:
        db.execute("DELETE FROM estimates")
    again = ap.evaluate(speech, [spec(server)], store=store, progress=False, batch=FAST)
    assert values(again) == values(first) and server.count("batch") == 1  # no second job: all from the cache
    with Store(store) as db:
        rows = db.calls()
    assert [r["cached"] for r in rows] == [0] * len(speech) + [1] * len(speech)


def test_budget_leaves_out_what_does_not_fit(server: FakeGemini, key: str, speech: list[ap.Segment],
                                             tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    with pytest.warns(RunFailuresWarning, match="stopped early: Budget reached"):
        res = ap.evaluate(speech, [spec(server)], store=store, progress=False, batch=FAST, max_cost=0.0)
    assert server.count("batch") == 0 and not res.failures and not res.estimates
    res = ap.evaluate(speech, [spec(server)], store=store, progress=False, batch=FAST, max_cost=1.0)
    assert len(res.estimates) == len(speech) and server.count("batch") == 1


def test_no_batch_answer_is_logged_as_paid_without_its_cache_entry(server: FakeGemini, key: str,
                                                                    speech: list[ap.Segment], tmp_path: Path) -> None:
    """A batch answer's log row and its cache entry are one commit (the cache write fails here, as a kill between
    two separate commits would leave it): no 'ok' row may name an answer the cache lacks."""
    store = tmp_path / "s.db"
    Store(store).close()
    with sqlite3.connect(store) as db:
        db.execute("CREATE TRIGGER lost BEFORE INSERT ON cache BEGIN SELECT RAISE(ABORT, 'killed here'); END")
    with pytest.raises(sqlite3.Error, match="killed here"):
        ap.evaluate(speech, [spec(server)], store=store, progress=False, batch=FAST)
    with Store(store) as db:
        logged_ok = [c["cache_key"] for c in db.calls() if c["status"] == "ok" and not c["cached"]]
        assert all(db.cache_get(k) is not None for k in logged_ok), "a paid answer is logged but not cached"


def test_jobs_are_cut_to_the_size_limit_the_server_enforces(server: FakeGemini, key: str, speech: list[ap.Segment],
                                                            tmp_path: Path) -> None:
    """Each 1.5 s request is ~63 kB inlined: under a 140 kB limit (the server refuses any larger job, as the real
    API does past 20 MiB) the six requests go as three jobs of two, each recorded, with the estimates of one job."""
    online = ap.evaluate(speech, [spec(server)], store=tmp_path / "online.db", progress=False)
    server.reset()
    server.batch_max_bytes = 140_000
    store = tmp_path / "s.db"
    res = ap.evaluate(speech, [spec(server)], store=store, progress=False,
                      batch={**FAST, "max_bytes_per_job": 140_000})
    assert not res.failures and values(res) == values(online)
    assert [len(j.keys) for j in server.batches] == [2, 2, 2]
    with Store(store) as db:
        jobs = db.batch_jobs()
    assert [j["id"] for j in jobs] == [j.name for j in server.batches] and {j["state"] for j in jobs} == {"done"}
    assert sorted(k for j in jobs for k in j["request_keys"]) == sorted(k for j in server.batches for k in j.keys)


def test_jobs_are_cut_to_a_request_count(server: FakeGemini, key: str, speech: list[ap.Segment],
                                         tmp_path: Path) -> None:
    res = ap.evaluate(speech, [spec(server)], store=tmp_path / "s.db", progress=False,
                      batch={**FAST, "max_requests_per_job": 4})
    assert not res.failures and [len(j.keys) for j in server.batches] == [4, 2]


def test_a_request_larger_than_any_job_fails_alone_before_submission(server: FakeGemini, key: str,
                                                                     speech: list[ap.Segment], tmp_path: Path) -> None:
    with pytest.warns(RunFailuresWarning, match="6 of 6 segments failed"):
        res = ap.evaluate(speech, [spec(server)], store=tmp_path / "s.db", progress=False,
                          batch={**FAST, "max_bytes_per_job": 50_000})
    assert server.count("batch") == 0
    assert "over the 0.05 MB a gemini batch job may hold; run this evaluator without batch mode" in (
        res.failures[0].message)


def test_several_unfinished_jobs_are_all_picked_up(server: FakeGemini, key: str, speech: list[ap.Segment],
                                                   tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    server.batch_pending_polls = 10**6
    options = {**FAST, "max_requests_per_job": 2}
    with pytest.warns(RunFailuresWarning):
        ap.evaluate(speech, [spec(server)], store=store, progress=False, batch={**options, "max_wait": 0.1})
    assert server.count("batch") == 3
    server.batch_pending_polls = 0
    res = ap.evaluate(speech, [spec(server)], store=store, progress=False, batch=options)
    assert not res.failures and len(res.estimates) == len(speech)
    assert server.count("batch") == 3  # nothing submitted twice
