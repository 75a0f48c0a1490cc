"""Fixtures: the local Gemini server, a fake key built at run time, real FLAC audio, a layer pointed at the server.

The real google-genai client talks HTTP to :class:`affectproxy_gemini.testing.FakeGemini` on 127.0.0.1: nothing
of the SDK or of our code is mocked.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import soundfile as sf

import affectproxy as ap
from affectproxy.llm import LLMConfig, LLMLayer
from affectproxy.store import Store
from affectproxy_gemini.testing import FakeGemini, fake_key

_CLEARED = ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GEMINI_BASE_URL",
            "GOOGLE_GENAI_API_VERSION", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY",
            "all_proxy")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh fake key in GEMINI_API_KEY."""
    value = fake_key()
    monkeypatch.setenv("GEMINI_API_KEY", value)
    return value


@pytest.fixture
def server() -> Iterator[FakeGemini]:
    with FakeGemini() as s:
        yield s


def tone(seconds: float, rate: int = 16000, freq: float = 220.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def flac(seconds: float, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, tone(seconds, seed=seed), 16000, format="FLAC")
    return buf.getvalue()


@pytest.fixture
def make_layer(server: FakeGemini) -> Iterator[Callable[..., LLMLayer]]:
    """``make_layer(store=None, **gemini_settings)``: a layer whose gemini provider talks to the server, with
    fast retries."""
    made: list[LLMLayer] = []

    def make(store: Store | None = None, **settings: Any) -> LLMLayer:
        table = {"base_url": server.url, "backoff": 0.01, "backoff_max": 0.05, "jitter": False, **settings}
        layer = LLMLayer(store, config=LLMConfig.from_mapping({"gemini": table}))
        made.append(layer)
        return layer

    yield make
    for layer in made:
        layer.close()


class Context:
    """What the engine gives an LLM evaluator (neighbours within a recording; whole-recording audio)."""

    def __init__(self, segments: list[ap.Segment], audio: dict[str, np.ndarray]) -> None:
        self.segments = segments
        self.audio = audio

    def neighbours(self, seg: ap.Segment) -> tuple[ap.Segment | None, ap.Segment | None]:
        same = sorted((s for s in self.segments if s.recording.id == seg.recording.id), key=lambda s: s.start)
        i = [s.id for s in same].index(seg.id)
        return (same[i - 1] if i else None, same[i + 1] if i + 1 < len(same) else None)

    def recording_audio(self, recording_id: str) -> np.ndarray:
        return self.audio[recording_id]


@pytest.fixture
def speech() -> tuple[list[ap.Segment], dict[str, np.ndarray]]:
    """Two recordings: 'talk' (6 segments over 12 s) and 'other' (2 segments), with audio filled."""
    audio = {"talk": tone(12.0, seed=1), "other": tone(4.0, freq=330, seed=2)}
    talk, other = ap.Recording("talk"), ap.Recording("other")
    texts = ["Good morning.", "We have failed you.", "", "This is a disgrace!", "Thank you all.", "Really."]
    segs = [ap.Segment(f"t{i}", talk, 2.0 * i, 2.0 * i + 1.8, text=t) for i, t in enumerate(texts)]
    segs += [ap.Segment("o0", other, 0.0, 2.0, text="Another speech."), ap.Segment("o1", other, 2.0, 4.0, text="Yes.")]
    for i, s in enumerate(segs):
        a = audio[s.recording.id]
        segs[i] = ap.Segment(s.id, s.recording, s.start, s.end, text=s.text,
                             audio=a[round(s.start * 16000):round(s.end * 16000)])
    return segs, audio


@pytest.fixture
def make_flac() -> Callable[..., bytes]:
    """``make_flac(seconds, seed=0)``: FLAC bytes of a noisy tone."""
    return flac


@pytest.fixture
def make_context() -> type[Context]:
    """``make_context(segments, audio_by_recording)``: a request context like the engine's."""
    return Context
