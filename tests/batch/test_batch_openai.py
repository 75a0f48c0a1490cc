"""Batch mode through the OpenAI Batch API (real ``openai`` SDK, local server): TRUST with its llm supervisor gives
the online run's estimates at half the price, as two jobs (advocates, then supervisors); a job with failed lines
resubmits only those."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import affectproxy as ap
from affectproxy.engine import RunFailuresWarning
from affectproxy.llm.testserver import Reply, example_for
from affectproxy.store import Store
from affectproxy_openai.testing import user_text
from affectproxy_openai.testing_batch import OpenAIBatchServer

FAST = {"poll_interval": 0.01}


def varied(body: Any) -> Any:
    """A valid answer whose numbers depend on the request's text."""
    schema = body["response_format"]["json_schema"]["schema"]
    answer = example_for(schema)
    text = str(body["messages"])
    for name, sub in schema.get("properties", {}).items():
        if sub.get("type") in ("number", "integer") and "minimum" in sub and "maximum" in sub:
            frac = int(hashlib.sha256((name + text).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
            value = sub["minimum"] + (sub["maximum"] - sub["minimum"]) * frac
            answer[name] = round(value) if sub["type"] == "integer" else round(value, 4)
    return answer


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    value = "sk-test" + secrets.token_hex(16)
    monkeypatch.setenv("OPENAI_API_KEY", value)
    return value


@pytest.fixture
def oai(key: str) -> Iterator[OpenAIBatchServer]:
    with OpenAIBatchServer(varied, key=key) as srv:
        yield srv


@pytest.fixture
def segments() -> list[ap.Segment]:
    rec = ap.Recording("speech", speaker="A")
    texts = ["We will build a better country.", "They are lying to you!", "The committee meets on Tuesday.",
             "Thank you all for coming."]
    return [ap.Segment(f"s{i}", rec, 2.0 * i, 2.0 * i + 1.5, text=t) for i, t in enumerate(texts)]


def trust(url: str) -> dict[str, Any]:
    return {"type": "trust", "provider": "openai", "model": "gpt-5.2", "provider_options": {"base_url": url},
            "supervisor": "llm"}


def test_trust_batch_equals_online_at_half_price(oai: OpenAIBatchServer, segments: list[ap.Segment],
                                                 tmp_path: Path) -> None:
    online = ap.evaluate(segments, [trust(oai.url)], store=tmp_path / "a.db", progress=False)
    n_online = len(oai.requests)
    online_bodies = sorted(repr(r.body) for r in oai.requests)
    res = ap.evaluate(segments, [trust(oai.url)], store=tmp_path / "b.db", progress=False, batch=FAST)
    assert not res.failures
    assert {e.segment_id: e.values for e in res.estimates} == {e.segment_id: e.values for e in online.estimates}
    assert len(oai.requests) == n_online  # no online call in batch mode
    assert [len(j.keys) for j in oai.batches] == [3 * len(segments), len(segments)]  # advocates, then supervisors
    assert sorted(repr(b) for b in oai.batched) == online_bodies  # the same bodies, sent as JSONL lines
    with Store(tmp_path / "a.db") as db:
        online_cost = sum(c["cost"] for c in db.calls())
    with Store(tmp_path / "b.db") as db:
        rows = db.calls()
    assert all(r["batch"] == 1 for r in rows) and len(rows) == n_online
    assert sum(r["cost"] for r in rows) == pytest.approx(online_cost / 2, rel=1e-9)


def test_failed_lines_are_resubmitted_alone(oai: OpenAIBatchServer, segments: list[ap.Segment],
                                            tmp_path: Path) -> None:
    oai.script(Reply(500, "The server had an error"), when=lambda b: "committee" in user_text(b), times=3)
    res = ap.evaluate(segments, [trust(oai.url)], store=tmp_path / "s.db", progress=False, batch=FAST)
    assert not res.failures
    first, again, supervisors = oai.batches
    assert len(first.keys) == 12 and len(again.keys) == 3 and set(again.keys) < set(first.keys)
    assert len(supervisors.keys) == 4


def test_expired_job_resubmits_everything_missing(oai: OpenAIBatchServer, segments: list[ap.Segment],
                                                  tmp_path: Path) -> None:
    oai.expire_next_batch()
    res = ap.evaluate(segments[:1], [trust(oai.url)], store=tmp_path / "s.db", progress=False, batch=FAST)
    assert not res.failures and [len(j.keys) for j in oai.batches] == [3, 3, 1]


def test_failed_line_reports_the_servers_error(oai: OpenAIBatchServer, segments: list[ap.Segment],
                                               tmp_path: Path) -> None:
    oai.script(Reply(500, "The server had an error"), when=lambda b: "committee" in user_text(b), times=3)
    with pytest.warns(RunFailuresWarning, match="1 of 4 segments failed"):
        res = ap.evaluate(segments, [trust(oai.url)], store=tmp_path / "s.db", progress=False,
                          batch={**FAST, "resubmits": 0})
    assert len(res.failures) == 1  # the three advocates of one segment failed
    with Store(tmp_path / "s.db") as db:
        errors = [c["error"] for c in db.calls() if c["status"] == "error"]
    assert len(errors) == 3 and all("HTTP 500: The server had an error" in e for e in errors)
