"""The anthropic provider with the real SDK against a local messages-API server."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import anthropic
import pytest

from affectproxy.errors import (
    AuthenticationError,
    RateLimitError,
    ServiceError,
    ServiceTimeoutError,
    ServiceUnavailableError,
)
from affectproxy.llm.types import REQUEST_OPTIONS, LLMRequest, Part, Provider, Usage
from affectproxy_anthropic import PRICES, AnthropicProvider
from affectproxy_anthropic.plugin import affectproxy_llm_providers
from affectproxy_anthropic.testing import AnthropicTestServer, Reply, system_text, user_text

SCHEMA = {"type": "object", "properties": {"argument": {"type": "string"},
                                           "pathos": {"type": "integer", "minimum": -2, "maximum": 2}},
          "required": ["argument", "pathos"], "additionalProperties": False}


def request(**kw: object) -> LLMRequest:
    base: dict[str, object] = {"provider": "anthropic", "model": "claude-sonnet-4-6",
                               "parts": [Part("text", "Rate this.")], "system": "You are a rater.", "schema": SCHEMA}
    base.update(kw)
    return LLMRequest(**base)  # type: ignore[arg-type]


def test_sdk_create_has_no_temperature_or_seed() -> None:
    params = inspect.signature(anthropic.Anthropic(api_key="x").messages.create).parameters
    assert "temperature" not in params and "seed" not in params
    assert {"temperature", "seed", "audio"}.isdisjoint(AnthropicProvider().can_send)


def test_sends_output_config_schema_as_parse_does(server: AnthropicTestServer, fake_key: str) -> None:
    server.script(json.dumps({"argument": "angry", "pathos": -2}))
    prov = AnthropicProvider(api_key=fake_key, base_url=server.url)
    assert isinstance(prov, Provider) and prov.can_send <= set(REQUEST_OPTIONS)
    out = prov.generate(request(max_output_tokens=77, options={"service_tier": "standard_only"}), timeout=5)
    assert json.loads(out.text) == {"argument": "angry", "pathos": -2}
    assert out.model_version == "claude-sonnet-4-6-20260101" and out.finish_reason == "stop" and not out.blocked
    (rec,) = server.requests
    body = rec.body
    assert rec.path == "/v1/messages" and fake_key in (rec.headers.get("x-api-key"), rec.headers.get(
        "authorization", "").removeprefix("Bearer "))
    assert system_text(body) == "You are a rater." and user_text(body) == "Rate this."
    fmt = body["output_config"]["format"]
    assert fmt["type"] == "json_schema" and fmt["schema"] == anthropic.transform_schema(SCHEMA)
    assert "minimum" not in fmt["schema"]["properties"]["pathos"]  # moved into the description by the SDK
    assert body["max_tokens"] == 77 and body["service_tier"] == "standard_only"
    assert "temperature" not in body and "seed" not in body
    assert out.usage == Usage({"text": 6}, output_tokens=4)


def test_tool_mode(fake_key: str) -> None:
    with AnthropicTestServer(lambda b: {"argument": "a", "pathos": 1}) as srv:
        out = AnthropicProvider(api_key=fake_key, base_url=srv.url, structured="tool").generate(request(), timeout=5)
    assert json.loads(out.text) == {"argument": "a", "pathos": 1}
    body = srv.requests[0].body
    assert body["tool_choice"] == {"type": "tool", "name": "answer"} and body["tools"][0]["input_schema"] == SCHEMA
    assert "output_config" not in body


def test_cached_tokens_in_layer_terms(fake_key: str) -> None:
    with AnthropicTestServer(lambda b: "ok", cache_read_tokens=2) as srv:
        out = AnthropicProvider(api_key=fake_key, base_url=srv.url).generate(request(schema=None), timeout=5)
    assert out.usage == Usage({"text": 6}, output_tokens=1, cached_tokens=2)


@pytest.mark.parametrize(("reply", "wait"), [(AnthropicTestServer.rate_limited(3), 3.0),
                                             (AnthropicTestServer.rate_limited(None, ms=250), 0.25)])
def test_429_maps_to_rate_limit_with_retry_after(server: AnthropicTestServer, fake_key: str, reply: Reply,
                                                 wait: float) -> None:
    server.script(reply)
    with pytest.raises(RateLimitError) as info:
        AnthropicProvider(api_key=fake_key, base_url=server.url).generate(request(), timeout=5)
    assert info.value.retry_after == wait and len(server.requests) == 1


@pytest.mark.parametrize("status", [500, 529])
def test_5xx_and_overloaded_are_unavailable(server: AnthropicTestServer, fake_key: str, status: int) -> None:
    server.script(AnthropicTestServer.server_error(status))
    with pytest.raises(ServiceUnavailableError, match=f"HTTP {status}"):
        AnthropicProvider(api_key=fake_key, base_url=server.url).generate(request(), timeout=5)
    assert len(server.requests) == 1


def test_bad_request(server: AnthropicTestServer, fake_key: str) -> None:
    server.script(Reply(400, "output_config.format: unsupported schema"))
    with pytest.raises(ServiceError, match=r"HTTP 400: output_config\.format: unsupported") as info:
        AnthropicProvider(api_key=fake_key, base_url=server.url).generate(request(), timeout=5)
    assert type(info.value) is ServiceError


def test_malformed_body(server: AnthropicTestServer, fake_key: str) -> None:
    server.script(AnthropicTestServer.malformed())
    with pytest.raises(ServiceError, match="malformed"):
        AnthropicProvider(api_key=fake_key, base_url=server.url).generate(request(), timeout=5)


def test_wrong_key(server: AnthropicTestServer, fake_key: str) -> None:
    wrong = fake_key[::-1]
    with pytest.raises(AuthenticationError) as info:
        AnthropicProvider(api_key=wrong, base_url=server.url).generate(request(), timeout=5)
    assert "HTTP 401" in str(info.value) and wrong not in str(info.value) and "ANTHROPIC_API_KEY" in str(info.value)


def test_timeout(server: AnthropicTestServer, fake_key: str) -> None:
    server.script(Reply(200, "{}", delay=1.0))
    with pytest.raises(ServiceTimeoutError):
        AnthropicProvider(api_key=fake_key, base_url=server.url).generate(request(), timeout=0.2)


def test_missing_key_and_text_only() -> None:
    with pytest.raises(AuthenticationError, match="ANTHROPIC_API_KEY"):
        AnthropicProvider().client()
    with pytest.raises(ServiceError, match="text only"):
        AnthropicProvider().body(request(parts=[Part("audio", data=b"x", mime_type="audio/wav")]))
    with pytest.raises(ValueError, match="structured"):
        AnthropicProvider(structured="json")  # type: ignore[arg-type]


def test_prices_and_plugin() -> None:
    assert PRICES.date and PRICES.source.startswith("https://")
    price = PRICES.get("claude-sonnet-4-6-20260217")
    assert price is PRICES.get("claude-sonnet-4-6") and price is not None
    assert PRICES.get("claude-sonnet-4-6-fast") is None and PRICES.get("claude-opus-4-6") is None
    assert price.cost(Usage({"text": 1_000_000}, output_tokens=100_000)) == pytest.approx(3.0 + 1.5)
    (spec,) = list(affectproxy_llm_providers())
    assert spec.name == "anthropic" and spec.prices is PRICES and spec.requires == ("anthropic",)
    assert isinstance(spec.factory(base_url="http://127.0.0.1:9"), AnthropicProvider)


def test_unknown_provider_option_names_the_fix() -> None:
    from affectproxy.llm.providers import ProviderOptionError

    (spec,) = list(affectproxy_llm_providers())
    with pytest.raises(ProviderOptionError, match="'api_version'"):
        spec.factory(api_version="2023-06-01")


@pytest.mark.parametrize("structured", ["output_config", "tool"])
def test_count_tokens_equals_the_usage_generate_reports(fake_key: str, structured: str) -> None:
    with AnthropicTestServer(cache_read_tokens=2, key=fake_key) as srv:
        prov = AnthropicProvider(api_key=fake_key, base_url=srv.url, structured=structured)  # type: ignore[arg-type]
        r = request(parts=[Part("text", "Rate this statement."), Part("text", "It is a long one, really.")],
                    system="You are a careful rater of appeals.", max_output_tokens=50,
                    options={"service_tier": "standard_only"})
        counted = prov.count_tokens(r, timeout=5)
        out = prov.generate(r, timeout=5)
        prov.close()
    assert counted == out.usage.input_tokens["text"] == 7 + 3 + 6  # the words of the system prompt and the texts
    assert out.usage.cached_tokens == 2  # the usage's cache reads are in its input tokens, as in the count
    count, create = srv.requests
    assert count.path == "/v1/messages/count_tokens" and create.path == "/v1/messages"
    assert fake_key in (count.headers.get("x-api-key"), count.headers.get("authorization", "").removeprefix("Bearer "))
    same = ("model", "messages", "system", "output_config", "tools", "tool_choice")
    assert {k: count.body.get(k) for k in same} == {k: create.body.get(k) for k in same}  # what generate sends
    assert system_text(count.body) == r.system and "max_tokens" not in count.body
    assert "service_tier" not in count.body  # request options do not change the input


def test_count_tokens_errors_are_mapped(server: AnthropicTestServer, fake_key: str) -> None:
    prov = AnthropicProvider(api_key=fake_key, base_url=server.url)
    server.script(AnthropicTestServer.rate_limited(2))
    with pytest.raises(RateLimitError, match="count_tokens") as info:
        prov.count_tokens(request(), timeout=5)
    assert info.value.retry_after == 2.0
    server.script(AnthropicTestServer.server_error(529))
    with pytest.raises(ServiceUnavailableError, match="HTTP 529"):
        prov.count_tokens(request(), timeout=5)
    wrong = fake_key[::-1]
    with pytest.raises(AuthenticationError, match="HTTP 401") as auth:
        AnthropicProvider(api_key=wrong, base_url=server.url).count_tokens(request(), timeout=5)
    assert wrong not in str(auth.value)
    assert [r.path for r in server.requests] == ["/v1/messages/count_tokens"] * 3


ROLES = ("legitimising", "delegitimising", "neutral")


def trust_panel(url: str, provider: str = "anthropic") -> tuple[list[Any], Any]:
    """Three segments and a TRUST evaluator whose three advocates all ask ``provider`` at ``url``."""
    import affectproxy as ap
    from affectproxy_trust import TrustEvaluator

    rec = ap.Recording("speech", speaker="Banaszak")
    texts = ["Guten Tag, meine Damen und Herren.", "This government is lying to you!", "The committee meets."]
    segments = [ap.Segment(f"s{i}", rec, 2.0 * i, 2.0 * i + 1.5, text=t) for i, t in enumerate(texts)]
    advocates = [{"role": role, "provider": provider, "model": "claude-sonnet-4-6",
                  "provider_options": {"base_url": url}} for role in ROLES]
    return segments, TrustEvaluator(advocates=advocates)


def test_dry_run_of_a_trust_panel_counts_anthropic_text_as_the_run_is_charged(
        server: AnthropicTestServer, fake_key: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import affectproxy as ap
    from affectproxy.store import Store

    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_key)
    segments, ev = trust_panel(server.url)
    store = tmp_path / "study.sqlite"
    est = ap.estimate(segments, [ev], store=store)
    assert len(est.requests) == 9 and {r.provider for r in est.requests} == {"anthropic"}
    assert all(r.text_counted for r in est.requests)
    assert [r.path for r in server.requests] == ["/v1/messages/count_tokens"] * 9  # nothing paid
    assert "text counted by the provider" in est.format() and not store.exists()
    res = ap.evaluate(segments, [ev], store=store, progress=False)
    assert not res.failures
    with Store(store) as db:
        paid = [c for c in db.calls() if not c["cached"]]
    assert sorted((tuple(c["segment_ids"]), c["input_tokens"]["text"]) for c in paid) == sorted(
        (r.segment_ids, r.input_tokens["text"]) for r in est.requests)
    assert sum(r.input_tokens["text"] for r in est.requests) > 9 * 100  # the role prompts are counted


def test_a_dry_run_closes_the_providers_it_built_to_count(server: AnthropicTestServer, fake_key: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The estimate builds its own provider per provider options and closes it (its SDK client's connections)
    before returning; seen through a real provider plugin registered for this test."""
    import affectproxy as ap
    from affectproxy.llm import providers
    from affectproxy.llm.types import ProviderSpec

    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_key)
    clients: list[Any] = []

    class Probe:
        @ap.hookimpl
        def affectproxy_llm_providers(self) -> Any:
            def factory(**options: Any) -> AnthropicProvider:
                provider = AnthropicProvider(name="anthropic-probe", **options)
                clients.append(provider.client())  # the SDK client its calls go through
                return provider

            yield ProviderSpec(name="anthropic-probe", factory=factory, prices=PRICES)

    segments, ev = trust_panel(server.url, "anthropic-probe")
    with providers.registered(Probe(), "anthropic-probe"):
        est = ap.estimate(segments, [ev])
    assert len(est.requests) == 9 and all(r.text_counted for r in est.requests)
    assert len(clients) == 1 and clients[0].is_closed()
