"""The dry run: input tokens equal what the (local) Gemini server then reports, output tokens are labelled an
estimate, nothing is paid, and what is done in the store is not counted."""

from __future__ import annotations

import pytest

import affectproxy as ap
from affectproxy.llm.estimate import estimate
from affectproxy.store import Store

from .conftest import write_speech


@pytest.mark.parametrize("mode", ["segment", "speech"])
def test_dry_run_tokens_equal_what_the_server_reports(server, key, tmp_path, mode) -> None:
    segs = write_speech(tmp_path)
    spec = {"type": "gemini", "mode": mode, "base_url": server.url}
    assert ap.estimate is estimate
    est = ap.estimate(segs, [spec], store=tmp_path / "study.db")
    assert server.count("generate") == 0  # nothing paid
    assert not (tmp_path / "study.db").exists()  # nothing written
    assert server.count("count") == len(est.requests) > 0  # text counted by the provider
    assert all(r.text_counted for r in est.requests)
    res = ap.evaluate(segs, [spec], store=tmp_path / "study.db", progress=False)
    assert not res.failures
    with Store(tmp_path / "study.db") as db:
        calls = [c for c in db.calls() if not c["cached"]]
    assert len(calls) == len(est.requests)
    by_key = {c["cache_key"]: c for c in calls}
    got = {}
    for c in calls:
        for m, n in c["input_tokens"].items():
            got[m] = got.get(m, 0) + n
    want = {}
    for r in est.requests:
        for m, n in r.input_tokens.items():
            want[m] = want.get(m, 0) + n
    assert want == got and want["audio"] > 0 and want["text"] > 0
    assert len(by_key) == len(calls)
    printout = est.format()
    assert "(estimate)" in printout and "text counted by the provider" in printout and "no call was made" in printout


def test_done_segments_and_cached_answers_cost_nothing(server, key, tmp_path) -> None:
    segs = write_speech(tmp_path)
    spec = {"type": "gemini", "base_url": server.url}
    store = tmp_path / "study.db"
    ap.evaluate(segs[:3], [spec], store=store, progress=False)
    est = estimate(segs, [spec], store=store)
    assert est.pending == {"gemini": len(segs) - 3}
    assert len(est.requests) == len(segs) - 3
    assert {sid for r in est.requests for sid in r.segment_ids} == {s.id for s in segs[3:]}


def test_cost_from_the_price_table(server, key, tmp_path) -> None:
    segs = write_speech(tmp_path, 3)
    est = estimate(segs, [{"type": "gemini", "base_url": server.url}])
    for r in est.requests:  # gemini-2.5-flash list prices: text 0.30, audio 1.00, output 2.50 USD per 1M
        want = (r.input_tokens["text"] * 0.30 + r.input_tokens["audio"] * 1.00 + r.output_tokens * 2.50) / 1e6
        assert r.cost == pytest.approx(want)
        assert r.input_tokens["audio"] == round(1.5 * 32)
    assert est.cost == pytest.approx(sum(r.cost for r in est.requests))
    frame = est.to_pandas()
    assert list(frame["calls"]) == [3] and frame["cost"].iloc[0] == pytest.approx(est.cost)


def test_without_a_key_text_is_estimated_and_says_so(server, tmp_path) -> None:
    segs = write_speech(tmp_path, 2)
    est = estimate(segs, [{"type": "gemini", "base_url": server.url}])
    assert server.calls == []
    assert not any(r.text_counted for r in est.requests)
    assert "estimated at ~4 characters per token" in est.format()
    assert any("GEMINI_API_KEY" in n for n in est.notes)


def test_unknown_price_is_unknown_not_zero(server, key, tmp_path) -> None:
    segs = write_speech(tmp_path, 2)
    est = estimate(segs, [{"type": "gemini", "base_url": server.url, "model": "gemini-9-unpriced"}])
    assert est.cost is None and all(r.cost is None for r in est.requests)
    assert "unknown" in est.format() and any("no known price" in n for n in est.notes)
    priced = estimate(segs, [{"type": "gemini", "base_url": server.url, "model": "gemini-9-unpriced"}],
                      llm={"gemini": {"prices": {"gemini-9-unpriced": {"input": 1.0, "output": 2.0}}}})
    assert priced.cost is not None and priced.cost > 0


class Acoustic:
    """A cheap categorical rater: unsure (top probability 0.4) on every other segment."""

    name = "cheap"
    dimensions = (ap.Dimension("arousal", 0, 1),)
    sample_rate = None
    min_duration = 0.0

    def fingerprint(self):
        return {"evaluator": "cheap"}

    def evaluate(self, segments):
        return [ap.EmotionEstimate(s.id, self.name, {"arousal": 0.5},
                                   categories={"a": 0.4 if int(s.id[1:]) % 2 else 0.9, "b": 0.3, "c": 0.3})
                for s in segments]


def test_a_routed_dry_run_prices_only_the_routed_segments(server, key, tmp_path) -> None:
    segs = write_speech(tmp_path, 6)
    store = tmp_path / "study.db"
    spec = {"type": "gemini", "base_url": server.url}
    route = {"first": "cheap", "then": "gemini", "when": "top_probability < 0.6"}
    before = estimate(segs, [Acoustic(), spec], store=store, route=route, count=False)
    assert len(before.requests) == 6 and any("upper bound" in n for n in before.notes)  # cheap has not run yet
    ap.evaluate(segs, [Acoustic()], store=store, progress=False)
    est = estimate(segs, [Acoustic(), spec], store=store, route=route)
    assert {r.segment_ids[0] for r in est.requests} == {"s01", "s03", "s05"}
    assert est.pending == {"cheap": 0, "gemini": 3}
    assert any(n.startswith("routing: 3 of 6 segment(s) go to 'gemini'") for n in est.notes)
    res = ap.evaluate(segs, [Acoustic(), spec], store=store, progress=False, route=route)
    with Store(store) as db:
        paid = [c for c in db.calls() if not c["cached"]]
    assert len(paid) == 3
    got = sum(n for c in paid for n in c["input_tokens"].values())
    assert got == sum(n for r in est.requests for n in r.input_tokens.values())
    assert {e.segment_id for e in res.estimates if e.evaluator == "gemini"} == {"s01", "s03", "s05"}


def test_repeated_questions_are_counted_once_and_priced_each(server, key, tmp_path) -> None:
    segs = write_speech(tmp_path, 3)
    spec = {"type": "gemini", "base_url": server.url, "repeats": 2}
    est = estimate(segs, [spec])
    assert len(est.requests) == 6 and server.count("count") == 3  # the same text is counted once
    ap.evaluate(segs, [spec], store=tmp_path / "s.db", progress=False)
    with Store(tmp_path / "s.db") as db:
        paid = [c for c in db.calls() if not c["cached"]]
    assert len(paid) == 6
    assert sum(c["input_tokens"]["text"] for c in paid) == sum(r.input_tokens["text"] for r in est.requests)
