"""Benchmark family ``emotion2vec``: a random model of the emotion2vec_plus_large shape (or a tiny one).

The full size: embed_dim 1024, 8 blocks after a 16-block prenet, 16 heads, 512-channel layer-norm front end at
50 frames/s, 95-wide positional convolution in 16 groups; ~300M parameters, 9 labels as on the hub, written as
config.yaml + model.pt + tokens.txt. Modes:

* ``funasr-generate`` (one by one, reference): ``funasr.AutoModel(...).generate()`` one segment at a time;
* ``ours-per-item-fp32`` (one by one, reference where funasr's AutoModel cannot run): the evaluator with
  ``max_batch_seconds=0`` (equal to ``generate()`` to ~1e-7 in tests);
* ``ours-fp32`` / ``ours-bf16``: the evaluator with its default batching for the device (length-bucketed padded
  batches of ``max_batch_seconds`` audio on an accelerator), fp32 or bf16 autocast.

Every ``run`` returns the (n_segments, 9) class probabilities. Weights are random: speed and numerical agreement
only, not accuracy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from acoustic_modes import SAMPLE_RATE, Family, Mode, Run, chunks, flops_per_audio_second

LABELS = ["angry", "disgusted", "fearful", "happy", "neutral", "other", "sad", "surprised", "unknown"]


def _conf(tiny: bool) -> dict[str, Any]:
    from affectproxy_emotion2vec.testing import model_conf, plus_large_conf

    return model_conf() if tiny else plus_large_conf()


def build(cache_dir: Path, tiny: bool) -> Path:
    """Write the random model under ``cache_dir`` unless it is already there."""
    from affectproxy_emotion2vec.testing import save_random_model

    folder = Path(cache_dir) / ("emotion2vec-tiny-random" if tiny else "emotion2vec-plus-large-random")
    if not all((folder / f).is_file() for f in ("model.pt", "config.yaml", "tokens.txt")):
        save_random_model(folder, _conf(tiny), layout="plain", seed=0, fast=True)
    return folder


def _funasr(folder: Path, device: str) -> Run:
    import contextlib
    import io

    import torch

    with contextlib.redirect_stdout(io.StringIO()):
        from funasr import AutoModel

        model = AutoModel(model=str(folder), disable_update=True, disable_pbar=True, device=device,
                          ncpu=torch.get_num_threads())

    def run(waves: list[np.ndarray]) -> np.ndarray:
        with contextlib.redirect_stdout(io.StringIO()):
            return np.array([model.generate(w, extract_embedding=False)[0]["scores"] for w in waves], np.float64)

    return run


def _ours(dtype: str, per_item: bool) -> Any:
    def load(folder: Path, device: str) -> Run:
        import affectproxy as ap
        from affectproxy_emotion2vec import Emotion2vecEvaluator

        seconds = os.environ.get("AFFECTPROXY_BENCH_MAX_BATCH_SECONDS")
        ev = Emotion2vecEvaluator(str(folder), device=device, dtype=dtype,
                                  max_batch_seconds=0 if per_item else (float(seconds) if seconds else None))
        rec = ap.Recording("bench")

        def run(waves: list[np.ndarray]) -> np.ndarray:
            segs = [ap.Segment(f"b{i}", rec, 0, len(w) / SAMPLE_RATE, audio=w) for i, w in enumerate(waves)]
            out = [e for part in chunks(segs, 1 if per_item else ev.batch_size) for e in ev.evaluate(part)]
            return np.array([[e.categories[k] for k in LABELS] for e in out], np.float64)

        return run

    return load


def flops(folder: Path, device: str) -> float:
    """FLOP per audio second of the forward pass (front end, positional convolution, blocks), counted on the
    ``meta`` device from the config alone (no compute; 38.2 GFLOP for the plus_large size)."""
    import torch

    from affectproxy_emotion2vec.checkpoint import emotion2vec_class, read_model_conf
    from affectproxy_emotion2vec.inference import Runner

    conf = read_model_conf(folder / "config.yaml")
    with torch.device("meta"):
        model = emotion2vec_class()(model_conf=conf, vocab_size=len(LABELS)).eval()
    runner = Runner(model, conf, np.ones(len(LABELS), bool), "meta", None)

    def forward(wave: Any) -> Any:
        x, _ = runner.features(wave, torch.tensor([wave.shape[1]], device="meta"))
        return runner._blocks(x, torch.zeros(x.shape[:2], dtype=torch.bool, device="meta"))

    return flops_per_audio_second(forward, "meta")


FAMILIES = [
    Family(
        name="emotion2vec",
        build=build,
        modes=(
            Mode("funasr-generate", _funasr, one_by_one=True),
            Mode("ours-per-item-fp32", _ours("float32", per_item=True), one_by_one=True),
            Mode("ours-fp32", _ours("float32", per_item=False)),
            Mode("ours-bf16", _ours("bfloat16", per_item=False), dtype="bfloat16"),
        ),
        reference=("funasr-generate", "ours-per-item-fp32"),
        flops=flops,
    )
]
