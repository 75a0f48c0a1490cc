"""The openai provider with the real SDK against a local chat-completions server."""

from __future__ import annotations

import json
import socket

import pytest

from affectproxy.errors import (
    AuthenticationError,
    RateLimitError,
    ServiceError,
    ServiceTimeoutError,
    ServiceUnavailableError,
)
from affectproxy.llm.types import REQUEST_OPTIONS, LLMRequest, Part, Provider, Usage
from affectproxy_openai import PRICES, OpenAIProvider
from affectproxy_openai.plugin import affectproxy_llm_providers
from affectproxy_openai.testing import OpenAITestServer, Reply, system_text, user_text

SCHEMA = {"type": "object", "properties": {"argument": {"type": "string"},
                                           "pathos": {"type": "integer", "minimum": -2, "maximum": 2}},
          "required": ["argument", "pathos"], "additionalProperties": False}


def request(**kw: object) -> LLMRequest:
    base: dict[str, object] = {"provider": "openai", "model": "gpt-5.2", "parts": [Part("text", "Rate this.")],
                               "system": "You are a rater.", "schema": SCHEMA}
    base.update(kw)
    return LLMRequest(**base)  # type: ignore[arg-type]


def test_sends_request_and_reads_answer(server: OpenAITestServer, fake_key: str) -> None:
    server.script(json.dumps({"argument": "calm", "pathos": 1}))
    prov = OpenAIProvider(api_key=fake_key, base_url=server.url)
    assert isinstance(prov, Provider) and prov.can_send <= set(REQUEST_OPTIONS)
    out = prov.generate(request(temperature=0.0, seed=7, max_output_tokens=99, options={"reasoning_effort": "low"}),
                        timeout=5)
    assert json.loads(out.text) == {"argument": "calm", "pathos": 1}
    assert out.model_version == "gpt-5.2-2026-01-01" and out.finish_reason == "stop" and not out.blocked
    (rec,) = server.requests
    body = rec.body
    assert rec.path == "/v1/chat/completions" and rec.headers["authorization"] == f"Bearer {fake_key}"
    assert system_text(body) == "You are a rater." and user_text(body) == "Rate this."
    assert body["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True}}
    assert (body["temperature"], body["seed"], body["max_completion_tokens"]) == (0.0, 7, 99)
    assert body["reasoning_effort"] == "low"  # options travel as extra body fields
    assert out.usage == Usage({"text": 6}, output_tokens=4)  # words of system + user prompt; of the answer


def test_usage_in_layer_terms(fake_key: str) -> None:
    with OpenAITestServer(lambda b: "ok", cached_tokens=3) as srv:
        out = OpenAIProvider(api_key=fake_key, base_url=srv.url).generate(request(schema=None), timeout=5)
    assert out.usage.cached_tokens == 3 and out.usage.total_input == 6
    assert "response_format" not in srv.requests[0].body


def test_non_strict_schema_is_sent_non_strict(server: OpenAITestServer, fake_key: str) -> None:
    loose = {"type": "object", "properties": {"pathos": {"type": "integer"}}}
    OpenAIProvider(api_key=fake_key, base_url=server.url).generate(request(schema=loose), timeout=5)
    assert server.requests[0].body["response_format"]["json_schema"]["strict"] is False


@pytest.mark.parametrize(("reply", "wait"), [(OpenAITestServer.rate_limited(2), 2.0),
                                             (OpenAITestServer.rate_limited(None, ms=1500), 1.5)])
def test_429_maps_to_rate_limit_with_retry_after(server: OpenAITestServer, fake_key: str, reply: Reply,
                                                 wait: float) -> None:
    server.script(reply)
    with pytest.raises(RateLimitError) as info:
        OpenAIProvider(api_key=fake_key, base_url=server.url).generate(request(), timeout=5)
    assert info.value.retry_after == wait
    assert len(server.requests) == 1  # the SDK's own retries are off


def test_5xx_maps_to_unavailable_without_retry(server: OpenAITestServer, fake_key: str) -> None:
    server.script(OpenAITestServer.server_error(503))
    with pytest.raises(ServiceUnavailableError, match="HTTP 503"):
        OpenAIProvider(api_key=fake_key, base_url=server.url).generate(request(), timeout=5)
    assert len(server.requests) == 1


def test_bad_request_is_a_plain_service_error(server: OpenAITestServer, fake_key: str) -> None:
    server.script(Reply(400, "Invalid schema for response_format 'answer'"))
    with pytest.raises(ServiceError, match="HTTP 400: Invalid schema") as info:
        OpenAIProvider(api_key=fake_key, base_url=server.url).generate(request(), timeout=5)
    assert type(info.value) is ServiceError


def test_malformed_body_is_a_service_error(server: OpenAITestServer, fake_key: str) -> None:
    server.script(OpenAITestServer.malformed())
    with pytest.raises(ServiceError, match="malformed"):
        OpenAIProvider(api_key=fake_key, base_url=server.url).generate(request(), timeout=5)


def test_wrong_key_is_authentication_error_without_the_key(server: OpenAITestServer, fake_key: str) -> None:
    wrong = fake_key[::-1]
    with pytest.raises(AuthenticationError) as info:
        OpenAIProvider(api_key=wrong, base_url=server.url).generate(request(), timeout=5)
    text = str(info.value)
    assert "HTTP 401" in text and wrong not in text and "sk-abc1" not in text and "OPENAI_API_KEY" in text


def test_timeout(server: OpenAITestServer, fake_key: str) -> None:
    server.script(Reply(200, "{}", delay=1.0))
    with pytest.raises(ServiceTimeoutError):
        OpenAIProvider(api_key=fake_key, base_url=server.url).generate(request(), timeout=0.2)


def test_connection_refused_is_unavailable(fake_key: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ServiceUnavailableError, match="cannot connect"):
        OpenAIProvider(api_key=fake_key, base_url=f"http://127.0.0.1:{port}/v1").generate(request(), timeout=2)


def test_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
        OpenAIProvider().client()


def test_local_server_needs_no_key_and_env_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    with OpenAITestServer() as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        out = OpenAIProvider().generate(request(), timeout=5)
    assert json.loads(out.text) == {"argument": "x", "pathos": -2}
    assert srv.requests[0].headers["authorization"] == "Bearer no-key-needed"


def test_refusal_is_blocked(fake_key: str) -> None:
    def refuse(body: object) -> Reply:
        return Reply(200, "")

    with OpenAITestServer(refuse) as srv:
        srv.success = lambda body, text: {  # type: ignore[method-assign]
            "id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": None, "refusal": "I can't help."}}]}
        out = OpenAIProvider(api_key=fake_key, base_url=srv.url).generate(request(), timeout=5)
    assert out.blocked == "refusal: I can't help." and out.text == ""


