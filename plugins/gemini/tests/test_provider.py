"""The gemini provider with the real google-genai client against the local server, through the LLM layer."""

from __future__ import annotations

import base64
import json
import time

import pytest

from affectproxy.errors import AuthenticationError, RateLimitError, ServiceTimeoutError, ServiceUnavailableError
from affectproxy.llm import LLMRequest, Part
from affectproxy.llm.validate import BlockedError, InvalidAnswerError
from affectproxy.store import Store
from affectproxy_gemini.provider import GeminiProvider
from affectproxy_gemini.testing import (
    Blocked,
    FakeGemini,
    Malformed,
    RateLimit,
    Refuse,
    Reply,
    ServerError,
    Slow,
    fake_key,
)

SCHEMA = {"type": "object", "properties": {"valence": {"type": "number", "minimum": -1, "maximum": 1}},
          "required": ["valence"], "additionalProperties": False}


def req(audio: bytes, seconds: float = 2.0, segment: str = "s1", **kw: object) -> LLMRequest:
    kw.setdefault("schema", SCHEMA)
    return LLMRequest("gemini", kw.pop("model", "gemini-2.5-flash"),  # type: ignore[arg-type]
                      [Part("audio", data=audio, mime_type="audio/flac", seconds=seconds),
                       Part("text", text="<transcript>\nWe have failed.\n</transcript>")],
                      system="You rate speech.", segment_ids=(segment,), **kw)  # type: ignore[arg-type]


