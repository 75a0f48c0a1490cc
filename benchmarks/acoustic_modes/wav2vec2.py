"""Benchmark families ``wav2vec2`` (large, categorical head) and ``wav2vec2-audeering`` (dimensional head).

``wav2vec2``: a random wav2vec2-large (24 layers, hidden 1024, layer-norm front end, stable layer norm) with a
4-class categorical head. Modes: ``pipeline`` (one by one, reference: ``transformers.pipeline(
"audio-classification", top_k=None)``, probabilities re-ordered by label index), ``ours-fp32`` / ``ours-bf16``
(the evaluator with its default batching for the device).

``wav2vec2-audeering``: the audeering dimensional layout at full size (12 layers, regression head): modes
``ours-per-item-fp32`` (one by one, reference; equal to the model card's computation in tests), ``ours-fp32``,
``ours-bf16``; outputs are the raw arousal, dominance, valence values.

``--tiny`` builds hidden-32, 2-layer models of the same layouts. Weights are random: speed and numerical
agreement only, not accuracy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from acoustic_modes import SAMPLE_RATE, Family, Mode, Run, chunks, flops_per_audio_second

LABELS = {0: "neu", 1: "hap", 2: "ang", 3: "sad"}


def _config(tiny: bool, layers: int, **extra: Any) -> Any:
    from transformers import Wav2Vec2Config

    size: dict[str, Any] = (
        {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37,
         "conv_dim": (32,) * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2}
        if tiny else
        {"hidden_size": 1024, "num_hidden_layers": layers, "num_attention_heads": 16, "intermediate_size": 4096,
         "conv_dim": (512,) * 7, "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16}
    )
    return Wav2Vec2Config(**size, conv_bias=True, feat_extract_norm="layer", do_stable_layer_norm=True,
                          vocab_size=None, **extra)


def _done(folder: Path) -> bool:
    return all((folder / f).is_file() for f in ("config.json", "model.safetensors", "preprocessor_config.json"))


def _save_feature_extractor(folder: Path) -> None:
    from transformers import Wav2Vec2FeatureExtractor

    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(folder)


def _quiet() -> None:
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build_large(cache_dir: Path, tiny: bool) -> Path:
    import torch
    from transformers import Wav2Vec2ForSequenceClassification

    _quiet()
    folder = Path(cache_dir) / ("wav2vec2-tiny-cat" if tiny else "wav2vec2-large-cat")
    if not _done(folder):
        torch.manual_seed(0)
        config = _config(tiny, 24, id2label=LABELS, label2id={v: k for k, v in LABELS.items()},
                         classifier_proj_size=16 if tiny else 256)
        Wav2Vec2ForSequenceClassification(config).eval().save_pretrained(folder)
        _save_feature_extractor(folder)
    return folder


def build_audeering(cache_dir: Path, tiny: bool) -> Path:
    import torch

    from affectproxy_wav2vec2.modeling import Wav2Vec2DimensionalModel

    _quiet()
    folder = Path(cache_dir) / ("wav2vec2-tiny-dim" if tiny else "wav2vec2-audeering-dim")
    if not _done(folder):
        torch.manual_seed(0)
        config = _config(tiny, 12, architectures=["Wav2Vec2ForSpeechClassification"], problem_type="regression",
                         id2label={0: "arousal", 1: "dominance", 2: "valence"},
                         label2id={"arousal": 0, "dominance": 1, "valence": 2}, final_dropout=0.1)
        Wav2Vec2DimensionalModel(config).eval().save_pretrained(folder)
        _save_feature_extractor(folder)
    return folder


def _pipeline(folder: Path, device: str) -> Run:
    from transformers import pipeline

    _quiet()
    pipe = pipeline("audio-classification", model=str(folder), top_k=None, device=device)
    index = {label: int(i) for i, label in pipe.model.config.id2label.items()}

    def run(waves: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(waves), len(index)))
        for row, wave in enumerate(waves):
            for item in pipe({"raw": wave, "sampling_rate": SAMPLE_RATE}):
                out[row, index[item["label"]]] = item["score"]
        return out

    return run


def _ours(dtype: str, per_item: bool) -> Any:
    def load(folder: Path, device: str) -> Run:
        import affectproxy as ap
        from affectproxy_wav2vec2 import Wav2Vec2Evaluator

        _quiet()
        seconds = os.environ.get("AFFECTPROXY_BENCH_MAX_BATCH_SECONDS")
        ev = Wav2Vec2Evaluator(model=str(folder), device=device, dtype=dtype, clip=False,
                               max_batch_seconds=0 if per_item else (float(seconds) if seconds else None))
        labels = [d.name for d in ev.dimensions] if ev.info.kind == "dimensional" else ev.info.labels
        rec = ap.Recording("bench")

        def run(waves: list[np.ndarray]) -> np.ndarray:
            segs = [ap.Segment(f"b{i}", rec, 0, len(w) / SAMPLE_RATE, audio=w) for i, w in enumerate(waves)]
            out = [e for part in chunks(segs, 1 if per_item else ev.batch_size) for e in ev.evaluate(part)]
            if ev.info.kind == "dimensional":
                return np.array([[e.raw["outputs"][k] for k in labels] for e in out], np.float64)
            return np.array([[e.categories[k] for k in labels] for e in out], np.float64)

        return run

    return load


def flops(folder: Path, device: str) -> float:
    """FLOP per audio second of the backbone's forward pass (the heads are negligible), counted on the ``meta``
    device from the config alone (no compute; 37.1 GFLOP for the wav2vec2-large size)."""
    import torch
    from torch.nn.utils import parametrize
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    _quiet()
    with torch.device("meta"):
        model = Wav2Vec2Model(Wav2Vec2Config.from_pretrained(str(folder))).eval()
    for module in model.modules():  # the weight-norm parametrisation breaks under the FLOP counter: fold it in
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return flops_per_audio_second(lambda wave: model(wave), "meta")


FAMILIES = [
    Family(
        name="wav2vec2",
        build=build_large,
        modes=(
            Mode("pipeline", _pipeline, one_by_one=True),
            Mode("ours-fp32", _ours("float32", per_item=False)),
            Mode("ours-bf16", _ours("bfloat16", per_item=False), dtype="bfloat16"),
        ),
        reference=("pipeline",),
        flops=flops,
    ),
    Family(
        name="wav2vec2-audeering",
        build=build_audeering,
        modes=(
            Mode("ours-per-item-fp32", _ours("float32", per_item=True), one_by_one=True),
            Mode("ours-fp32", _ours("float32", per_item=False)),
            Mode("ours-bf16", _ours("bfloat16", per_item=False), dtype="bfloat16"),
        ),
        reference=("ours-per-item-fp32",),
        flops=flops,
    ),
]
