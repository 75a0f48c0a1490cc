"""The ``gemini`` evaluator: Gemini hears speech with its transcript and rates arousal, valence, an open-ended
emotion word and the rhetorical function of each segment.

It is an LLM evaluator: it builds :class:`~affectproxy.llm.types.LLMRequest` s and reads answers; the LLM layer
(limits, retries, validation, cache, cost) runs them.

- ``mode="segment"``: one request per segment: its audio, its transcript, and the previous and next transcripts
  of the same recording as context.
- ``mode="speech"`` (as in the study): one request per recording: the whole recording's audio and every
  segment's id, times and transcript; one answer per segment, keyed by id. Recordings longer than ``window``
  seconds are cut into windows, each with ``overlap`` seconds of audio and transcript context on both sides, so
  that each segment is answered exactly once.
- ``prompt="audit"``: the corpus-audit prompt: an open-ended emotion word, a confidence and a rationale from the
  audio alone (``with_text=True`` adds the transcript); it never shows a label set and reports no dimensions.

Examples:
    >>> ev = GeminiEvaluator(mode="speech")
    >>> ev.group_by, ev.audio_scope, [d.name for d in ev.dimensions]
    ('recording', 'recording', ['arousal', 'valence'])
"""

from __future__ import annotations

import collections
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from affectproxy.errors import AffectProxyError, AudioError
from affectproxy.evaluator import CheckResult
from affectproxy.llm.types import LLMAnswer, LLMRequest, Part, RequestContext
from affectproxy.model import Dimension, EmotionEstimate, Segment
from affectproxy_gemini.prompts import Prompt, audit_schema, load_prompt, rating_schema, speech_schema, tagged

if TYPE_CHECKING:
    from affectproxy.llm.config import LLMConfig

DEFAULT_MODEL = "gemini-2.5-flash"
OUTPUT_VERSION = 1
SAMPLE_RATE = 16000
MODES = ("segment", "speech")


class GeminiAnswerError(AffectProxyError):
    """Gemini gave no usable answer for a segment (the message says why)."""


def _encode(samples: np.ndarray, rate: int, source: str) -> bytes:
    from affectproxy.audio import encode_audio

    return encode_audio(samples, rate, "flac", source=source)


def _mode(values: list[str]) -> str:
    """The most common value (the first seen among ties)."""
    counts = collections.Counter(values)
    best = max(counts.values())
    return next(v for v in values if counts[v] == best)