def test_request_contents_and_parsing(server, key, make_layer, make_flac) -> None:
    audio = make_flac(2.0)
    server.script(Reply('{"valence": -0.4}'))
    [a] = make_layer().run([req(audio, temperature=0.0, seed=7, max_output_tokens=200,
                                options={"thinking_budget": 0})], evaluator="gemini")
    assert a.ok and a.data == {"valence": -0.4}
    [call] = server.generate_calls
    assert call.api_version == "v1beta" and call.model == "gemini-2.5-flash"
    assert call.call.api_key == key
    assert call.system == "You rate speech."
    assert call.texts == ("<transcript>\nWe have failed.\n</transcript>",)
    [sent] = call.audio
    assert sent.data == audio and sent.mime_type == "audio/flac" and sent.seconds == pytest.approx(2.0)
    cfg = call.config
    assert cfg["responseJsonSchema"] == SCHEMA and cfg["responseMimeType"] == "application/json"
    assert cfg["temperature"] == 0.0 and cfg["seed"] == 7 and cfg["maxOutputTokens"] == 200
    assert cfg["thinkingConfig"] == {"thinkingBudget": 0}
    # the inline audio travels as base64 in the JSON body
    inline = call.raw["contents"][0]["parts"][0]["inlineData"]["data"]
    assert base64.urlsafe_b64decode(inline + "=" * (-len(inline) % 4)) == audio
    # usage by the vendor's rules: 32 tokens per audio second; text ~ chars / 4
    text_tokens = -(-len("You rate speech." + call.texts[0]) // 4)
    out_tokens = -(-len('{"valence": -0.4}') // 4)
    assert a.usage is not None and dict(a.usage.input_tokens) == {"audio": 64, "text": text_tokens}
    assert a.usage.output_tokens == out_tokens
    # published gemini-2.5-flash prices: audio $1.00, text $0.30, output $2.50 per 1M tokens
    assert a.cost == pytest.approx((64 * 1.00 + text_tokens * 0.30 + out_tokens * 2.50) / 1e6)
    assert a.model_version == "gemini-2.5-flash-001"


def test_api_version_and_base_url_from_the_environment(server, key, monkeypatch, make_flac) -> None:
    from affectproxy.llm import LLMLayer

    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.url)
    with LLMLayer(None) as layer:
        [a] = layer.run([req(make_flac(1.0), provider_options={"api_version": "v1"})], evaluator="gemini")
    assert a.ok and server.generate_calls[0].api_version == "v1"


def test_key_from_google_api_key_first(server, monkeypatch, make_layer, make_flac) -> None:
    first, second = fake_key(), fake_key()
    monkeypatch.setenv("GOOGLE_API_KEY", first)
    monkeypatch.setenv("GEMINI_API_KEY", second)
    make_layer().run([req(make_flac(1.0))], evaluator="gemini")
    assert server.generate_calls[0].call.api_key == first


def test_rate_limit_with_retry_after_then_success(server, key, make_layer, make_flac) -> None:
    server.script(RateLimit(retry_after=0.5), Reply('{"valence": 0.1}'))
    store = Store(None)
    started = time.monotonic()
    [a] = make_layer(store).run([req(make_flac(1.0))], evaluator="gemini")
    assert a.ok and time.monotonic() - started >= 0.5
    assert server.count("generate") == 2
    assert [r["status"] for r in store.calls()] == ["error", "ok"]
    assert "429" in store.calls()[0]["error"]


def test_retry_delay_in_the_body_is_honoured(server, key, make_flac) -> None:
    provider = GeminiProvider(base_url=server.url)
    server.script(RateLimit(retry_after=None, retry_delay=0.3), RateLimit(retry_after=None))
    with pytest.raises(RateLimitError) as info:
        provider.generate(req(make_flac(1.0)), timeout=5)
    assert info.value.retry_after == pytest.approx(0.3)
    with pytest.raises(RateLimitError) as info:
        provider.generate(req(make_flac(1.0)), timeout=5)
    assert info.value.retry_after is None


def test_server_errors_until_give_up(server, key, make_layer, make_flac) -> None:
    server.script(*[ServerError(500)] * 3)
    [a] = make_layer(max_retries=2).run([req(make_flac(1.0), segment="seg-5")], evaluator="gemini")
    assert not a.ok and "seg-5" in a.error and "500" in a.error and "after 3 attempts" in a.error
    assert isinstance(a.exception, ServiceUnavailableError)
    assert server.count("generate") == 3


def test_timeout_is_retried(server, key, make_layer, make_flac) -> None:
    server.script(Slow(4.0), Reply('{"valence": 0.2}'))
    layer, request = make_layer(timeout=0.4), req(make_flac(1.0))
    layer.provider_for(request)  # build the client first (the SDK's first use takes seconds)
    started = time.monotonic()
    [a] = layer.run([request], evaluator="gemini")
    assert a.ok and a.data == {"valence": 0.2}
    assert time.monotonic() - started < 3.0  # the slow answer was not waited for
    assert server.count("generate") == 2


def test_timeout_until_give_up_is_a_timeout_error(server, key, make_layer, make_flac) -> None:
    server.script(Slow(1.0), Slow(1.0))
    [a] = make_layer(timeout=0.3, max_retries=1).run([req(make_flac(1.0))], evaluator="gemini")
    assert isinstance(a.exception, ServiceTimeoutError)


def test_malformed_json_repaired_on_retry(server, key, make_layer, make_flac) -> None:
    server.script(Malformed('{"valence": 0.3'), Reply('{"valence": 0.3}'))
    [a] = make_layer().run([req(make_flac(1.0))], evaluator="gemini")
    assert a.ok and a.data == {"valence": 0.3}
    first, second = server.generate_calls
    assert "not valid JSON" in second.texts[-1] and '{"valence": 0.3' in second.texts[-1]
    assert second.config["responseJsonSchema"] == SCHEMA and second.audio[0].data == first.audio[0].data


def test_schema_violation_is_a_failure_naming_the_segment(server, key, make_layer, make_flac) -> None:
    server.script(*[Reply('{"valence": 1.5}')] * 3)
    store = Store(None)
    [a] = make_layer(store, repairs=2).run([req(make_flac(1.0), segment="seg-2")], evaluator="gemini")
    assert not a.ok and "seg-2" in a.error and "1.5 is greater than the maximum of 1" in a.error
    assert isinstance(a.exception, InvalidAnswerError)
    assert [r["status"] for r in store.calls()] == ["invalid"] * 3
    assert all(r["cost"] > 0 for r in store.calls())  # invalid answers were paid and are counted


@pytest.mark.parametrize("behaviour, reason", [(Blocked("SAFETY"), "safety"),
                                               (Blocked("PROHIBITED_CONTENT", prompt=True), "prohibited_content")])
def test_safety_block_is_a_failure_with_the_reason(server, key, make_layer, make_flac, behaviour, reason) -> None:
    server.script(behaviour)
    store = Store(None)
    [a] = make_layer(store).run([req(make_flac(1.0), segment="seg-3")], evaluator="gemini")
    assert not a.ok and "seg-3" in a.error and reason in a.error
    assert isinstance(a.exception, BlockedError)
    assert server.count("generate") == 1 and store.calls()[0]["status"] == "blocked"


def test_large_audio_goes_through_the_files_api(server, key, make_layer, make_flac) -> None:
    audio = make_flac(3.0)
    layer = make_layer(options={"inline_limit": 1000})
    requests = [req(audio, seconds=3.0, segment="a", repeat=0), req(audio, seconds=3.0, segment="a", repeat=1)]
    answers = layer.run(requests, evaluator="gemini")
    assert all(a.ok for a in answers)
    assert len(server.files) == 1  # uploaded once, reused
    assert server.count("get") >= 2  # polled: PROCESSING, then ACTIVE
    for call in server.generate_calls:
        assert "fileData" in json.dumps(call.raw) and call.audio[0].data == audio and call.audio[0].file
        assert "inlineData" not in json.dumps(call.raw)
    assert answers[0].usage is not None and answers[0].usage.input_tokens["audio"] == 96
    layer.close()
    assert server.files == {} and len(server.deleted) == 1


def test_uploaded_files_are_kept_when_asked(server, key, make_layer, make_flac) -> None:
    layer = make_layer(keep_files=True, options={"inline_limit": 1000})
    layer.run([req(make_flac(3.0))], evaluator="gemini")
    layer.close()
    assert len(server.files) == 1 and server.deleted == []


def test_invalid_key_raises_authentication_error(key, make_flac) -> None:
    from affectproxy.llm import LLMConfig, LLMLayer

    with FakeGemini(api_key=fake_key()) as strict, LLMLayer(
            None, config=LLMConfig.from_mapping({"gemini": {"base_url": strict.url}})) as layer:
        with pytest.raises(AuthenticationError) as info:
            layer.run([req(make_flac(1.0))], evaluator="gemini")
    assert key not in str(info.value) and "GEMINI_API_KEY" in str(info.value)


def test_permission_denied_raises_authentication_error(server, key, make_layer, make_flac) -> None:
    server.script(Refuse(403, "Method doesn't allow unregistered callers."))
    with pytest.raises(AuthenticationError):
        make_layer().run([req(make_flac(1.0))], evaluator="gemini")


def test_bad_request_is_not_retried(server, key, make_layer, make_flac) -> None:
    server.script(Refuse(400, "Unsupported MIME type: audio/xyz"))
    [a] = make_layer().run([req(make_flac(1.0))], evaluator="gemini")
    assert "Unsupported MIME type" in a.error and server.count("generate") == 1


def test_no_key_fails_before_any_request(server, make_layer, make_flac) -> None:
    with pytest.raises(AuthenticationError, match="GEMINI_API_KEY"):
        make_layer().run([req(make_flac(1.0))], evaluator="gemini")
    assert server.calls == []


def test_thinking_tokens_are_billed_as_output(server, key, make_layer, make_flac) -> None:
    server.script(Reply('{"valence": 0.0}', thoughts=1000))
    [a] = make_layer().run([req(make_flac(1.0))], evaluator="gemini")
    assert a.usage is not None and a.usage.thinking_tokens == 1000
    base = (32 * 1.00 + sum(v for k, v in a.usage.input_tokens.items() if k == "text") * 0.30
            + a.usage.output_tokens * 2.50) / 1e6
    assert a.cost == pytest.approx(base + 1000 * 2.50 / 1e6)


def test_count_tokens(server, key, make_flac) -> None:
    provider = GeminiProvider(base_url=server.url)
    r = req(make_flac(2.0))
    # the system prompt counts as text (the Developer API's countTokens takes none, generateContent bills it)
    assert provider.count_tokens(r) == 64 + -(-len(r.system + r.parts[1].text) // 4)
    usage = provider.generate(r, timeout=10).usage
    assert provider.count_tokens(r) == sum(usage.input_tokens.values())


def test_close_closes_the_sdk_client_and_a_later_call_opens_a_new_one(server, key, make_flac) -> None:
    """Closing releases the SDK client's connections (left open, each one is an unclosed socket at exit)."""
    provider = GeminiProvider(base_url=server.url)
    r = req(make_flac(2.0))
    provider.count_tokens(r)
    first = provider._client
    provider.close()
    with pytest.raises(RuntimeError, match="closed"):  # httpx refuses a closed client
        first.models.count_tokens(model=r.model, contents="x")
    assert provider.count_tokens(r) > 0 and provider._client is not first
    provider.close()


def test_a_misspelt_provider_option_is_refused_with_the_closest_name(key) -> None:
    from affectproxy.llm.providers import ProviderOptionError, build_provider

    with pytest.raises(ProviderOptionError, match=r"Unknown gemini provider option 'inline_limt'\. Did you mean "
                                                  r"'inline_limit'\?"):
        build_provider("gemini", inline_limt=10)
