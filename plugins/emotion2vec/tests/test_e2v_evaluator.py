"""The evaluator contract, outputs and bad inputs, through the registry as users reach it."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pytest
import soundfile as sf

import affectproxy as ap
from affectproxy.circumplex import get_table
from affectproxy.testing import check_evaluator
from affectproxy_emotion2vec.evaluator import Emotion2vecEvaluator


def test_passes_check_evaluator(tiny_dir: Path) -> None:
    check_evaluator(ap.get_evaluator("emotion2vec", model=str(tiny_dir), device="cpu", batch_size=3))


def test_values_are_the_circumplex_projection(tiny_dir: Path, segments) -> None:
    paper = Emotion2vecEvaluator(str(tiny_dir), device="cpu").evaluate(segments)
    norms = Emotion2vecEvaluator(str(tiny_dir), device="cpu", circumplex="warriner2013", renormalize=True)
    for a, b in zip(paper, norms.evaluate(segments), strict=True):
        assert a.categories == b.categories
        table = get_table("dietrich2026")
        assert np.allclose((a.values["arousal"], a.values["valence"]), table.project(a.categories), atol=1e-12)
        expect = get_table("warriner2013").project(b.categories, renormalize=True)
        assert np.allclose((b.values["arousal"], b.values["valence"]), expect, atol=1e-12)
        assert all(-1 <= v <= 1 for v in a.values.values())
    custom = Emotion2vecEvaluator(str(tiny_dir), device="cpu", circumplex={"happy": (1.0, 1.0)})
    est = custom.evaluate(segments[:1])[0]
    assert est.values["arousal"] == pytest.approx(est.categories["happy"])


def test_end_to_end_from_a_file(tmp_path: Path, tiny_dir: Path, waves) -> None:
    audio = np.concatenate([waves[4], np.zeros(1600, np.float32), waves[6]])
    stereo = np.stack([audio, audio], axis=1)
    sf.write(tmp_path / "talk.wav", stereo, 16000)  # stereo file: the core mixes down before evaluate
    rec = ap.Recording("talk", str(tmp_path / "talk.wav"))
    segs = [ap.Segment("a", rec, 0, 3.1), ap.Segment("b", rec, 3.2, 7.2), ap.Segment("tiny", rec, 7.0, 7.01)]
    res = ap.evaluate(segs, [ap.get_evaluator("emotion2vec", model=str(tiny_dir), device="cpu")], progress=False)
    assert {f.segment_id for f in res.failures} == {"tiny"}  # 10 ms < min_duration: recorded, others kept
    assert {e.segment_id for e in res.estimates} == {"a", "b"}
    direct = Emotion2vecEvaluator(str(tiny_dir), device="cpu").evaluate(
        [attrs.evolve(segs[0], audio=waves[4])]
    )[0]
    got = next(e for e in res.estimates if e.segment_id == "a")
    assert abs(got.values["valence"] - direct.values["valence"]) < 1e-4


def test_stereo_is_refused_not_flattened(tiny_dir: Path, segments) -> None:
    seg = segments[2]
    stereo = attrs.evolve(seg, audio=np.stack([seg.audio, seg.audio], axis=1))
    with pytest.raises(ap.AudioError, match=r"Segment 's2'.*shape \(\d+, 2\).*[Mm]ix down"):
        Emotion2vecEvaluator(str(tiny_dir), device="cpu").evaluate([stereo])


def test_float64_and_int16_are_accepted(tiny_dir: Path, segments) -> None:
    ev = Emotion2vecEvaluator(str(tiny_dir), device="cpu")
    seg = segments[3]
    ref = ev.evaluate([seg])[0]
    as64 = ev.evaluate([attrs.evolve(seg, audio=seg.audio.astype(np.float64))])[0]
    pcm = np.clip(np.round(seg.audio * 32768), -32768, 32767).astype(np.int16)
    as16 = ev.evaluate([attrs.evolve(seg, audio=pcm)])[0]
    column = ev.evaluate([attrs.evolve(seg, audio=seg.audio[:, None])])[0]  # (n, 1) is mono
    assert as64.values == ref.values and column.values == ref.values
    assert abs(as16.values["arousal"] - ref.values["arousal"]) < 1e-3


@pytest.mark.parametrize(
    ("audio", "match"),
    [
        (None, "has no audio"),
        (np.zeros(399, np.float32), r"399 samples .* shorter than the 400 samples"),
        (np.full(8000, np.nan, np.float32), "NaN or infinite"),
        (np.array(["a"] * 800), "not a number type"),
    ],
)
def test_bad_audio_names_the_segment(tiny_dir: Path, segments, audio, match: str) -> None:
    seg = attrs.evolve(segments[0], audio=audio)
    with pytest.raises(ap.AudioError, match=match) as info:
        Emotion2vecEvaluator(str(tiny_dir), device="cpu").evaluate([seg])
    assert "'s0'" in str(info.value)


def test_exactly_400_samples_work(tiny_dir: Path, segments) -> None:
    seg = attrs.evolve(segments[1], audio=segments[1].audio[:400])
    est = Emotion2vecEvaluator(str(tiny_dir), device="cpu").evaluate([seg])[0]
    assert np.isfinite(list(est.values.values())).all()


def test_cuda_where_torch_sees_none_says_how_to_fix(tiny_dir: Path) -> None:
    """Runs on every machine: the child process hides the GPUs, so torch sees none even on a GPU machine."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, affectproxy as ap\n"
            "from affectproxy_emotion2vec import Emotion2vecEvaluator\n"
            "seg = ap.Segment('a', ap.Recording('r'), 0, 1, audio=np.zeros(16000, np.float32))\n"
            "try:\n    Emotion2vecEvaluator(sys.argv[1], device='cuda').evaluate([seg])\n"
            "except ap.AffectProxyError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tiny_dir)], capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "CUDA_VISIBLE_DEVICES": ""}, check=True).stdout
    import torch

    if torch.version.cuda is None:  # a CPU build of torch: install a CUDA one
        assert "has no CUDA" in out and "download.pytorch.org/whl/cu128" in out
    else:  # a CUDA build that sees no GPU: driver or CUDA_VISIBLE_DEVICES
        assert "sees no GPU" in out and "CUDA_VISIBLE_DEVICES" in out
    assert "'emotion2vec'" in out
