"""Batched inference equals funasr's generate(), and each funasr trap is handled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import affectproxy as ap
from affectproxy.model import Segment
from affectproxy_emotion2vec.checkpoint import build_model, frame_count
from affectproxy_emotion2vec.evaluator import Emotion2vecEvaluator
from affectproxy_emotion2vec.inference import Runner, naive_padded_forward
from affectproxy_emotion2vec.locate import resolve

LABELS = ["angry", "disgusted", "fearful", "happy", "neutral", "other", "sad", "surprised", "unknown"]


def _probs(ests: list[ap.EmotionEstimate]) -> np.ndarray:
    return np.array([[e.categories[k] for k in LABELS] for e in ests])


@pytest.fixture(scope="module")
def loaded(tiny_dir: Path):
    return build_model(resolve(str(tiny_dir)))


def test_sequential_equals_funasr_generate(tiny_dir, segments, funasr_reference) -> None:
    ev = ap.get_evaluator("emotion2vec", model=str(tiny_dir), device="cpu", embeddings=True)
    ests = ev.evaluate(segments)
    assert [e.segment_id for e in ests] == [s.id for s in segments]
    assert list(ests[0].categories) == LABELS  # "生气/angry" ... "<unk>" normalised, index order kept
    assert next(iter(funasr_reference["labels"])) == "生气/angry" and funasr_reference["labels"][-1] == "<unk>"
    assert np.abs(_probs(ests) - funasr_reference["scores"]).max() < 1e-4
    emb = np.array([e.arrays["embedding"] for e in ests])
    assert emb.shape == funasr_reference["feats"].shape
    assert np.abs(emb - funasr_reference["feats"]).max() < 1e-4


@pytest.mark.parametrize("batch_size", [2, 4, 16])
def test_batched_equals_sequential(tiny_dir, segments, funasr_reference, batch_size) -> None:
    assert len({len(s.audio) for s in segments}) >= 5
    ev = Emotion2vecEvaluator(str(tiny_dir), device="cpu", batch_size=batch_size)
    assert np.abs(_probs(ev.evaluate(segments)) - funasr_reference["scores"]).max() < 1e-4


def test_naive_padded_batch_would_be_caught(loaded, waves, funasr_reference) -> None:
    model, _, _ = loaded
    drift = np.abs(naive_padded_forward(model, waves) - funasr_reference["scores"]).max()
    assert drift > 1e-3, f"a naive padded batch deviates only {drift}: the equality test could not tell"


def test_hub_layout_with_group_norm_extractor_batches_exactly(tiny_hub_dir, segments) -> None:
    one = Emotion2vecEvaluator(str(tiny_hub_dir), device="cpu", batch_size=1).evaluate(segments)
    many = Emotion2vecEvaluator(str(tiny_hub_dir), device="cpu", batch_size=8).evaluate(segments)
    assert np.abs(_probs(one) - _probs(many)).max() < 1e-4


def test_runner_buckets_by_length_and_keeps_order(loaded, waves) -> None:
    model, conf, _ = loaded
    runner = Runner(model, conf, np.ones(9, bool), "cpu", None)
    emb1, frames1 = runner.run(waves, 1)
    emb3, frames3 = runner.run(waves, 3)
    assert (frames1 == frames3).all() and (np.diff(frames1[[5, 0, 1, 2, 3, 4, 6]]) > 0).all()
    assert np.abs(emb1 - emb3).max() < 1e-5


def test_thread_count_is_left_alone(tiny_dir, segments) -> None:
    import torch

    before = torch.get_num_threads()
    Emotion2vecEvaluator(str(tiny_dir), device="cpu").evaluate(segments[:2])
    assert torch.get_num_threads() == before


def test_bf16_close_to_fp32(tiny_dir, segments, funasr_reference) -> None:
    ev = Emotion2vecEvaluator(str(tiny_dir), device="cpu", dtype="bf16", batch_size=4)
    diff = np.abs(_probs(ev.evaluate(segments)) - funasr_reference["scores"]).max()
    assert 0 < diff < 0.05
    assert ev.fingerprint()["options"]["dtype"] == "bfloat16"


def test_long_segment_is_split_into_bounded_chunks(tiny_dir, loaded, segments, funasr_reference) -> None:
    long = segments[-1]  # 4.0 s
    ev = Emotion2vecEvaluator(str(tiny_dir), device="cpu", max_window=1.5, embeddings=True)
    est = ev.evaluate([long])[0]
    full = funasr_reference["scores"][-1]
    probs = np.array([est.categories[k] for k in LABELS])
    assert abs(probs.sum() - 1) < 1e-6
    assert 0 < np.abs(probs - full).max() < 0.5  # an approximation of full context, documented as such
    # the pooled embedding is the frame-weighted mean of three chunk embeddings
    chunks = [long.audio[a:b] for a, b in ((0, 21333), (21333, 42667), (42667, 64000))]
    part = Emotion2vecEvaluator(str(tiny_dir), device="cpu", max_window=None, embeddings=True)
    segs = [Segment(f"c{i}", long.recording, 0, 1, audio=c) for i, c in enumerate(chunks)]
    embs = np.array([e.arrays["embedding"] for e in part.evaluate(segs)])
    frames = np.array([frame_count(len(c), loaded[1]) for c in chunks], float)
    expect = (embs * (frames / frames.sum())[:, None]).sum(0)
    assert np.abs(est.arrays["embedding"] - expect).max() < 1e-5


def test_windowed_tracks(tiny_dir, segments) -> None:
    ev = Emotion2vecEvaluator(str(tiny_dir), device="cpu", window=1.0, hop=0.5)
    ests = ev.evaluate(segments)
    long = ests[-1]  # 4.0 s: windows at 0, 0.5, ..., 3.0
    assert long.arrays["arousal_track"].shape == (7,)
    assert long.arrays["probs_track"].shape == (7, 9)
    assert np.allclose(long.arrays["arousal_track_times"], np.arange(7) * 0.5 + 0.5)
    assert np.allclose(long.arrays["probs_track"].sum(1), 1)
    short = ests[5]  # shorter than a window: one window over the whole segment
    assert short.arrays["valence_track"].shape == (1,)
    # the segment-level values do not depend on the windowing
    plain = Emotion2vecEvaluator(str(tiny_dir), device="cpu").evaluate(segments)
    assert np.abs(_probs(ests) - _probs(plain)).max() < 1e-6
    # a window is scored as that stretch alone
    alone = Emotion2vecEvaluator(str(tiny_dir), device="cpu").evaluate(
        [Segment("w", segments[-1].recording, 0, 1, audio=segments[-1].audio[8000:24000])]
    )[0]
    assert abs(alone.values["arousal"] - long.arrays["arousal_track"][1]) < 1e-5


@pytest.mark.gpu
def test_cuda_equals_cpu(tiny_dir, segments) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    cpu = Emotion2vecEvaluator(str(tiny_dir), device="cpu").evaluate(segments)
    gpu = Emotion2vecEvaluator(str(tiny_dir), device="cuda", batch_size=8).evaluate(segments)
    assert np.abs(_probs(cpu) - _probs(gpu)).max() < 1e-4
