"""The engine drives LLM evaluators through the LLM layer: requests flow on threads, follow-up rounds, context
from neighbours, whole-recording audio, answers that fail per segment, credentials refused.

The provider is a real plugin registered for these tests (it answers locally); the layer and engine are the real
ones.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

import affectproxy as ap
from affectproxy.engine import RunFailuresWarning
from affectproxy.errors import AuthenticationError
from affectproxy.llm import FollowUp, LLMRequest, Part, ProviderResponse, ProviderSpec, Usage
from affectproxy.llm.config import LLMConfig
from affectproxy.llm.providers import registered
from affectproxy.store import Store


class LocalProvider:
    """Answers ``{"valence": len(last text part) / 100}`` after a short wait; counts calls in flight."""

    name = "local"
    can_send = frozenset({"system", "schema", "temperature", "audio"})

    def __init__(self, state: dict) -> None:
        self.state = state

    def generate(self, request: LLMRequest, *, timeout: float) -> ProviderResponse:
        st = self.state
        with st["lock"]:
            st["now"] += 1
            st["peak"] = max(st["peak"], st["now"])
            st["requests"].append(request)
        try:
            if st.get("refuse"):
                raise AuthenticationError("local: key refused; set LOCAL_API_KEY")
            time.sleep(st.get("delay", 0.05))
            text = request.parts[-1].text
            if request.segment_ids == ("talk-2",) and st.get("break_talk_2"):
                return ProviderResponse("not json", Usage({"text": 10}, 2))
            return ProviderResponse(json.dumps({"valence": min(1.0, len(text) / 100)}), Usage({"text": 10}, 5))
        finally:
            with st["lock"]:
                st["now"] -= 1


@pytest.fixture
def provider_state():
    state = {"lock": threading.Lock(), "now": 0, "peak": 0, "requests": []}

    class Plugin:
        @ap.hookimpl
        def affectproxy_llm_providers(self):
            yield ProviderSpec("local", lambda **options: LocalProvider(state))

    with registered(Plugin(), "local-test-provider"):
        yield state


SCHEMA = {"type": "object", "properties": {"valence": {"type": "number", "minimum": -1, "maximum": 1}},
          "required": ["valence"]}


class Rater:
    """An LLM evaluator: one request per segment, with the neighbours' transcripts as context."""

    min_duration = 0.0
    needs_text = False

    def __init__(self, *, sample_rate: int | None = None, supervisor: bool = False, audio_scope: str = "segment",
                 group_by: str | None = None) -> None:
        self.name = "rater"
        self.sample_rate, self.supervisor = sample_rate, supervisor
        self.audio_scope, self.group_by = audio_scope, group_by
        self.dimensions = (ap.Dimension("valence"),)
        self.audio_seen: dict[str, int] = {}

    def fingerprint(self):
        return {"evaluator": "rater", "supervisor": self.supervisor}

    def requests(self, segments, context):
        out = []
        for seg in segments:
            prev, nxt = context.neighbours(seg)
            parts = [Part("text", text=f"before: {prev.text if prev else '-'}; after: {nxt.text if nxt else '-'}")]
            if self.audio_scope == "recording":
                self.audio_seen[seg.recording.id] = len(context.recording_audio(seg.recording.id))
            elif seg.audio is not None:
                self.audio_seen[seg.id] = len(seg.audio)
            parts.append(Part("text", text=seg.text))
            out.append(LLMRequest("local", "m1", parts, system="Rate valence.", schema=SCHEMA, temperature=0,
                                  segment_ids=(seg.id,)))
        return out

    def read(self, segments, answers):
        if self.supervisor:
            return FollowUp(
                [LLMRequest("local", "m2", [Part("text", text="x" * int(a.data["valence"] * 100 + 1))], schema=SCHEMA,
                            segment_ids=a.request.segment_ids, tag="supervisor") for a in answers],
                lambda second: [ap.EmotionEstimate(s.id, self.name, {"valence": b.data["valence"]})
                                for s, b in zip(segments, second, strict=True)],
            )
        return [ap.EmotionEstimate(s.id, self.name, {"valence": a.data["valence"]}) if a.ok
                else ValueError(a.error) for s, a in zip(segments, answers, strict=True)]


