from __future__ import annotations

import numpy as np
import pytest

from affectproxy import circumplex


def test_paper_table_projects_one_hot_onto_its_weights() -> None:
    for label, (a, v) in circumplex.DIETRICH2026.weights.items():
        assert circumplex.project({label: 1.0}) == pytest.approx((a, v))
    assert circumplex.project({"neutral": 1.0}) == (0.0, 0.0)


def test_unknown_is_dropped_and_renormalisation_is_explicit() -> None:
    probs = {"angry": 0.3, "happy": 0.3, "unknown": 0.4}
    a, v = circumplex.project(probs)
    assert a == pytest.approx(0.3 * 0.75 + 0.3 * 0.65) and v == pytest.approx(0.3 * -0.75 + 0.3 * 0.9)
    a2, v2 = circumplex.project(probs, renormalize=True)
    assert a2 == pytest.approx(a / 0.6) and v2 == pytest.approx(v / 0.6)


def test_word_norm_table_and_custom_tables() -> None:
    assert circumplex.project({"neutral": 1}, "warriner2013") == pytest.approx((-0.387, 0.125))
    assert circumplex.project({"other": 1}, "warriner2013") == (0.0, 0.0)
    assert circumplex.project({"calm": 0.5, "excited": 0.5}, {"calm": (-1, 0.2), "excited": (1, 0.4)}) == \
        pytest.approx((0.0, 0.3))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        circumplex.CircumplexTable("bad", {"x": (2, 0)})
    with pytest.raises(KeyError, match="Known: dietrich2026, warriner2013"):
        circumplex.get_table("russell")


def test_vectorised_projection_matches_the_loop() -> None:
    labels = ["angry", "disgusted", "fearful", "happy", "neutral", "other", "sad", "surprised", "unknown"]
    p = np.random.default_rng(0).dirichlet(np.ones(9), size=20)
    a, v = circumplex.DIETRICH2026.project_array(p, labels)
    for row, ai, vi in zip(p, a, v, strict=True):
        assert (ai, vi) == pytest.approx(circumplex.project(dict(zip(labels, row, strict=True))))
