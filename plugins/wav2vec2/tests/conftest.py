"""Tiny randomly initialised wav2vec2 checkpoints of the real architectures, saved the way the hub ships them.

* ``dim_dir``: the audeering layout (stable layer norm, layer-norm front end, regression head with keys
  ``classifier.dense.*`` / ``classifier.out_proj.*``, config architectures ``Wav2Vec2ForSpeechClassification``,
  ``problem_type`` regression), built from plain ``Wav2Vec2Model`` + ``nn.Linear`` (not our class) and written
  with ``safetensors``.
* ``dim_bin_dir``: the same weights as a legacy ``pytorch_model.bin`` with ``weight_g``/``weight_v`` names, as the
  real checkpoint (saved by transformers 4.17) has.
* ``cat_layer_dir``: a large/robust-style categorical model (layer-norm front end, weighted layer sum, IEMOCAP
  labels), saved by ``Wav2Vec2ForSequenceClassification.save_pretrained``.
* ``cat_group_dir``: a base-style categorical model (group-norm front end, no attention mask), like
  superb/wav2vec2-base-superb-er.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

IEMOCAP = {0: "neu", 1: "hap", 2: "ang", 3: "sad"}


def tiny_config(norm: str, **extra: object) -> object:
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        conv_dim=(32,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm=norm,
        do_stable_layer_norm=norm == "layer",
        vocab_size=None,
        **extra,
    )


def _feature_extractor(folder: Path, mask: bool) -> None:
    from transformers import Wav2Vec2FeatureExtractor

    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=mask
    ).save_pretrained(folder)


def _quiet() -> None:
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


@pytest.fixture(scope="session")
def dim_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import torch
    from safetensors.torch import save_file
    from transformers import Wav2Vec2Model

    _quiet()
    folder = tmp_path_factory.mktemp("dim")
    config = tiny_config(
        "layer",
        architectures=["Wav2Vec2ForSpeechClassification"],
        id2label={0: "arousal", 1: "dominance", 2: "valence"},
        label2id={"arousal": 0, "dominance": 1, "valence": 2},
        problem_type="regression",
        finetuning_task="wav2vec2_reg",
    )
    torch.manual_seed(1)
    backbone = Wav2Vec2Model(config).eval()
    dense, out_proj = torch.nn.Linear(32, 32), torch.nn.Linear(32, 3)
    with torch.no_grad():  # outputs near 0.5, like the real head's ~0..1
        out_proj.weight.mul_(0.3)
        out_proj.bias.fill_(0.5)
    state = {f"wav2vec2.{k}": v for k, v in backbone.state_dict().items()}
    state |= {f"classifier.dense.{k}": v for k, v in dense.state_dict().items()}
    state |= {f"classifier.out_proj.{k}": v for k, v in out_proj.state_dict().items()}
    save_file({k: v.contiguous() for k, v in state.items()}, folder / "model.safetensors", metadata={"format": "pt"})
    config.save_pretrained(folder)
    _feature_extractor(folder, mask=True)
    legacy = tmp_path_factory.mktemp("dim_bin")
    renamed = {
        k.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1",
                                                                             "weight_v"): v
        for k, v in state.items()
    }
    torch.save(renamed, legacy / "pytorch_model.bin")
    for name in ("config.json", "preprocessor_config.json"):
        (legacy / name).write_text((folder / name).read_text())
    return folder, legacy


@pytest.fixture(scope="session")
def dim_dir(dim_dirs: tuple[Path, Path]) -> Path:
    return dim_dirs[0]


@pytest.fixture(scope="session")
def dim_bin_dir(dim_dirs: tuple[Path, Path]) -> Path:
    return dim_dirs[1]


@pytest.fixture(scope="session")
def cat_layer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import Wav2Vec2ForSequenceClassification

    _quiet()
    folder = tmp_path_factory.mktemp("cat_layer")
    config = tiny_config("layer", id2label=IEMOCAP, label2id={v: k for k, v in IEMOCAP.items()},
                         classifier_proj_size=16, use_weighted_layer_sum=True)
    torch.manual_seed(2)
    model = Wav2Vec2ForSequenceClassification(config).eval()
    with torch.no_grad():
        model.layer_weights.copy_(torch.randn(3))
        model.classifier.weight.mul_(20)  # spread the probabilities so differences show
    model.save_pretrained(folder)
    _feature_extractor(folder, mask=True)
    return folder


@pytest.fixture(scope="session")
def cat_group_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import Wav2Vec2ForSequenceClassification

    _quiet()
    folder = tmp_path_factory.mktemp("cat_group")
    config = tiny_config("group", id2label=IEMOCAP, label2id={v: k for k, v in IEMOCAP.items()},
                         classifier_proj_size=16)
    torch.manual_seed(3)
    model = Wav2Vec2ForSequenceClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(20)
    model.save_pretrained(folder)
    _feature_extractor(folder, mask=False)
    return folder