def talk(n: int = 12, path: str | None = None, rec: str = "talk") -> list[ap.Segment]:
    r = ap.Recording(rec, path)
    return [ap.Segment(f"{rec}-{i}", r, i, i + 1, text="w" * (i + 1)) for i in range(n)]


def test_requests_flow_with_many_in_flight_and_context_stays_in_the_recording(provider_state, tmp_path: Path) -> None:
    segs = talk(12) + talk(3, rec="other")
    res = ap.evaluate(segs, [Rater()], store=tmp_path / "l.sqlite", llm={"local": {"max_in_flight": 4}},
                      progress=False)
    assert len(res.estimates) == 15 and res.failures == []
    assert provider_state["peak"] == 4  # four in flight, not one at a time (and never more than the limit)
    first_other = next(r for r in provider_state["requests"] if r.segment_ids == ("other-0",))
    assert first_other.parts[0].text == "before: -; after: ww"  # never across recordings
    with Store(tmp_path / "l.sqlite") as db:
        assert len(db.calls()) == 15 and {c["status"] for c in db.calls()} == {"ok"}


def test_a_rerun_pays_for_nothing(provider_state, tmp_path: Path) -> None:
    store = tmp_path / "l.sqlite"
    ap.evaluate(talk(5), [Rater()], store=store, progress=False)
    # a new evaluator fingerprint over the same requests: every answer comes from the store's cache
    class Renamed(Rater):
        def fingerprint(self):
            return {"evaluator": "rater", "renamed": True}

    n = len(provider_state["requests"])
    res = ap.evaluate(talk(5), [Renamed()], store=store, progress=False)
    assert len(res.estimates) == 5 and len(provider_state["requests"]) == n


def test_follow_up_rounds_and_failed_answers_fail_only_their_segment(provider_state, tmp_path: Path) -> None:
    segs = talk(4)
    provider_state["break_talk_2"] = True
    with pytest.warns(RunFailuresWarning, match="1 of 4 segments failed"):
        res = ap.evaluate(segs, [Rater()], store=tmp_path / "a.sqlite", progress=False,
                          llm={"local": {"repairs": 1, "max_retries": 0}})
    assert [f.segment_id for f in res.failures] == ["talk-2"]
    provider_state["break_talk_2"] = False
    res = ap.evaluate(talk(3), [Rater(supervisor=True)], store=tmp_path / "b.sqlite", progress=False)
    assert [round(e.values["valence"], 2) for e in res.estimates] == [0.02, 0.03, 0.04]
    assert [r.tag for r in provider_state["requests"][-3:]] == ["supervisor"] * 3


def test_whole_recording_audio_is_read_by_the_core(provider_state, speech_wav: Path) -> None:
    segs = talk(3, path=str(speech_wav))
    ev = Rater(sample_rate=8000, audio_scope="recording", group_by="recording")
    res = ap.evaluate(segs, [ev], progress=False)
    assert len(res.estimates) == 3 and ev.audio_seen == {"talk": 6 * 8000}
    per_segment = Rater(sample_rate=8000)
    ap.evaluate(segs, [per_segment], progress=False)
    assert per_segment.audio_seen == {"talk-0": 8000, "talk-1": 8000, "talk-2": 8000}


def test_refused_credentials_stop_the_evaluator(provider_state) -> None:
    provider_state["refuse"] = True
    with pytest.warns(RunFailuresWarning, match="stopped early: local: key refused"):
        res = ap.evaluate(talk(40), [Rater()], progress=False, llm={"local": {"max_in_flight": 2}})
    summary = res.summary[0]
    # no new task starts after the refusal: at most the tasks already in flight were tried
    assert summary.stopped and summary.failed <= LLMConfig().max_in_flight
    assert len(provider_state["requests"]) <= summary.failed < 40
