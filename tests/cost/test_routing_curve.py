"""The routing curve on a synthetic pilot with a known answer: the cheap model is right exactly where it is
sure, so routing exactly its unsure segments gives perfect agreement at that fraction."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

import affectproxy as ap
from affectproxy.compare import routing_curve, routing_plot
from affectproxy.routing import RoutingError

N = 20
UNSURE = {3: 0.40, 7: 0.45, 11: 0.50, 15: 0.55, 18: 0.58}  # index -> top probability; the rest are 0.9


def truth(i: int) -> float:
    return i / (N - 1)


class Cheap:
    name = "cheap"
    dimensions = (ap.Dimension("arousal", 0, 1),)
    sample_rate = None
    min_duration = 0.0

    def fingerprint(self):
        return {"evaluator": "cheap"}

    def evaluate(self, segments):
        out = []
        for s in segments:
            i = int(s.id[1:])
            top = UNSURE.get(i, 0.9)
            value = 1 - truth(i) if i in UNSURE else truth(i)  # wrong exactly where unsure
            out.append(ap.EmotionEstimate(s.id, self.name, {"arousal": value},
                                          categories={"a": top, "b": (1 - top) / 2, "c": (1 - top) / 2},
                                          confidence=top))
        return out


class Costly:
    """Right everywhere, on another scale (-1..1)."""

    name = "costly"
    dimensions = (ap.Dimension("arousal", -1, 1),)
    sample_rate = None
    min_duration = 0.0

    def fingerprint(self):
        return {"evaluator": "costly"}

    def evaluate(self, segments):
        return [ap.EmotionEstimate(s.id, self.name, {"arousal": 2 * truth(int(s.id[1:])) - 1}) for s in segments]


class Human:
    name = "human"
    dimensions = (ap.Dimension("arousal", 0, 1),)
    sample_rate = None
    min_duration = 0.0

    def fingerprint(self):
        return {"evaluator": "human"}

    def evaluate(self, segments):
        return [ap.EmotionEstimate(s.id, self.name, {"arousal": truth(int(s.id[1:]))}) for s in segments]


@pytest.fixture(scope="module")
def pilot():
    rec = ap.Recording("r")
    segs = [ap.Segment(f"s{i:02d}", rec, float(i), i + 1.0) for i in range(N)]
    return ap.evaluate(segs, [Cheap(), Costly(), Human()], progress=False)


def test_curve_has_the_known_answer(pilot) -> None:
    curve = routing_curve(pilot, first="cheap/arousal", then="costly/arousal", reference="human/arousal")
    assert list(curve["n_routed"]) == [0, 1, 2, 3, 4, 5, N]  # one more segment per distinct top probability
    none = curve.iloc[0]
    cheap = [1 - truth(i) if i in UNSURE else truth(i) for i in range(N)]
    want = scipy.stats.spearmanr(cheap, [truth(i) for i in range(N)]).statistic
    assert none["routed"] == 0 and none["agreement"] == pytest.approx(want)
    assert none["mad"] == pytest.approx(np.mean([abs(1 - 2 * truth(i)) for i in UNSURE]) * len(UNSURE) / N)
    exact = curve[curve["n_routed"] == len(UNSURE)].iloc[0]  # routing exactly the unsure ones
    assert exact["routed"] == pytest.approx(len(UNSURE) / N)
    assert exact["agreement"] == pytest.approx(1.0) and exact["mad"] == pytest.approx(0.0, abs=1e-12)
    assert exact["rule"].startswith("top_probability < 0.58")
    everything = curve.iloc[-1]
    assert everything["routed"] == 1.0 and everything["agreement"] == pytest.approx(1.0)
    # entropy routes the high ones, with the same answer
    ent = routing_curve(pilot, first="cheap/arousal", then="costly/arousal", reference="human/arousal",
                        when="entropy", method="pearson")
    row = ent[ent["n_routed"] == len(UNSURE)].iloc[0]
    assert row["agreement"] == pytest.approx(1.0) and row["rule"].startswith("entropy > ")


def test_given_thresholds_and_the_plot(pilot, tmp_path) -> None:
    curve = routing_curve(pilot, first="cheap/arousal", then="costly/arousal", reference="human/arousal",
                          thresholds=[0.0, 0.5, 1.0])
    assert list(curve["n_routed"]) == [0, 2, N]  # < 0.5: the 0.40 and 0.45 segments
    fig = routing_plot(curve)
    fig.savefig(tmp_path / "routing.png")
    assert (tmp_path / "routing.png").stat().st_size > 1000


def test_unknown_series_are_named(pilot) -> None:
    with pytest.raises(RoutingError, match=r"no such series.*cheap/arousal"):
        routing_curve(pilot, first="cheap/valence", then="costly/arousal", reference="human/arousal")
    with pytest.raises(RoutingError, match="EVALUATOR/DIMENSION"):
        routing_curve(pilot, first="cheap", then="costly/arousal", reference="human/arousal")
