"""Fixtures: tiny randomly initialised emotion2vec models (funasr's real class), saved in both directory layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectproxy.model import Recording, Segment
from affectproxy_emotion2vec.testing import model_conf, save_random_model

# Lengths in seconds: at least five different ones, including one just above the 400-sample minimum.
LENGTHS = (0.3, 1.0, 1.7, 2.45, 3.1, 0.026, 4.0)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model in the plain layout (config.yaml + model.pt + tokens.txt)."""
    return save_random_model(tmp_path_factory.mktemp("e2v") / "tiny", model_conf(), layout="plain", seed=0)


@pytest.fixture(scope="session")
def tiny_hub_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another tiny model (different seed, default extractor) in the hub layout with configuration.json."""
    conf = model_conf(extractor_mode="default", num_heads=2, conv_pos_width=16, conv_pos_depth=2)
    return save_random_model(tmp_path_factory.mktemp("e2v") / "hub", conf, layout="hub", seed=1)


def signal(seconds: float, seed: int) -> np.ndarray:
    """A speech-like float32 test signal (harmonic glide, syllable-rate envelope, noise)."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * 16000)) / 16000
    f0 = 120 + 40 * seed + 25 * np.sin(2 * np.pi * 0.8 * t)
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    tone = sum(np.sin(k * phase) / k for k in range(1, 5))
    env = 0.4 + 0.6 * np.sin(2 * np.pi * 3.5 * t) ** 2
    return (0.1 * env * tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="session")
def waves() -> list[np.ndarray]:
    return [signal(s, i) for i, s in enumerate(LENGTHS)]


@pytest.fixture(scope="session")
def segments(waves: list[np.ndarray]) -> list[Segment]:
    """Segments with audio filled in, as the core hands them to ``evaluate``."""
    rec = Recording("synthetic", "synthetic.wav")
    out, t = [], 0.0
    for i, w in enumerate(waves):
        out.append(Segment(f"s{i}", rec, t, t + len(w) / 16000, audio=w))
        t += len(w) / 16000 + 0.1
    return out


@pytest.fixture(scope="session")
def funasr_reference(tiny_dir: Path, waves: list[np.ndarray]) -> dict[str, np.ndarray]:
    """funasr ``AutoModel.generate()`` one input at a time on the tiny model: scores, feats and raw labels."""
    import torch
    from funasr import AutoModel

    threads = torch.get_num_threads()
    try:
        model = AutoModel(model=str(tiny_dir), disable_update=True, disable_pbar=True, device="cpu", ncpu=threads)
        results = [model.generate(w, extract_embedding=True)[0] for w in waves]
    finally:
        torch.set_num_threads(threads)
    return {
        "scores": np.array([r["scores"] for r in results]),
        "feats": np.array([r["feats"] for r in results]),
        "labels": np.array(results[0]["labels"]),
    }
