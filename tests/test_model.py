from __future__ import annotations

import math

import pytest

import affectproxy as ap


def rec() -> ap.Recording:
    return ap.Recording("speech", "speech.wav")


@pytest.mark.parametrize(("start", "end", "words"), [
    (2.0, 1.0, "must be after start"),
    (1.0, 1.0, "must be after start"),
    (-0.5, 1.0, "must be >= 0"),
    (math.nan, 1.0, "finite"),
    (0.0, math.inf, "finite"),
])
def test_bad_times_name_the_segment_and_the_fix(start: float, end: float, words: str) -> None:
    with pytest.raises(ap.InvalidSegmentError, match=words) as info:
        ap.Segment("s7", rec(), start, end)
    assert "'s7'" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_segment_defaults_and_grouping_key() -> None:
    seg = ap.Segment(3, rec(), "1.5", 4, text=None)
    assert seg.id == "3" and seg.start == 1.5 and seg.text == "" and seg.duration == 2.5
    assert seg.speaker_or_recording == "recording:speech"
    assert ap.Segment("a", ap.Recording("r", speaker="Banaszak"), 0, 1).speaker_or_recording == "Banaszak"


def test_dimensions_have_canonical_ranges_and_validate_names() -> None:
    assert (ap.Dimension("pathos").low, ap.Dimension("pathos").high) == (-2.0, 2.0)
    assert ap.Dimension("f0_mean").low == -math.inf
    assert ap.Dimension("x", 0, 1).contains(0.5) and not ap.Dimension("x", 0, 1).contains(1.5)
    with pytest.raises(ValueError, match="letters"):
        ap.Dimension("has space")
    with pytest.raises(ValueError, match="low"):
        ap.Dimension("x", 2, 1)


def test_estimate_converts_values_and_keeps_arrays() -> None:
    import numpy as np

    est = ap.EmotionEstimate("s1", "e2v", {"arousal": np.float32(0.5)}, arrays={"emb": [1, 2]})
    assert est.values == {"arousal": 0.5} and isinstance(est.values["arousal"], float)
    assert est.arrays["emb"].tolist() == [1, 2]
    assert est.fingerprint is None
