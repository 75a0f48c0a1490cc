"""Fixtures for the cost tests: the local Gemini server (real google-genai client over HTTP on 127.0.0.1), a fake
key built at run time, and a real WAV file with segments over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import affectproxy as ap
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
    value = fake_key()
    monkeypatch.setenv("GEMINI_API_KEY", value)
    return value


@pytest.fixture
def server() -> Iterator[FakeGemini]:
    with FakeGemini() as s:
        yield s


def write_speech(folder: Path, n: int = 8, *, length: float = 1.5) -> list[ap.Segment]:
    """``n`` segments of ``length`` seconds, 2 s apart, over one real 16 kHz WAV file, with transcripts of
    different lengths."""
    rate = 16000
    rng = np.random.default_rng(5)
    audio = (0.2 * rng.standard_normal(rate * 2 * n)).astype(np.float32)
    path = folder / "speech.wav"
    sf.write(path, audio, rate)
    rec = ap.Recording("speech", str(path))
    return [ap.Segment(f"s{i:02d}", rec, 2.0 * i, 2.0 * i + length, text="Sentence number " + "x" * (3 * i) + ".")
            for i in range(n)]


@pytest.fixture
def speech(tmp_path: Path) -> list[ap.Segment]:
    return write_speech(tmp_path)
