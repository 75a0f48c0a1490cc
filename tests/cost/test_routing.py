"""Confidence routing: `then` sees exactly the segments the rule selects, the rule is in its fingerprint, the
routed set is recorded, both keep their own names and scales."""

from __future__ import annotations

import math

import pytest
import scipy.stats

import affectproxy as ap
from affectproxy.engine import RunFailuresWarning
from affectproxy.hashing import fingerprint_hash
from affectproxy.routing import (
    Route,
    RoutedEvaluator,
    RoutingError,
    entropy,
    parse_rule,
    routed_set,
    top_probability,
)

PROBS = {  # segment -> (p_angry, p_neutral, p_sad); top probability and entropy known
    "a": (0.90, 0.05, 0.05), "b": (0.50, 0.30, 0.20), "c": (0.34, 0.33, 0.33), "d": (0.70, 0.20, 0.10),
    "e": (0.59, 0.41, 0.00), "f": (0.61, 0.39, 0.00),
}


class First:
    """A categorical rater with fixed probabilities per segment (no estimate for 'nocat': it fails)."""

    name = "cheap"
    dimensions = (ap.Dimension("arousal", 0, 1),)
    sample_rate = None
    min_duration = 0.0

    def fingerprint(self):
        return {"evaluator": "cheap", "v": 1}

    def evaluate(self, segments):
        out = []
        for s in segments:
            if s.id == "fails":
                raise ValueError("cannot read this one")
            p = PROBS[s.id]
            out.append(ap.EmotionEstimate(s.id, self.name, {"arousal": p[0]},
                                          categories=dict(zip(("angry", "neutral", "sad"), p, strict=True)),
                                          confidence=p[0]))
        return out


class Then:
    """The costly rater: records which segments it was asked about; valence on its own scale."""

    name = "costly"
    dimensions = (ap.Dimension("valence", -1, 1),)
    sample_rate = None
    min_duration = 0.0

    def __init__(self):
        self.seen: list[str] = []

    def fingerprint(self):
        return {"evaluator": "costly", "v": 1}

    def evaluate(self, segments):
        self.seen += [s.id for s in segments]
        return [ap.EmotionEstimate(s.id, self.name, {"valence": -0.5}) for s in segments]


def segments(ids=tuple(PROBS)):
    rec = ap.Recording("r")
    return [ap.Segment(sid, rec, float(i), float(i) + 1, text="x") for i, sid in enumerate(ids)]


def test_measures_against_scipy() -> None:
    for p in PROBS.values():
        est = ap.EmotionEstimate("s", "x", {}, categories={"a": p[0] * 2, "b": p[1] * 2, "c": p[2] * 2})
        assert top_probability(est) == pytest.approx(max(p))
        assert entropy(est) == pytest.approx(scipy.stats.entropy(p, base=2))


@pytest.mark.parametrize(("when", "want"), [
    ("top_probability < 0.6", {"b", "c", "e"}),
    ("top_probability <= 0.61", {"b", "c", "e", "f"}),
    ("entropy > 1.2", {"b", "c"}),
    ("confidence < 0.5", {"c"}),
    ("confidence <= 0.5", {"b", "c"}),
])
def test_then_runs_on_exactly_the_segments_the_rule_selects(tmp_path, when, want) -> None:
    then = Then()
    segs = segments()
    res = ap.evaluate(segs, [First(), then], store=tmp_path / "s.db", progress=False,
                      route={"first": "cheap", "then": "costly", "when": when})
    assert set(then.seen) == want and len(then.seen) == len(want)
    got = {e.segment_id for e in res.estimates if e.evaluator == "costly"}
    assert got == want
    assert {e.segment_id for e in res.estimates if e.evaluator == "cheap"} == set(PROBS)
    # both keep their own names and scales
    frame = res.to_pandas()
    assert set(frame[frame.evaluator == "costly"].dimension) == {"valence"}
    assert set(frame[frame.evaluator == "cheap"].dimension) == {"arousal"}
    # the routed set is recorded in the store, with the measure
    fp = fingerprint_hash(RoutedEvaluator(then, Route("cheap", "costly", when), fingerprint_hash(
        First().fingerprint())).fingerprint())
    record = routed_set(tmp_path / "s.db", fp)
    assert {sid for sid, r in record.items() if r["routed"]} == want and set(record) == set(PROBS)
    assert res.routing == record


