"""Benchmark modes for the emotion2vec family (driven by benchmarks/acoustic.py).

Family ``emotion2vec``: a randomly initialised model of the emotion2vec_plus_large shape (embed_dim 1024, 8 blocks
after a 16-block prenet, 16 heads, 512-channel layer-norm front end at 50 frames/s, 95-wide positional
convolution in 16 groups; ~300M parameters), 9 labels as on the hub, written as config.yaml + model.pt +
tokens.txt. The shape is written here, never hard-coded in the plugin. Modes:

* ``funasr-generate`` (reference): ``funasr.AutoModel(...).generate()`` one segment at a time;
* ``ours-fp32``: the ``emotion2vec`` evaluator, float32 (default batch policy: one at a time on CPU);
* ``ours-bf16``: the same under bfloat16 autocast.

Every ``run`` returns the (n_segments, 9) class probabilities. Weights are random: this measures speed and
numerical agreement, not accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from acoustic_modes import device

FAMILY = "emotion2vec"
REFERENCE = "funasr-generate"
FOLDER = "emotion2vec-plus-large-random"
LABELS = ["angry", "disgusted", "fearful", "happy", "neutral", "other", "sad", "surprised", "unknown"]

Run = Callable[[list[np.ndarray]], np.ndarray]


def plus_large_conf() -> dict[str, Any]:
    """The plus_large shape, as the published config.yaml gives it."""
    from affectproxy_emotion2vec.testing import model_conf

    return model_conf(embed_dim=1024, depth=8, prenet_depth=16, num_heads=16, conv_dim=512, conv_pos_width=95,
                      conv_pos_groups=16, conv_pos_depth=5, num_extra_tokens=10, extractor_mode="layer_norm")


def prepare(cache_dir: Path) -> None:
    """Write the random plus_large-shaped model under ``cache_dir`` unless it is already there."""
    from affectproxy_emotion2vec.testing import save_random_model

    folder = Path(cache_dir) / FOLDER
    if all((folder / f).is_file() for f in ("model.pt", "config.yaml", "tokens.txt")):
        return
    save_random_model(folder, plus_large_conf(), layout="plain", seed=0)


def _funasr(cache_dir: Path) -> Run:
    import contextlib
    import io

    import torch

    with contextlib.redirect_stdout(io.StringIO()):
        from funasr import AutoModel

        model = AutoModel(model=str(Path(cache_dir) / FOLDER), disable_update=True, disable_pbar=True,
                          device=device(), ncpu=torch.get_num_threads())

    def run(audios: list[np.ndarray]) -> np.ndarray:
        return np.array([model.generate(a, extract_embedding=False)[0]["scores"] for a in audios], np.float64)

    return run


def _ours(dtype: str) -> Callable[[Path], Run]:
    def load(cache_dir: Path) -> Run:
        import affectproxy as ap
        from affectproxy_emotion2vec import Emotion2vecEvaluator

        ev = Emotion2vecEvaluator(str(Path(cache_dir) / FOLDER), device=device(), dtype=dtype)
        rec = ap.Recording("bench")
        ev.evaluate([ap.Segment("load", rec, 0, 1, audio=np.zeros(16000, np.float32))])  # loads the weights

        def run(audios: list[np.ndarray]) -> np.ndarray:
            segs = [ap.Segment(f"b{i}", rec, 0, len(a) / 16000, audio=a) for i, a in enumerate(audios)]
            return np.array([[e.categories[k] for k in LABELS] for e in ev.evaluate(segs)], np.float64)

        return run

    return load


MODES: dict[str, Callable[[Path], Run]] = {
    "funasr-generate": _funasr,
    "ours-fp32": _ours("float32"),
    "ours-bf16": _ours("bfloat16"),
}
