"""The run engine: resuming, per-segment failure isolation, checks before the evaluator, grouping."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import affectproxy as ap
from affectproxy.store import Store


class Recorder:
    """A real evaluator that logs what it is given; can be told to fail or misbehave on chosen segments."""

    min_duration = 0.0

    def __init__(self, name: str = "rec", sample_rate: int | None = 16000, *, fail_on: set[str] | None = None,
                 nan_on: set[str] | None = None, batch_size: int = 4, group_by: str | None = None,
                 needs_text: bool = False, min_duration: float = 0.0) -> None:
        self.name = name
        self.sample_rate = sample_rate
        self.dimensions = (ap.Dimension("arousal"), ap.Dimension("rms", 0, 1))
        self.fail_on, self.nan_on = fail_on or set(), nan_on or set()
        self.batch_size, self.group_by, self.needs_text, self.min_duration = batch_size, group_by, needs_text, \
            min_duration
        self.calls: list[list[str]] = []
        self.audio: dict[str, np.ndarray] = {}

    def fingerprint(self) -> dict[str, object]:
        return {"evaluator": "recorder", "rate": self.sample_rate}

    def evaluate(self, segments):
        self.calls.append([s.id for s in segments])
        out = []
        for s in segments:
            if s.id in self.fail_on:
                raise RuntimeError(f"backend exploded on {s.id}")
            rms = 0.0 if s.audio is None else float(np.sqrt(np.mean(s.audio**2)))
            if s.audio is not None:
                self.audio[s.id] = s.audio
            value = math.nan if s.id in self.nan_on else min(1.0, rms * 5)
            out.append(ap.EmotionEstimate(s.id, self.name, {"arousal": value, "rms": rms}))
        return out


def segments(path: Path, n: int = 6, speaker=None) -> list[ap.Segment]:
    rec = ap.Recording("speech", str(path))
    return [ap.Segment(f"s{i + 1}", rec, i, i + 1, text=f"Satz {i + 1}",
                       speaker=None if speaker is None else speaker(i)) for i in range(n)]


def test_rerun_skips_done_and_retries_only_failures(speech_wav: Path, tmp_path: Path) -> None:
    store = tmp_path / "study.sqlite"
    segs = segments(speech_wav)
    first = Recorder(fail_on={"s3"})
    res = ap.evaluate(segs, [first], store=store, progress=False)
    assert first.calls[0] == ["s1", "s2", "s3", "s4"]  # the batch that raised ...
    assert ["s1"] in first.calls and ["s4"] in first.calls  # ... was rerun one by one
    assert [f.segment_id for f in res.failures] == ["s3"]
    assert "backend exploded on s3" in res.failures[0].message and res.failures[0].error_type == "RuntimeError"
    assert sorted(e.segment_id for e in res.estimates) == ["s1", "s2", "s4", "s5", "s6"]

    second = Recorder()  # same fingerprint, fixed backend
    res2 = ap.evaluate(segs, [second], store=store, progress=False)
    assert second.calls == [["s3"]]
    assert res2.failures == [] and len(res2.estimates) == 6
    third = Recorder()
    ap.evaluate(segs, [third], store=store, progress=False)
    assert third.calls == []


def test_audio_is_float32_mono_at_the_declared_rate(speech_wav: Path) -> None:
    ev = Recorder(sample_rate=8000)
    ap.evaluate(segments(speech_wav, 2), [ev], progress=False)
    assert ev.audio["s1"].dtype == np.float32 and ev.audio["s1"].shape == (8000,)
    # the tone's level steps up each second: 0.05, then 0.10
    assert ev.audio["s2"].std() == pytest.approx(2 * ev.audio["s1"].std(), rel=0.02)


def test_bad_segments_fail_alone_with_clear_messages(speech_wav: Path) -> None:
    rec = ap.Recording("speech", str(speech_wav))
    segs = [
        ap.Segment("ok", rec, 0, 1, text="Gut."),
        ap.Segment("short", rec, 1, 1.1, text="Ja."),
        ap.Segment("silent-text", rec, 2, 3, text=""),
        ap.Segment("past-end", rec, 5.5, 9.0, text="Zu lang."),
        ap.Segment("nan", rec, 3, 4, text="Nichts."),
        ap.Segment("no-audio", ap.Recording("other"), 0, 1, text="Kein Ton."),
    ]
    ev = Recorder(nan_on={"nan"}, needs_text=True, min_duration=0.5)
    res = ap.evaluate(segs, [ev], progress=False)
    assert [e.segment_id for e in res.estimates] == ["ok"]
    msgs = {f.segment_id: f.message for f in res.failures}
    assert set(msgs) == {"short", "silent-text", "past-end", "nan", "no-audio"}
    assert "shorter than 'rec''s minimum of 0.5 s" in msgs["short"]
    assert "empty transcript" in msgs["silent-text"]
    assert "speech.wav" in msgs["past-end"] and "past-end" in msgs["past-end"]
    assert "arousal=nan" in msgs["nan"] and "rather than return NaN" in msgs["nan"]
    assert "no audio file" in msgs["no-audio"] and "audio=" in msgs["no-audio"]
    seen = [sid for call in ev.calls for sid in call]
    assert "short" not in seen and "silent-text" not in seen and "past-end" not in seen


def test_contract_violations_are_recorded_per_segment(speech_wav: Path) -> None:
    class Sloppy(Recorder):
        def evaluate(self, segments):
            out = super().evaluate(segments)
            return [ap.EmotionEstimate(e.segment_id, self.name, {"valence": 0.1}) if e.segment_id == "s2" else e
                    for e in out]

    res = ap.evaluate(segments(speech_wav, 3), [Sloppy()], progress=False)
    assert [f.segment_id for f in res.failures] == ["s2"]
    assert "dimension 'valence'" in res.failures[0].message and "declare" in res.failures[0].message

    class Short(Recorder):
        def evaluate(self, segments):
            return super().evaluate(segments)[:-1] if len(segments) > 1 else super().evaluate(segments)

    res = ap.evaluate(segments(speech_wav, 3), [Short()], progress=False)
    assert res.failures == [] and len(res.estimates) == 3  # the batch was rerun one by one


def test_groups_are_handed_whole(speech_wav: Path, tmp_path: Path) -> None:
    segs = segments(speech_wav, 6, speaker=lambda i: "A" if i % 2 == 0 else "B")
    ev = Recorder(group_by="speaker", batch_size=2)
    ap.evaluate(segs, [ev], store=tmp_path / "g.sqlite", progress=False)
    assert ev.calls == [["s1", "s3", "s5"], ["s2", "s4", "s6"]]


def test_run_wide_errors_raise(speech_wav: Path, tmp_path: Path) -> None:
    segs = segments(speech_wav, 2)
    with pytest.raises(ap.InvalidSegmentError, match=r"Duplicate segment ids: \['s1'\]"):
        ap.evaluate([*segs, segs[0]], [Recorder()], progress=False)
    with pytest.raises(ap.AffectProxyError, match=r"Two evaluators are named 'rec'.*name="):
        ap.evaluate(segs, [Recorder(), Recorder()], progress=False)
    with pytest.raises(ap.StoreError, match=r"Cannot open the result store"):
        ap.evaluate(segs, [Recorder()], store=tmp_path, progress=False)
    store = tmp_path / "s.sqlite"
    ap.evaluate(segs, [Recorder()], store=store, progress=False)
    moved = [ap.Segment("s1", segs[0].recording, 0.5, 1.0)]
    with pytest.raises(ap.StoreError, match=r"Segment 's1' is already in .* new ids"):
        ap.evaluate(moved, [Recorder()], store=store, progress=False)


def test_secrets_never_reach_the_store(speech_wav: Path) -> None:
    class Leaky(Recorder):
        def fingerprint(self):
            return {"model": "x", "api_key": "AIza-secret"}

    with pytest.raises(ap.StoreError, match="'api_key' looks like a secret"):
        ap.evaluate(segments(speech_wav, 1), [Leaky()], progress=False)


def test_results_tables(speech_wav: Path, tmp_path: Path) -> None:
    table = tmp_path / "human.csv"
    table.write_text("segment_id,arousal\ns1,0.5\ns2,\ns3,-0.5\n")
    segs = segments(speech_wav, 3)
    store = tmp_path / "r.sqlite"
    res = ap.evaluate(segs, [Recorder(), {"type": "table", "path": table, "name": "human"}], store=store,
                      progress=False)
    tidy = res.to_pandas()
    assert list(tidy.columns) == ["segment_id", "recording", "start", "end", "speaker", "evaluator", "dimension",
                                  "value"]
    assert tidy["segment_id"].tolist()[:5] == ["s1", "s1", "s1", "s2", "s2"]
    wide = res.wide()
    assert list(wide.index) == ["s1", "s2", "s3"]
    assert list(wide.columns) == ["rec.arousal", "rec.rms", "human.arousal"]
    assert math.isnan(wide.loc["s2", "human.arousal"]) and wide.loc["s3", "human.arousal"] == -0.5
    again = ap.open_results(store)
    assert again.wide().equals(wide)
    with Store(store) as db:
        assert [r.name for r in db.evaluators()] == ["rec", "human"]


def test_secret_detection_is_by_field_name_not_substring() -> None:
    from affectproxy.hashing import check_no_secrets

    check_no_secrets({"tokens_sha256": "ab12", "max_tokens": 100, "keywords": "x"})
    for name in ("api_key", "GOOGLE_API_KEY", "token", "access_token", "client_secret", "password"):
        with pytest.raises(ap.StoreError, match="looks like a secret"):
            check_no_secrets({"nested": [{name: "s3cr3t"}]})


def test_paid_responses_survive_a_failure_and_are_not_paid_again(tmp_path: Path) -> None:
    """An LLM-like evaluator caches each response as it arrives; a crash later in the batch loses none."""

    class Paid:
        sample_rate = None
        min_duration = 0.0
        batch_size = 10

        def __init__(self, crash_after: int | None) -> None:
            self.name, self.crash_after = "llm", crash_after
            self.dimensions = (ap.Dimension("valence"),)
            self.paid: list[str] = []

        def fingerprint(self):
            return {"model": "fake-llm", "prompt_sha256": "p1"}

        def use_cache(self, cache) -> None:
            self.cache = cache

        def evaluate(self, segments):
            out = []
            for s in segments:
                key = self.cache.key(model="fake-llm", prompt="p1", text=s.text)
                raw = self.cache.get(key)
                if raw is None:
                    if self.crash_after is not None and len(self.paid) == self.crash_after:
                        raise ConnectionError("rate limited (429)")
                    self.paid.append(s.id)
                    raw = str(len(s.text) / 100).encode()
                    self.cache.put(key, raw)
                out.append(ap.EmotionEstimate(s.id, self.name, {"valence": float(raw)}))
            return out

    rec = ap.Recording("speech")
    segs = [ap.Segment(f"s{i}", rec, i, i + 1, text="x" * (i + 1)) for i in range(6)]
    store = tmp_path / "llm.sqlite"
    first = Paid(crash_after=3)
    res = ap.evaluate(segs, [first], store=store, progress=False)
    assert first.paid == ["s0", "s1", "s2"]  # the batch crashed on s3 ...
    assert first.cache.hits == 3  # ... and the one-by-one rerun reused the three paid responses
    assert [e.segment_id for e in res.estimates] == ["s0", "s1", "s2"] and len(res.failures) == 3
    second = Paid(crash_after=None)
    res = ap.evaluate(segs, [second], store=store, progress=False)
    assert second.paid == ["s3", "s4", "s5"]  # nothing paid twice
    assert [e.values["valence"] for e in res.estimates] == [0.01, 0.02, 0.03, 0.04, 0.05, 0.06]