def test_audio_wav_is_sent_inline_and_flac_refused(server: OpenAITestServer, fake_key: str) -> None:
    prov = OpenAIProvider(api_key=fake_key, base_url=server.url)
    prov.generate(request(parts=[Part("text", "hear"), Part("audio", data=b"RIFF1234", mime_type="audio/wav")]),
                  timeout=5)
    content = server.requests[0].body["messages"][1]["content"]
    assert content[1] == {"type": "input_audio", "input_audio": {"data": "UklGRjEyMzQ=", "format": "wav"}}
    with pytest.raises(ServiceError, match="format='wav'"):
        prov.generate(request(parts=[Part("audio", data=b"fLaC", mime_type="audio/flac")]), timeout=5)


def test_prices_dated_sourced_and_exact() -> None:
    assert PRICES.date and PRICES.source.startswith("https://")
    price = PRICES.get("gpt-5.2-2025-12-11")
    assert price is PRICES.get("gpt-5.2") and price is not None
    assert PRICES.get("gpt-5.2-pro") is not price and PRICES.get("gpt-5.2-chat-latest") is None
    assert PRICES.get("llama3.1:8b") is None
    # 1M text tokens of which 200k cached, 100k output: 0.8M*1.75 + 0.2M*0.175 + 0.1M*14 = 1.4 + 0.035 + 1.4
    usage = Usage({"text": 1_000_000}, output_tokens=100_000, cached_tokens=200_000)
    assert price.cost(usage) == pytest.approx(2.835)


def test_plugin_registers_provider_spec() -> None:
    (spec,) = list(affectproxy_llm_providers())
    assert spec.name == "openai" and spec.requires == ("openai",) and spec.prices is PRICES
    assert not spec.check().ok and "OPENAI_API_KEY" in spec.check().reason
    prov = spec.factory(base_url="http://127.0.0.1:9/v1")
    assert isinstance(prov, OpenAIProvider) and prov.base_url == "http://127.0.0.1:9/v1"


def test_unknown_provider_option_names_the_fix() -> None:
    from affectproxy.llm.providers import ProviderOptionError

    (spec,) = list(affectproxy_llm_providers())
    with pytest.raises(ProviderOptionError, match=r"'base_ulr'\. Did you mean 'base_url'"):
        spec.factory(base_ulr="http://x")
    assert spec.factory(keep_files=True).can_send == OpenAIProvider().can_send


def test_length_finish_is_max_tokens(fake_key: str) -> None:
    with OpenAITestServer() as srv:
        plain = srv.success
        srv.success = lambda body, text: {**plain(body, text), "choices": [  # type: ignore[method-assign]
            {"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": '{"argu'}}]}
        out = OpenAIProvider(api_key=fake_key, base_url=srv.url).generate(request(), timeout=5)
    assert (out.finish_reason, out.text, out.blocked) == ("max_tokens", '{"argu', "")


def test_close_closes_the_sdk_client_and_a_later_call_opens_a_new_one(server: OpenAITestServer,
                                                                     fake_key: str) -> None:
    server.script(json.dumps({"argument": "calm", "pathos": 1}), times=2)
    prov = OpenAIProvider(api_key=fake_key, base_url=server.url)
    prov.generate(request(), timeout=5)
    first = prov.client()
    prov.close()
    assert first.is_closed()
    assert json.loads(prov.generate(request(), timeout=5).text)["pathos"] == 1 and prov.client() is not first
    prov.close()
