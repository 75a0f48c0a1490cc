"""Helpers for testing and benchmarking cluster runs (importable on every worker, unlike test modules).

- :class:`Tone`: a small acoustic evaluator (RMS level and peak of the segment) that keeps its own call log, one
  JSON line per segment it computes (process id, segment id, time), and can be slowed down per segment.
- :class:`Echo`: an LLM evaluator, one request per segment to the ``clustertest`` provider.
- :class:`LocalProvider`: the ``clustertest`` provider: answers at once, on this machine, and appends the start
  time of every request to a file (so a test sees every request of every worker process).
- :func:`register_plugins`: registers the provider in this process; give it to Ray as the worker set-up hook
  (``ray.init(runtime_env={"worker_process_setup_hook": "affectproxy.cluster.testing.register_plugins"})``).
- :func:`synthetic_study`: recordings of voiced, harmonic tones with speakers that span recordings.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import affectproxy as ap
from affectproxy.llm import LLMRequest, Part, Price, PriceTable, ProviderResponse, ProviderSpec, Usage

PROVIDER = "clustertest"
#: USD per 1M tokens of the test provider (so costs and budgets are known).
PRICE = Price({"text": 100.0}, 200.0)


def _append(path: str, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:  # one short line per write: appends do not interleave
        fh.write(json.dumps(record) + "\n")


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The JSON lines of a call log (empty when the file does not exist yet)."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


class Tone:
    """RMS level (as ``arousal`` in [-1, 1]) and peak of each segment; logs every segment it computes.

    Args:
        log: the call-log file (JSON lines ``{"pid", "segment", "t"}``); None keeps no log.
        delay: seconds of sleep per segment (to catch a run mid-way).
        name: the instance name.
    """

    sample_rate = 16000
    min_duration = 0.0

    def __init__(self, log: str | None = None, delay: float = 0.0, name: str = "tone") -> None:
        self.name = name
        self.log = log
        self.delay = float(delay)
        self.dimensions = (ap.Dimension("arousal", -1.0, 1.0, "RMS level in dB, scaled"),
                           ap.Dimension("peak", 0.0, 1.0, "largest absolute sample"))

    def fingerprint(self) -> dict[str, Any]:
        return {"evaluator": "tone", "version": 1}

    def evaluate(self, segments: Sequence[ap.Segment]) -> list[ap.EmotionEstimate]:
        out = []
        for seg in segments:
            if self.delay:
                time.sleep(self.delay)
            audio = np.asarray(seg.audio, dtype=np.float64)
            rms = float(np.sqrt(np.mean(audio ** 2))) if len(audio) else 0.0
            db = 20 * np.log10(max(rms, 1e-9))
            peak = min(1.0, float(np.abs(audio).max()))
            out.append(ap.EmotionEstimate(
                seg.id, self.name, {"arousal": float(np.tanh((db + 30) / 20)), "peak": peak},
                raw={"pid": os.getpid()}, arrays={"level": np.array([rms, db], dtype=np.float32)},
            ))
            if self.log:
                _append(self.log, {"pid": os.getpid(), "segment": seg.id, "t": time.time()})
        return out


SCHEMA = {"type": "object", "properties": {"valence": {"type": "number", "minimum": -1, "maximum": 1}},
          "required": ["valence"]}


class Echo:
    """An LLM evaluator: one request per segment (its transcript) to the ``clustertest`` provider."""

    sample_rate = None
    min_duration = 0.0
    needs_text = False

    def __init__(self, name: str = "echo", model: str = "m1") -> None:
        self.name = name
        self.model = model
        self.dimensions = (ap.Dimension("valence"),)

    def fingerprint(self) -> dict[str, Any]:
        return {"evaluator": "echo", "model": self.model}

    def requests(self, segments: Sequence[ap.Segment], context: Any) -> list[LLMRequest]:
        return [LLMRequest(PROVIDER, self.model, [Part("text", text=seg.text)], system="Rate valence.",
                           schema=SCHEMA, temperature=0, segment_ids=(seg.id,), expected_output_tokens=5)
                for seg in segments]

    def read(self, segments: Sequence[ap.Segment], answers: Sequence[Any]) -> list[Any]:
        return [ap.EmotionEstimate(s.id, self.name, {"valence": a.data["valence"]}) if a.ok else ValueError(a.error)
                for s, a in zip(segments, answers, strict=True)]


class LocalProvider:
    """Answers ``{"valence": len(text) / 100}`` (capped at 1) after ``delay`` seconds, using the tokens a budget
    expects (text at ~4 characters per token, 5 out); appends every request's start ``{"t", "pid", "segments"}``
    to ``log``."""

    name = PROVIDER
    can_send = frozenset({"system", "schema", "temperature"})

    def __init__(self, log: str | None = None, delay: float = 0.0) -> None:
        self.log = log
        self.delay = float(delay)

    def generate(self, request: LLMRequest, *, timeout: float) -> ProviderResponse:
        if self.log:
            _append(self.log, {"t": time.time(), "pid": os.getpid(), "segments": list(request.segment_ids)})
        if self.delay:
            time.sleep(self.delay)
        from affectproxy.llm.estimate import estimate_text_tokens

        text = request.parts[-1].text
        usage = Usage({"text": estimate_text_tokens(request)}, 5)  # what a budget reserves: spend is predictable
        return ProviderResponse(json.dumps({"valence": min(1.0, len(text) / 100)}), usage)


class _Plugin:
    @ap.hookimpl
    def affectproxy_llm_providers(self) -> Any:
        yield ProviderSpec(PROVIDER, lambda **options: LocalProvider(**options), prices=PriceTable({"m1": PRICE}))


def register_plugins() -> None:
    """Register the ``clustertest`` provider in this process (once)."""
    from affectproxy.llm.providers import _EXTRA, register

    if not any(name == "affectproxy-cluster-testing" for _, name in _EXTRA):
        register(_Plugin(), "affectproxy-cluster-testing")


def _voice(rng: np.random.Generator, seconds: float, f0: float, level: float, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    glide = f0 * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(glide) / sr
    wave = sum((0.6 ** k) * np.sin(k * phase) for k in range(1, 6))
    env = 0.5 * (1 - np.cos(2 * np.pi * np.clip(t / seconds, 0, 1)))
    return (level * env * wave / 2.5 + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


def synthetic_study(folder: str | Path, recordings: int = 20, per_recording: int = 3, seconds: float = 1.0,
                    speakers: int = 4, seed: int = 0) -> list[ap.Segment]:
    """Write ``recordings`` FLAC files of voiced tones (pitch and level vary per segment) and return their
    segments; speaker ``s{k}`` talks in every ``speakers``-th recording and in the last segment of the next one,
    so group-wise evaluators see speakers that span recordings."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    segments = []
    for r in range(recordings):
        path = folder / f"rec{r:03d}.flac"
        parts, pos = [], 0.0
        rec = ap.Recording(f"rec{r:03d}", str(path))
        for i in range(per_recording):
            speaker = f"s{(r + (1 if i == per_recording - 1 else 0)) % speakers}"
            audio = _voice(rng, seconds, f0=rng.uniform(90, 260), level=rng.uniform(0.05, 0.6))
            parts.append(audio)
            text = f"r{r:03d}-{i} " + "w" * (5 + 7 * i)
            segments.append(ap.Segment(f"r{r:03d}-{i}", rec, pos, pos + seconds, text=text, speaker=speaker))
            pos += seconds
        sf.write(path, np.concatenate(parts), 16000, format="FLAC")
    return segments


__all__ = ["PRICE", "PROVIDER", "Echo", "LocalProvider", "Tone", "read_log", "register_plugins", "synthetic_study"]
