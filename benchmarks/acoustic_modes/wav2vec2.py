"""Benchmark modes for the wav2vec2 family (driven by benchmarks/acoustic.py).

Family ``wav2vec2``: a full-size, randomly initialised wav2vec2-large (24 layers, hidden 1024, layer-norm front
end, stable layer norm) with a 4-class categorical head. Modes:

* ``pipeline`` (reference): ``transformers.pipeline("audio-classification", top_k=None)``, one segment at a
  time, probabilities re-ordered by label index;
* ``ours-fp32`` / ``ours-bf16``: the ``wav2vec2`` evaluator (bf16 = autocast of the backbone).

Extra family ``wav2vec2-audeering`` (in ``EXTRA_FAMILIES``): the audeering dimensional layout at full size
(12 layers, regression head), modes ``audeering-fp32`` (reference) and ``audeering-bf16``; outputs are the raw
arousal, dominance, valence values.

Every ``run`` returns an (n_segments, k) float64 array. Weights are random: this measures speed and numerical
agreement, not accuracy.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

FAMILY = "wav2vec2"
REFERENCE = "pipeline"
SAMPLE_RATE = 16000
LABELS = {0: "neu", 1: "hap", 2: "ang", 3: "sad"}
LARGE = "wav2vec2-large-cat"
AUDEERING = "wav2vec2-audeering-dim"

Run = Callable[[list[np.ndarray]], np.ndarray]


def _config(layers: int, **extra: Any) -> Any:
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        hidden_size=1024,
        num_hidden_layers=layers,
        num_attention_heads=16,
        intermediate_size=4096,
        conv_dim=(512,) * 7,
        conv_bias=True,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        num_conv_pos_embeddings=128,
        num_conv_pos_embedding_groups=16,
        vocab_size=None,
        **extra,
    )


def _done(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "model.safetensors").is_file() and (
        folder / "preprocessor_config.json").is_file()


def _save_feature_extractor(folder: Path) -> None:
    from transformers import Wav2Vec2FeatureExtractor

    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(folder)


def prepare(cache_dir: Path) -> None:
    """Build and save both random full-size checkpoints under ``cache_dir`` (skips what is already there)."""
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    large = Path(cache_dir) / LARGE
    if not _done(large):
        from transformers import Wav2Vec2ForSequenceClassification

        torch.manual_seed(0)
        config = _config(24, id2label=LABELS, label2id={v: k for k, v in LABELS.items()}, classifier_proj_size=256)
        Wav2Vec2ForSequenceClassification(config).eval().save_pretrained(large)
        _save_feature_extractor(large)
    dim = Path(cache_dir) / AUDEERING
    if not _done(dim):
        from affectproxy_wav2vec2.modeling import Wav2Vec2DimensionalModel

        torch.manual_seed(0)
        config = _config(12, architectures=["Wav2Vec2ForSpeechClassification"], problem_type="regression",
                         id2label={0: "arousal", 1: "dominance", 2: "valence"},
                         label2id={"arousal": 0, "dominance": 1, "valence": 2}, final_dropout=0.1)
        Wav2Vec2DimensionalModel(config).eval().save_pretrained(dim)
        _save_feature_extractor(dim)


def _segments(audios: list[np.ndarray]) -> list[Any]:
    import affectproxy as ap

    rec = ap.Recording("bench")
    return [ap.Segment(f"b{i}", rec, 0, max(len(a), 1) / SAMPLE_RATE, audio=a) for i, a in enumerate(audios)]


def _warm_up(run: Run) -> Run:
    run([np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.1])
    return run


def _pipeline(cache_dir: Path) -> Run:
    import transformers
    from transformers import pipeline

    transformers.utils.logging.disable_progress_bar()
    pipe = pipeline("audio-classification", model=str(Path(cache_dir) / LARGE), top_k=None, device="cpu")
    index = {label: int(i) for i, label in pipe.model.config.id2label.items()}

    def run(audios: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(audios), len(index)))
        for row, audio in enumerate(audios):
            for item in pipe({"raw": audio, "sampling_rate": SAMPLE_RATE}):
                out[row, index[item["label"]]] = item["score"]
        return out

    return _warm_up(run)


def _ours(folder: str, dtype: str) -> Callable[[Path], Run]:
    def load(cache_dir: Path) -> Run:
        from affectproxy_wav2vec2 import Wav2Vec2Evaluator

        ev = Wav2Vec2Evaluator(model=str(Path(cache_dir) / folder), dtype=dtype, clip=False)
        labels = [d.name for d in ev.dimensions] if ev.info.kind == "dimensional" else ev.info.labels

        def run(audios: list[np.ndarray]) -> np.ndarray:
            estimates = ev.evaluate(_segments(audios))
            if ev.info.kind == "dimensional":
                return np.array([[e.raw["outputs"][k] for k in labels] for e in estimates], dtype=np.float64)
            return np.array([[e.categories[k] for k in labels] for e in estimates], dtype=np.float64)

        return _warm_up(run)

    return load


MODES: dict[str, Callable[[Path], Run]] = {
    "pipeline": _pipeline,
    "ours-fp32": _ours(LARGE, "float32"),
    "ours-bf16": _ours(LARGE, "bfloat16"),
}

EXTRA_FAMILIES: dict[str, dict[str, Any]] = {
    "wav2vec2-audeering": {
        "REFERENCE": "audeering-fp32",
        "MODES": {
            "audeering-fp32": _ours(AUDEERING, "float32"),
            "audeering-bf16": _ours(AUDEERING, "bfloat16"),
        },
    },
}
