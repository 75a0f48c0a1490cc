"""Fixtures for batch mode: the local Gemini server (real google-genai client, nothing mocked), a fake key built at
run time, real audio in tmp_path, and an answer that depends on what was asked (so online and batch runs can be
compared answer for answer)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

import affectproxy as ap
from affectproxy_gemini.testing import FakeGemini, GenerateCall, example_answer, fake_key

_CLEARED = ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GEMINI_BASE_URL",
            "GOOGLE_GENAI_API_VERSION", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY",
            "all_proxy", "AFFECTPROXY_BATCH_POLL_SECONDS")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = fake_key()
    monkeypatch.setenv("GEMINI_API_KEY", value)
    return value


def _fraction(text: str, salt: str) -> float:
    return int(hashlib.sha256((salt + text).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def varied(call: GenerateCall) -> Any:
    """A valid answer whose numbers depend on the request's text (the same request always gets the same answer)."""
    answer = example_answer(call.schema)
    props = (call.schema or {}).get("properties", {})
    for name, sub in props.items():
        if isinstance(sub, dict) and sub.get("type") == "number" and "minimum" in sub and "maximum" in sub:
            lo, hi = sub["minimum"], sub["maximum"]
            answer[name] = round(lo + (hi - lo) * _fraction(call.text, name), 4)
    return answer


@pytest.fixture
def server() -> Iterator[FakeGemini]:
    with FakeGemini(varied) as s:
        yield s


def write_speech(folder: Path, n: int) -> list[ap.Segment]:
    rate = 16000
    rng = np.random.default_rng(5)
    audio = (0.2 * rng.standard_normal(rate * 2 * n)).astype(np.float32)
    path = folder / "speech.wav"
    sf.write(path, audio, rate)
    rec = ap.Recording("speech", str(path))
    return [ap.Segment(f"s{i:02d}", rec, 2.0 * i, 2.0 * i + 1.5, text=f"Sentence number {i}.") for i in range(n)]


@pytest.fixture
def speech(tmp_path: Path) -> list[ap.Segment]:
    return write_speech(tmp_path, 6)


class TextRater:
    """A minimal LLM evaluator asking ``provider``/``model`` one text request per segment for a valence."""

    name = "rater"
    dimensions = (ap.Dimension("valence", -1, 1),)
    sample_rate = None
    min_duration = 0.0

    def __init__(self, provider: str, model: str) -> None:
        self.provider, self.model = provider, model

    def fingerprint(self) -> dict[str, Any]:
        return {"type": "rater"}

    def evaluate(self, segments: Any) -> list[Any]:
        raise NotImplementedError("an LLM evaluator: the engine calls requests() and read()")

    def requests(self, segments: Any, context: Any) -> list[Any]:
        from affectproxy.llm.types import LLMRequest, Part

        return [LLMRequest(self.provider, self.model, [Part("text", text=s.text)], schema={"type": "object"},
                           segment_ids=(s.id,)) for s in segments]

    def read(self, segments: Any, answers: Any) -> list[Any]:
        return [ap.EmotionEstimate(s.id, "rater", {"valence": a.data["valence"]})
                for s, a in zip(segments, answers, strict=True)]


@pytest.fixture
def text_rater() -> type[TextRater]:
    """:class:`TextRater`, to build with a provider and model name."""
    return TextRater
