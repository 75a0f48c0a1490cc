"""The gemini provider's batch methods with the real google-genai client against the local server's batch
endpoints: job states, answers matched back by cache key, per-request errors, expiry, cancel, audio inline."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from affectproxy.errors import ServiceError
from affectproxy.llm.types import LLMRequest, Part, ProviderResponse
from affectproxy_gemini.provider import GeminiProvider
from affectproxy_gemini.testing import FakeGemini, RateLimit, Reply


def flac(seconds: float) -> bytes:
    buf = io.BytesIO()
    t = np.arange(round(seconds * 16000)) / 16000
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000, format="FLAC")
    return buf.getvalue()

SCHEMA = {"type": "object", "properties": {"v": {"type": "number", "minimum": 0, "maximum": 1}}, "required": ["v"]}


def requests(n: int) -> list[LLMRequest]:
    return [LLMRequest("gemini", "gemini-2.5-flash", [Part("text", text=f"question {i}"),
                                                      Part("audio", data=flac(1.0 + i), mime_type="audio/flac")],
                       system="rate it", schema=SCHEMA, temperature=0.0, segment_ids=(f"s{i}",)) for i in range(n)]


def test_states_then_answers_by_key(server: FakeGemini, key: str) -> None:
    server.batch_pending_polls, server.batch_running_polls = 2, 1
    server.script(Reply('{"v": 0.1}'), RateLimit(), Reply('{"v": 0.3}'))
    provider = GeminiProvider(base_url=server.url)
    reqs = requests(3)
    job = provider.submit_batch(reqs)
    states = [provider.poll_batch(job)[0] for _ in range(4)]
    assert states == ["pending", "pending", "running", "succeeded"]
    assert provider.poll_batch(job) == ("succeeded", 3, 3)
    got = provider.batch_results(job)
    first, second, third = (got[r.cache_key()] for r in reqs)
    assert isinstance(first, ProviderResponse) and first.text == '{"v": 0.1}'
    assert isinstance(third, ProviderResponse) and third.text == '{"v": 0.3}'
    assert isinstance(second, ServiceError) and "HTTP 429" in str(second) and key not in str(second)
    # what was sent: one job, each request's system prompt, schema, temperature and audio (32 tokens/s)
    [fake] = server.batches
    assert fake.keys == [r.cache_key() for r in reqs] and server.count("generate") == 0
    assert [c.system for c in server.generate_calls] == ["rate it"] * 3
    assert [c.audio[0].seconds for c in server.generate_calls] == [1.0, 2.0, 3.0]
    assert all(c.schema == SCHEMA and c.config["temperature"] == 0.0 for c in server.generate_calls)
    assert first.usage.input_tokens["audio"] == 32


def test_expired_and_cancelled(server: FakeGemini, key: str) -> None:
    server.expire_next_batch()
    provider = GeminiProvider(base_url=server.url)
    job = provider.submit_batch(requests(1))
    assert [provider.poll_batch(job)[0] for _ in range(3)][-1] == "expired"
    assert provider.batch_results(job) == {}
    job2 = provider.submit_batch(requests(1))
    provider.cancel_batch(job2)
    assert provider.poll_batch(job2)[0] == "cancelled" and server.count("batch_cancel") == 1
