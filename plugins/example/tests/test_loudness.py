"""The example plugin, tested as a third party would: installed, found through its entry point."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import soundfile as sf

import affectproxy as ap
from affectproxy.testing import check_evaluator


def test_entry_point_is_installed_and_listed() -> None:
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="affectproxy")}
    assert eps["loudness"].value == "affectproxy_example.plugin"
    rows = {r.name: r for r in ap.list_evaluators()}
    assert rows["loudness"].can_run
    assert rows["loudness"].plugin.startswith("affectproxy-example")


def test_passes_check_evaluator() -> None:
    check_evaluator(ap.get_evaluator("loudness"))


def test_louder_segment_scores_higher_arousal(tmp_path) -> None:
    rate = 16000
    t = np.arange(rate) / rate
    quiet, loud = 0.01 * np.sin(2 * np.pi * 200 * t), 0.5 * np.sin(2 * np.pi * 200 * t)
    sf.write(tmp_path / "two.wav", np.concatenate([quiet, loud]), rate)
    rec = ap.Recording("two", str(tmp_path / "two.wav"))
    segs = [ap.Segment("quiet", rec, 0, 1), ap.Segment("loud", rec, 1, 2)]
    res = ap.evaluate(segs, [ap.get_evaluator("loudness", name="rms")], progress=False)
    wide = res.wide()
    assert wide.loc["loud", "rms.arousal"] > wide.loc["quiet", "rms.arousal"]
    assert abs(wide.loc["loud", "rms.level_db"] - 20 * np.log10(0.5 / np.sqrt(2))) < 0.05
