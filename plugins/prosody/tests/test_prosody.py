"""The prosody evaluator on real audio through real openSMILE: features, grouping, windows, the contract."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import attrs
import numpy as np
import pytest
import scipy.stats
import soundfile as sf

import affectproxy as ap
from affectproxy.batching import sliding_windows, window_times
from affectproxy.testing import check_evaluator, synthetic_signal
from affectproxy_prosody import FEATURES, ProsodyEvaluator


def _values(estimates: list[ap.EmotionEstimate], dim: str) -> np.ndarray:
    return np.array([e.values[dim] for e in estimates])


def test_arousal_ranks_the_example_intended_levels(example):
    segs, reference = example
    out = ProsodyEvaluator().evaluate(segs)
    rho = scipy.stats.spearmanr(_values(out, "arousal"), [reference[s.id] for s in segs]).statistic
    assert rho == pytest.approx(0.949, abs=0.01)  # the README reports 0.95


def test_features_are_declared_finite_and_plausible(example):
    segs, _ = example
    ev = ProsodyEvaluator()
    out = ev.evaluate(segs[:3])
    declared = {d.name: d for d in ev.dimensions}
    assert "valence" not in declared
    for est in out:
        assert set(est.values) == set(declared)
        assert all(math.isfinite(v) and declared[k].contains(v) for k, v in est.values.items())
        assert 10 < est.values["f0_mean_st"] < 40  # 50-280 Hz: a speaking voice
        assert est.values["arousal"] == pytest.approx(math.tanh(est.values["arousal_z"]))
        assert len(est.raw["egemaps"]) == 88
        json.dumps(est.raw)
    assert [e.segment_id for e in out] == [s.id for s in segs[:3]]


def test_arousal_z_is_the_mean_of_three_within_group_z_scores(example):
    segs, _ = example
    out = ProsodyEvaluator().evaluate(segs)
    cues = {c: _values(out, c) for c in ("loudness_mean", "f0_mean_st", "f0_range_st")}
    expected = np.mean([scipy.stats.zscore(v) for v in cues.values()], axis=0)
    np.testing.assert_allclose(_values(out, "arousal_z"), expected, rtol=1e-9, atol=1e-12)
    assert abs(_values(out, "arousal_z").mean()) < 1e-9


def test_two_speakers_are_standardised_separately(example):
    segs, _ = example
    # Speaker b says the same things 12 dB quieter: pooled, b is always "calmer"; standardised within
    # speaker, b's index matches a's.
    a = [attrs.evolve(s, id=f"a-{s.id}", speaker="a") for s in segs]
    b = [attrs.evolve(s, id=f"b-{s.id}", speaker="b", audio=s.audio * 0.25) for s in segs]
    out = ProsodyEvaluator().evaluate(a + b)
    za, zb = _values(out[:len(a)], "arousal_z"), _values(out[len(a):], "arousal_z")
    np.testing.assert_allclose(zb, za, atol=0.05)
    assert {e.raw["group"] for e in out[:len(a)]} == {"a"}
    assert out[0].raw["group_size"] == len(segs)
    pooled = ProsodyEvaluator().evaluate([attrs.evolve(s, speaker="one") for s in a + b])
    assert _values(pooled[len(a):], "arousal_z").mean() < _values(pooled[:len(a)], "arousal_z").mean() - 0.3


def test_one_file_per_utterance_corpus_groups_by_speaker(example, tmp_path):
    segs, _ = example
    files = []
    for seg in segs:
        path = tmp_path / f"{seg.id}.wav"
        sf.write(path, seg.audio, 16000)
        rec = ap.Recording(seg.id, str(path))
        files.append(ap.Segment(seg.id, rec, 0.0, seg.duration, speaker="espeak-de", audio=seg.audio))
    together = ProsodyEvaluator().evaluate(segs)
    per_file = ProsodyEvaluator().evaluate(files)
    np.testing.assert_allclose(_values(per_file, "arousal_z"), _values(together, "arousal_z"), atol=1e-9)
    # Without speakers each file is its own group of one: no information, so z = 0 and arousal = 0.
    anonymous = ProsodyEvaluator().evaluate([attrs.evolve(s, speaker=None) for s in files])
    assert set(_values(anonymous, "arousal_z")) == {0.0}
    assert set(_values(anonymous, "arousal")) == {0.0}
    # group_by="recording" ignores speakers.
    by_recording = ProsodyEvaluator(group_by="recording").evaluate(files)
    assert set(_values(by_recording, "arousal_z")) == {0.0}


def test_unvoiced_segment_leaves_out_f0_and_rests_on_loudness(example):
    segs, _ = example
    rng = np.random.default_rng(1)
    noise = [attrs.evolve(segs[i], id=f"noise{i}", audio=(0.02 * (i + 1) * rng.standard_normal(16000)
                                                         ).astype(np.float32)) for i in range(3)]
    out = ProsodyEvaluator().evaluate(noise + segs[:4])
    voiced_only = {f.name for f in FEATURES if f.voiced}
    for est in out[:3]:
        assert not voiced_only & set(est.values)
        assert {"loudness_mean", "arousal", "arousal_z"} <= set(est.values)
    assert voiced_only <= set(out[3].values)
    assert _values(out[:3], "arousal_z").tolist() == sorted(_values(out[:3], "arousal_z"))


def test_windowed_track(example):
    segs, _ = example
    ev = ProsodyEvaluator(window=1.0, hop=0.5)
    out = ev.evaluate(segs)
    plain = ProsodyEvaluator().evaluate(segs)
    for seg, est, ref in zip(segs, out, plain, strict=True):
        track, times = est.arrays["arousal_track"], est.arrays["arousal_track_times"]
        # the core's one window rule (a tail of at least half a window gets its own window), times from the
        # recording's start
        spans = sliding_windows(round(seg.duration * 1000), 1000, 500)
        assert track.shape == times.shape and track.size == len(spans)
        assert np.all(np.isfinite(track)) and np.all(np.abs(track) < 1)
        assert times == pytest.approx(window_times(spans, 1000, start=seg.start))
        assert seg.start + 0.5 - 1e-9 <= times[0] and times[-1] <= seg.end
        assert est.values == ref.values  # the track adds arrays, it does not change the values
    means = np.array([e.arrays["arousal_track"].mean() for e in out])
    assert scipy.stats.spearmanr(means, _values(plain, "arousal")).statistic > 0.8
    short = ProsodyEvaluator(window=10.0).evaluate(segs[:2])
    assert short[0].arrays["arousal_track"].size == 1
    assert short[0].arrays["arousal_track_times"][0] == pytest.approx((segs[0].start + segs[0].end) / 2)


def test_options_are_checked_and_fingerprinted():
    for bad in ({"group_by": "file"}, {"scale": 0}, {"window": 0.01}, {"hop": 1.0}, {"window": 2, "hop": -1}):
        with pytest.raises(ValueError, match="prosody"):
            ProsodyEvaluator(**bad)
    a, b = ProsodyEvaluator(), ProsodyEvaluator(window=2.0)
    assert b.hop == 1.0
    assert a.fingerprint()["opensmile"] and a.fingerprint() != b.fingerprint()
    json.dumps(a.fingerprint())
    with pytest.raises(ValueError, match="no audio"):
        a.evaluate([ap.Segment("s", ap.Recording("r"), 0, 1)])


def test_registered_through_the_entry_point_and_named():
    ev = ap.get_evaluator("prosody", name="prosody2", window=2.0)
    assert isinstance(ev, ProsodyEvaluator) and ev.name == "prosody2" and ev.window == 2.0
    info = {i.name: i for i in ap.list_evaluators()}["prosody"]
    assert info.can_run


def test_plugin_module_imports_nothing_heavy():
    code = ("import sys, affectproxy_prosody.plugin, affectproxy_prosody; "
            "print(any(m.split('.')[0] in ('opensmile', 'audinterface') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True
                          ).stdout.strip() == "False"


def test_contract_on_synthetic_segments():
    check_evaluator(ProsodyEvaluator())


def test_contract_on_the_example_with_a_track(example):
    segs, _ = example
    check_evaluator(ProsodyEvaluator(window=1.5), [attrs.evolve(s, audio=None) for s in segs[:6]])


def test_synthetic_signal_is_voiced():
    est = ProsodyEvaluator().evaluate([ap.Segment("x", ap.Recording("r"), 0, 2,
                                                  audio=synthetic_signal(2.0, 16000, 1))])[0]
    assert "f0_mean_st" in est.values


def _harmonic(seconds: float, f0: float, amp: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (amp * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))).astype(np.float32)


def test_voiced_segment_without_opensmile_f0_is_flagged(example):
    segs, _ = example
    rng = np.random.default_rng(3)
    # A quiet but clearly voiced segment: openSMILE's F0 tracker returns no voiced frame below its energy floor.
    quiet = attrs.evolve(segs[0], id="quiet", audio=_harmonic(3.0, 140, 1e-3))
    noise = attrs.evolve(segs[1], id="noise", audio=(0.05 * rng.standard_normal(16000)).astype(np.float32))
    out = ProsodyEvaluator().evaluate([quiet, noise, *segs[:4]])
    by_id = {e.segment_id: e for e in out}
    flagged = by_id["quiet"]
    assert "f0_mean_st" not in flagged.values and "loudness_mean" in flagged.values  # openSMILE: no F0
    assert flagged.raw["flags"] == ["f0_missing"] and flagged.raw["voiced_fraction"] > 0.9
    assert "no F0 from openSMILE" in flagged.labels["warning"] and "100%" in flagged.labels["warning"]
    assert by_id["noise"].raw["flags"] == [] and by_id["noise"].labels == {}  # voiceless: not flagged
    assert by_id["noise"].raw["voiced_fraction"] < 0.02
    for seg in segs[:4]:  # ordinary speech: F0 present, no flag, voicing measured
        assert by_id[seg.id].raw["flags"] == [] and 0.2 < by_id[seg.id].raw["voiced_fraction"] <= 1


def test_measure_is_json_and_combine_rebuilds_evaluate(example):
    segs, _ = example
    ev = ProsodyEvaluator(window=1.0)
    measures = json.loads(json.dumps(ev.measure(segs), allow_nan=False))
    rebuilt = ev.combine(segs, measures)
    direct = ev.evaluate(segs)
    for a, b in zip(rebuilt, direct, strict=True):
        assert a.values == b.values and a.raw == b.raw and a.labels == b.labels
        np.testing.assert_array_equal(a.arrays["arousal_track"], b.arrays["arousal_track"])
    # measures of batches combine like one call: the per-segment step is independent of the other segments
    halves = ev.measure(segs[:5]) + ev.measure(segs[5:])
    assert [e.values for e in ev.combine(segs, halves)] == [e.values for e in direct]
    with pytest.raises(ValueError, match="measures"):
        ev.combine(segs, measures[:-1])
