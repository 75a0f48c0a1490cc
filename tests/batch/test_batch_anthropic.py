"""Batch mode with Anthropic Message Batches (real ``anthropic`` SDK, local server): a mixed TRUST panel (two
OpenAI advocates, one Anthropic advocate and supervisor) gives the online estimates at half price with one job per
provider and round; an expired Anthropic batch is resubmitted."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import affectproxy as ap
from affectproxy.llm.testserver import example_for
from affectproxy.store import Store
from affectproxy_anthropic.testing_batch import AnthropicBatchServer
from affectproxy_openai.testing_batch import OpenAIBatchServer

FAST = {"poll_interval": 0.01}


def _varied(schema: Any, text: str) -> Any:
    answer = example_for(schema)
    for name, sub in schema.get("properties", {}).items():
        if sub.get("type") in ("number", "integer") and "minimum" in sub and "maximum" in sub:
            frac = int(hashlib.sha256((name + text).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
            value = sub["minimum"] + (sub["maximum"] - sub["minimum"]) * frac
            answer[name] = round(value) if sub["type"] == "integer" else round(value, 4)
    return answer


def openai_answer(body: Any) -> Any:
    return _varied(body["response_format"]["json_schema"]["schema"], str(body["messages"]))


def anthropic_answer(body: Any) -> Any:
    # Anthropic's transform_schema moves minimum/maximum into descriptions: use the ranges TRUST declares
    schema = body["output_config"]["format"]["schema"]
    out = example_for(schema)
    for name in schema.get("properties", {}):
        if name in ("pathos", "logos", "ethos"):
            frac = int(hashlib.sha256((name + str(body["messages"])).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
            out[name] = round(-2 + 4 * frac)
    return out


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN",
                 "ANTHROPIC_BASE_URL", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    out = {"openai": "sk-test" + secrets.token_hex(16), "anthropic": "sk-ant-test" + secrets.token_hex(16)}
    monkeypatch.setenv("OPENAI_API_KEY", out["openai"])
    monkeypatch.setenv("ANTHROPIC_API_KEY", out["anthropic"])
    return out


@pytest.fixture
def servers(keys: dict[str, str]) -> Iterator[tuple[OpenAIBatchServer, AnthropicBatchServer]]:
    with OpenAIBatchServer(openai_answer, key=keys["openai"]) as oai, \
            AnthropicBatchServer(anthropic_answer, key=keys["anthropic"]) as ant:
        yield oai, ant


@pytest.fixture
def segments() -> list[ap.Segment]:
    rec = ap.Recording("speech", speaker="A")
    texts = ["We will build a better country.", "They are lying to you!", "The committee meets on Tuesday."]
    return [ap.Segment(f"s{i}", rec, 2.0 * i, 2.0 * i + 1.5, text=t) for i, t in enumerate(texts)]


def panel(oai: OpenAIBatchServer, ant: AnthropicBatchServer) -> dict[str, Any]:
    return {"type": "trust", "supervisor": "llm", "advocates": [
        {"role": "legitimising", "provider": "openai", "model": "gpt-5.2", "provider_options": {"base_url": oai.url}},
        {"role": "delegitimising", "provider": "openai", "model": "gpt-5.2", "provider_options": {"base_url": oai.url}},
        {"role": "neutral", "provider": "anthropic", "model": "claude-sonnet-4-6",
         "provider_options": {"base_url": ant.url}}]}


def test_mixed_panel_one_job_per_provider_and_round(servers: Any, segments: list[ap.Segment],
                                                    tmp_path: Path) -> None:
    oai, ant = servers
    online = ap.evaluate(segments, [panel(oai, ant)], store=tmp_path / "a.db", progress=False)
    n = len(segments)
    assert len(oai.requests) == 2 * n and len(ant.requests) == 2 * n  # advocates (+ the supervisor on anthropic)
    res = ap.evaluate(segments, [panel(oai, ant)], store=tmp_path / "b.db", progress=False, batch=FAST)
    assert not res.failures
    assert {e.segment_id: e.values for e in res.estimates} == {e.segment_id: e.values for e in online.estimates}
    assert [len(j.keys) for j in oai.batches] == [2 * n]
    assert [len(j.keys) for j in ant.batches] == [n, n]  # the neutral advocate's job, then the supervisors'
    assert len(oai.requests) == 2 * n and len(ant.requests) == 2 * n  # no online call in batch mode
    with Store(tmp_path / "a.db") as db:
        online_cost = sum(c["cost"] for c in db.calls())
    with Store(tmp_path / "b.db") as db:
        rows = db.calls()
    assert all(r["batch"] == 1 and r["status"] == "ok" for r in rows) and len(rows) == 4 * n
    assert sum(r["cost"] for r in rows) == pytest.approx(online_cost / 2, rel=1e-9)


def test_expired_anthropic_batch_is_resubmitted(servers: Any, segments: list[ap.Segment], tmp_path: Path) -> None:
    oai, ant = servers
    ant.expire_next_batch()
    res = ap.evaluate(segments, [panel(oai, ant)], store=tmp_path / "s.db", progress=False, batch=FAST)
    assert not res.failures and [len(j.keys) for j in ant.batches] == [3, 3, 3]
    assert ant.batches[1].keys == ant.batches[0].keys


def test_expired_results_are_named(servers: Any, segments: list[ap.Segment], tmp_path: Path) -> None:
    oai, ant = servers
    ant.expire_next_batch()
    res = ap.evaluate(segments[:1], [panel(oai, ant)], store=tmp_path / "s.db", progress=False,
                      batch={**FAST, "resubmits": 0})
    assert len(res.estimates) == 1  # two of three advocates answered; the supervisor ran on Anthropic's next job
    assert len(ant.batches) == 2
    with Store(tmp_path / "s.db") as db:
        errors = [c["error"] for c in db.calls() if c["status"] == "error"]
    assert errors and all("request expired" in e for e in errors)