def test_a_callable_rule_and_failed_first_estimates(tmp_path) -> None:
    then = Then()
    segs = segments((*PROBS, "fails"))

    def only_angry_and_unsure(est):
        return est.categories["angry"] > 0.5 and est.confidence < 0.8

    with pytest.warns(RunFailuresWarning, match="cannot read this one"):
        ap.evaluate(segs, [First(), then], store=tmp_path / "s.db", progress=False,
                    route=Route("cheap", "costly", only_angry_and_unsure))
    # 'fails' has no first estimate: the cheap model did not decide it, so it is routed
    assert set(then.seen) == {"d", "e", "f", "fails"}
    fp = parse_rule(only_angry_and_unsure).fingerprint()
    assert fp["callable"].endswith("only_angry_and_unsure") and len(fp["source_sha256"]) == 64


def test_the_rule_is_in_thens_fingerprint_and_reruns_pay_nothing(tmp_path) -> None:
    store = tmp_path / "s.db"
    then = Then()
    ap.evaluate(segments(), [First(), then], store=store, progress=False,
                route={"first": "cheap", "then": "costly", "when": "top_probability < 0.6"})
    ap.evaluate(segments(), [First(), then], store=store, progress=False,
                route={"first": "cheap", "then": "costly", "when": "top_probability < 0.6"})
    assert sorted(then.seen) == ["b", "c", "e"]  # the rerun skipped what is done
    then2 = Then()
    res = ap.evaluate(segments(), [First(), then2], store=store, progress=False,
                      route={"first": "cheap", "then": "costly", "when": "top_probability < 0.8"})
    assert sorted(then2.seen) == ["b", "c", "d", "e", "f"]  # another rule: another fingerprint, evaluated anew
    fps = {r.name: r.fingerprint_dict for r in res.evaluators}
    assert fps["costly"]["routing"]["when"] == {"measure": "top_probability", "op": "<", "threshold": 0.8}
    assert not math.isnan(fps["costly"]["routing"]["when"]["threshold"])


@pytest.mark.parametrize("bad", ["top_prob < 0.6", "confidence = 0.5", "entropy > high", 3])
def test_malformed_rules_are_refused(bad) -> None:
    with pytest.raises(RoutingError, match="top_probability"):
        parse_rule(bad)


def test_route_names_must_be_in_the_run(tmp_path) -> None:
    with pytest.raises(RoutingError, match="'gemini' is not one of the run's evaluators"):
        ap.evaluate(segments(), [First(), Then()], progress=False,
                    route={"first": "cheap", "then": "gemini", "when": "entropy > 1"})
    with pytest.raises(RoutingError, match="unknown key 'if'"):
        Route.from_mapping({"first": "a", "then": "b", "if": "x"}, "study.toml")


def test_routing_to_gemini_sends_exactly_the_selected_segments(server, key, tmp_path) -> None:
    from .conftest import write_speech

    segs = write_speech(tmp_path, 6)
    top = dict(zip([s.id for s in segs], (0.9, 0.4, 0.8, 0.5, 0.95, 0.3), strict=True))

    class Acoustic(First):
        def evaluate(self, segments):
            return [ap.EmotionEstimate(s.id, self.name, {"arousal": 0.5},
                                       categories={"a": top[s.id], "b": (1 - top[s.id]) / 2,
                                                   "c": (1 - top[s.id]) / 2}) for s in segments]

    res = ap.evaluate(segs, [Acoustic(), {"type": "gemini", "base_url": server.url}], store=tmp_path / "s.db",
                      progress=False, route={"first": "cheap", "then": "gemini", "when": "top_probability < 0.6"})
    by_text = {s.text: s.id for s in segs}
    sent = sorted(by_text[c.text.split("<transcript>\n")[1].split("\n</transcript>")[0]] for c in server.generate_calls)
    assert sent == ["s01", "s03", "s05"] and server.count("generate") == 3
    assert {e.segment_id for e in res.estimates if e.evaluator == "gemini"} == {"s01", "s03", "s05"}
    assert [s.new for s in res.summary] == [6, 3]


def test_a_routed_llm_evaluator_sees_unrouted_neighbours(server, key, tmp_path) -> None:
    from .conftest import write_speech

    segs = write_speech(tmp_path, 3)

    class Acoustic(First):
        def evaluate(self, segments):  # only the middle one is unsure
            return [ap.EmotionEstimate(s.id, self.name, {"arousal": 0.5}, confidence=0.2 if s.id == "s01" else 0.9)
                    for s in segments]

    ap.evaluate(segs, [Acoustic(), {"type": "gemini", "base_url": server.url}], progress=False,
                route={"first": "cheap", "then": "gemini", "when": "confidence < 0.5"})
    [call] = server.generate_calls
    assert f"<previous_transcript>\n{segs[0].text}\n</previous_transcript>" in call.text
    assert f"<next_transcript>\n{segs[2].text}\n</next_transcript>" in call.text