class GeminiEvaluator:
    """Gemini as a rater (see the module docstring).

    Args:
        model: the Gemini model id (default ``gemini-2.5-flash``).
        mode: ``"segment"`` (default) or ``"speech"``.
        temperature: sampling temperature (default 0).
        seed: sampling seed (best effort on Google's side; default None).
        thinking_budget: thinking tokens allowed (default 0: off; thinking is billed as output, $2.50 per 1M
            tokens for gemini-2.5-flash; None leaves the model's own dynamic default).
        prompt: None (the built-in prompt of the mode), ``"audit"``, or a TOML prompt file path.
        api_version: the REST API version (default ``v1beta``; see the provider).
        base_url: another endpoint (a proxy, a local test server).
        repeats: ask k times (each answer paid and cached apart) and keep each answer: values are the mean,
            labels the most common answer, and ``arrays`` hold every repeat (``arousal_repeats``, ...) for
            test-retest reliability.
        window: speech mode: the longest stretch of a recording (seconds) rated in one request (default 300).
        overlap: speech mode: seconds of context audio and transcript on each side of a window (default 30).
        with_text: send the transcript (default True for ratings, False for the audit prompt).
        max_output_tokens: a limit on the answer's length (default None: the model's own).
        name: the instance label (default ``"gemini"``).
    """

    sample_rate = SAMPLE_RATE
    min_duration = 0.1

    def __init__(self, *, model: str = DEFAULT_MODEL, mode: str = "segment", temperature: float | None = 0.0,
                 seed: int | None = None, thinking_budget: int | None = 0, prompt: str | Path | None = None,
                 api_version: str | None = None, base_url: str | None = None, repeats: int = 1,
                 window: float = 300.0, overlap: float = 30.0, with_text: bool | None = None,
                 max_output_tokens: int | None = None, name: str = "gemini") -> None:
        if mode not in MODES:
            raise ValueError(f"gemini: mode must be 'segment' or 'speech', got {mode!r}.")
        if int(repeats) < 1:
            raise ValueError(f"gemini: repeats must be >= 1, got {repeats!r}.")
        if window <= 0 or overlap < 0:
            raise ValueError(f"gemini: window must be > 0 and overlap >= 0 seconds, got {window!r}, {overlap!r}.")
        self.name = name
        self.model = model
        self.mode = mode
        self.temperature = None if temperature is None else float(temperature)
        self.seed = None if seed is None else int(seed)
        self.thinking_budget = None if thinking_budget is None else int(thinking_budget)
        self.prompt: Prompt = load_prompt(prompt if prompt is not None else mode)
        if self.prompt.kind == "audit" and mode != "segment":
            raise ValueError("gemini: the audit prompt rates one recording or segment at a time; use mode='segment'.")
        self.api_version = api_version
        self.base_url = base_url
        self.repeats = int(repeats)
        self.window = float(window)
        self.overlap = float(overlap)
        self.with_text = (self.prompt.kind == "rating") if with_text is None else bool(with_text)
        self.max_output_tokens = max_output_tokens
        self.group_by = "recording" if mode == "speech" else None
        self.audio_scope = "recording" if mode == "speech" else "segment"
        self.batch_size = 1

    # -- the evaluator contract ------------------------------------------------------------------------------
    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        if self.prompt.kind == "audit":
            return ()
        return (Dimension("arousal", 0.0, 1.0, "activation judged by Gemini: 0 calm, 1 highly excited"),
                Dimension("valence", -1.0, 1.0, "pleasantness judged by Gemini: -1 very negative, 1 very positive"))

    def fingerprint(self) -> dict[str, Any]:
        sent = ["audio", "schema", "system"] + [n for n, v in (("temperature", self.temperature), ("seed", self.seed),
                                                                ("max_output_tokens", self.max_output_tokens),
                                                                ("thinking_budget", self.thinking_budget))
                                                 if v is not None]
        fp: dict[str, Any] = {
            "evaluator": "gemini", "output_version": OUTPUT_VERSION, "provider": "gemini", "model": self.model,
            "mode": self.mode, "prompt": self.prompt.name, "prompt_version": self.prompt.version,
            "prompt_sha256": self.prompt.sha256, "temperature": self.temperature, "seed": self.seed,
            "thinking_budget": self.thinking_budget, "max_output_tokens": self.max_output_tokens,
            "repeats": self.repeats, "with_text": self.with_text, "sample_rate": self.sample_rate,
            "audio": "flac/PCM_16", "sent": sorted(sent),
        }
        if self.mode == "speech":
            fp.update(window=self.window, overlap=self.overlap)
        return fp

    def check(self, llm: LLMConfig | None = None) -> CheckResult:
        """Whether a Gemini key is set: in the run's LLM settings (``llm={"gemini": {"api_key": ...}}``) or the
        environment (GOOGLE_API_KEY or GEMINI_API_KEY)."""
        from affectproxy_gemini.plugin import check_key

        if llm is not None and llm.provider("gemini").api_key:
            return CheckResult(True)
        return check_key()

    def evaluate(self, segments: Sequence[Segment]) -> list[EmotionEstimate]:
        raise AffectProxyError(
            f"{self.name!r} is an LLM evaluator: run it with affectproxy.evaluate (which drives requests() and "
            "read() through the LLM layer), not evaluate()."
        )

    # -- requests --------------------------------------------------------------------------------------------
    def _request(self, parts: list[Part], schema: dict[str, Any], ids: tuple[str, ...], tag: str, expected: int,
                 repeat: int) -> LLMRequest:
        provider_options = {k: v for k, v in (("api_version", self.api_version), ("base_url", self.base_url))
                            if v is not None}
        options = {} if self.thinking_budget is None else {"thinking_budget": self.thinking_budget}
        return LLMRequest(
            "gemini", self.model, parts, system=self.prompt.system, schema=schema, temperature=self.temperature,
            seed=self.seed, max_output_tokens=self.max_output_tokens, options=options,
            provider_options=provider_options, segment_ids=ids, tag=tag, prompt_version=self.prompt.sha256,
            expected_output_tokens=expected, repeat=repeat,
        )

    def _format(self, **values: Any) -> str:
        rhetoric = ", ".join(self.prompt.rhetoric)
        try:
            return self.prompt.instructions.format(rhetoric=rhetoric, **values)
        except (KeyError, IndexError, ValueError) as exc:
            raise AffectProxyError(
                f"gemini prompt {self.prompt.name!r}: the instructions use a placeholder it cannot fill ({exc}); "
                "use {rhetoric} (and {start}, {end} in speech mode), and double other braces."
            ) from None

    def requests(self, segments: Sequence[Segment], context: RequestContext) -> list[LLMRequest]:
        """The requests for these segments (``repeats`` per segment, or per window in speech mode)."""
        if self.mode == "speech":
            return self._speech_requests(segments, context)
        out = []
        for seg in segments:
            if seg.audio is None:
                raise AudioError(f"gemini: segment {seg.id!r} has no audio; run it through affectproxy.evaluate, "
                                 "which fills each segment's audio.")
            audio = _encode(seg.audio, self.sample_rate, seg.id)
            text = self._format(start="0", end=f"{seg.duration:.1f}")
            if self.with_text:
                if self.prompt.kind == "audit":
                    text += "\n\n" + tagged("transcript", seg.text)
                else:
                    prev, nxt = context.neighbours(seg)
                    text += "\n\n" + "\n".join([
                        tagged("previous_transcript", prev.text if prev is not None else ""),
                        tagged("transcript", seg.text),
                        tagged("next_transcript", nxt.text if nxt is not None else ""),
                    ])
            parts = [Part("audio", data=audio, mime_type="audio/flac", seconds=seg.duration), Part("text", text=text)]
            schema = audit_schema() if self.prompt.kind == "audit" else rating_schema(self.prompt.rhetoric)
            out += [self._request(parts, schema, (seg.id,), self.prompt.kind if self.prompt.kind == "audit"
                                  else "segment", 160, r) for r in range(self.repeats)]
        return out

    @staticmethod
    def _recording(pending: Sequence[Segment], context: RequestContext) -> list[Segment]:
        """Every segment of the recording (walking the neighbours), in time order."""
        seen: dict[str, Segment] = {s.id: s for s in pending}
        for start in pending[:1]:
            for direction in (0, 1):
                cur: Segment | None = context.neighbours(start)[direction]
                while cur is not None and cur.id not in seen:
                    seen[cur.id] = cur
                    cur = context.neighbours(cur)[direction]
        return sorted(seen.values(), key=lambda s: (s.start, s.end))

    def windows(self, every: Sequence[Segment], pending: Sequence[Segment], duration: float | None
                ) -> list[tuple[float, float, list[Segment], list[Segment]]]:
        """(start, end, targets, shown) per request: targets are the pending segments starting in the same
        ``window``-second stretch; the audio spans them plus ``overlap`` seconds each side; shown are every
        segment overlapping that span (targets and context)."""
        groups: dict[int, list[Segment]] = {}
        for seg in pending:
            groups.setdefault(int(seg.start // self.window), []).append(seg)
        out = []
        for _, targets in sorted(groups.items()):
            start = max(0.0, min(s.start for s in targets) - self.overlap)
            end = max(s.end for s in targets) + self.overlap
            if duration is not None:
                end = min(end, duration)
            ids = {s.id for s in targets}
            shown = [s for s in every if s.id in ids or (s.end > start and s.start < end)]
            out.append((start, end, sorted(targets, key=lambda s: s.start), shown))
        return out

    def _speech_requests(self, segments: Sequence[Segment], context: RequestContext) -> list[LLMRequest]:
        by_rec: dict[str, list[Segment]] = {}
        for seg in segments:
            by_rec.setdefault(seg.recording.id, []).append(seg)
        out = []
        for rec_id, pending in by_rec.items():
            every = self._recording(pending, context)
            audio = np.asarray(context.recording_audio(rec_id), dtype=np.float32)
            duration = len(audio) / self.sample_rate
            for start, end, targets, shown in self.windows(every, pending, duration):
                clip = audio[round(start * self.sample_rate):round(end * self.sample_rate)]
                if not len(clip):
                    raise AudioError(f"gemini: recording {rec_id!r} has no audio from {start:.1f} s to {end:.1f} s "
                                     f"(it is {duration:.1f} s long); check the segment times.")
                data = _encode(clip, self.sample_rate, f"recording:{rec_id}")
                target_ids = {s.id for s in targets}
                lines = [
                    tagged("segment", s.text if self.with_text else "", id=s.id,
                           start=f"{max(0.0, s.start - start):.2f}", end=f"{min(end, s.end) - start:.2f}",
                           rate="yes" if s.id in target_ids else "no")
                    for s in shown
                ]
                text = self._format(start=f"{start:.1f}", end=f"{end:.1f}") + "\n\n" + "\n".join(lines)
                ids = tuple(s.id for s in targets)
                parts = [Part("audio", data=data, mime_type="audio/flac", seconds=len(clip) / self.sample_rate),
                         Part("text", text=text)]
                schema = speech_schema(list(ids), self.prompt.rhetoric)
                out += [self._request(parts, schema, ids, "speech", 140 * len(ids), r) for r in range(self.repeats)]
        return out

    # -- answers ---------------------------------------------------------------------------------------------
    def read(self, segments: Sequence[Segment], answers: Sequence[LLMAnswer]
             ) -> list[EmotionEstimate | BaseException]:
        """One estimate per segment (or the reason it has none), in order; answers are matched to segments by
        the ids in each request, never by position in an answer."""
        items: dict[str, list[tuple[dict[str, Any], LLMAnswer]]] = {s.id: [] for s in segments}
        failed: dict[str, BaseException] = {}
        for answer in answers:
            for sid in answer.request.segment_ids:
                if sid not in items:
                    continue
                if not answer.ok:
                    failed.setdefault(sid, answer.exception or GeminiAnswerError(answer.error))
                    continue
                item = answer.data[sid] if self.mode == "speech" else answer.data
                items[sid].append((item, answer))
        out: list[EmotionEstimate | BaseException] = []
        for seg in segments:
            if seg.id in failed:
                out.append(failed[seg.id])
            elif len(items[seg.id]) != self.repeats:
                out.append(GeminiAnswerError(
                    f"gemini: segment {seg.id!r}: {len(items[seg.id])} answers where {self.repeats} were asked for."))
            else:
                out.append(self._estimate(seg, items[seg.id]))
        return out

    def _estimate(self, seg: Segment, items: list[tuple[dict[str, Any], LLMAnswer]]) -> EmotionEstimate:
        datas = [d for d, _ in items]
        versions = sorted({a.model_version for _, a in items if a.model_version})
        labels = {"emotion": _mode([str(d["emotion"]).strip().lower() for d in datas])}
        values: dict[str, float] = {}
        arrays: dict[str, np.ndarray] = {}
        if self.prompt.kind == "rating":
            labels["rhetoric"] = _mode([str(d["rhetoric"]) for d in datas])
            values = {k: statistics.fmean(float(d[k]) for d in datas) for k in ("arousal", "valence")}
        confidence = statistics.fmean(float(d["confidence"]) for d in datas)
        if self.repeats > 1:
            keys = ("arousal", "valence", "confidence") if self.prompt.kind == "rating" else ("confidence",)
            arrays = {f"{k}_repeats": np.array([float(d[k]) for d in datas]) for k in keys}
        raw: dict[str, Any] = {"answers": datas, "model_version": ",".join(versions),
                               "cached": [a.cached for _, a in items]}
        return EmotionEstimate(seg.id, self.name, values, confidence=confidence, rationale=str(datas[0]["rationale"]),
                               raw=raw, arrays=arrays, labels=labels)


__all__ = ["DEFAULT_MODEL", "GeminiAnswerError", "GeminiEvaluator"]
