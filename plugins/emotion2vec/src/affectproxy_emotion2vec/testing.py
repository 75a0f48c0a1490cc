"""Randomly initialised emotion2vec models of the real architecture, for tests and benchmarks.

:func:`save_random_model` builds funasr's ``Emotion2vec`` module from a ``model_conf`` (see :func:`model_conf`;
its defaults are tiny) and writes it in either layout the evaluator loads: ``plain`` (config.yaml + model.pt +
tokens.txt) or ``hub`` (the same plus configuration.json naming them, as ModelScope and Hugging Face ship it).
The key set follows the published emotion2vec+ config.yaml; sizes are arguments, never real weights.

Examples:
    >>> conf = model_conf(embed_dim=32, depth=1, prenet_depth=1, num_heads=2, conv_dim=32)
    >>> conf["modalities"]["audio"]["num_alibi_heads"]
    2
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HUB_TOKENS = (
    "生气/angry", "厌恶/disgusted", "恐惧/fearful", "开心/happy", "中立/neutral", "其他/other", "难过/sad",
    "吃惊/surprised", "<unk>",
)


def model_conf(
    *,
    embed_dim: int = 32,
    depth: int = 2,
    prenet_depth: int = 1,
    num_heads: int = 4,
    conv_dim: int = 32,
    conv_pos_width: int = 15,
    conv_pos_groups: int = 4,
    conv_pos_depth: int = 5,
    num_extra_tokens: int = 2,
    extractor_mode: str = "layer_norm",
    feature_encoder_spec: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A ``model_conf`` with the keys of the published emotion2vec+ config; defaults give a tiny model.

    The plus_large shape is ``embed_dim=1024, depth=8, prenet_depth=16, num_heads=16, conv_dim=512,
    conv_pos_width=95, conv_pos_groups=16, num_extra_tokens=10``.
    """
    spec = feature_encoder_spec or f"[({conv_dim}, 10, 5)] + [({conv_dim}, 3, 2)] * 4 + [({conv_dim}, 2, 2)] * 2"
    conf: dict[str, Any] = {
        "depth": depth,
        "num_heads": num_heads,
        "embed_dim": embed_dim,
        "mlp_ratio": 4.0,
        "norm_eps": 1e-5,
        "norm_affine": True,
        "layer_norm_first": False,
        "encoder_dropout": 0.1,
        "post_mlp_drop": 0.1,
        "attention_dropout": 0.1,
        "activation_dropout": 0.0,
        "dropout_input": 0.0,
        "layerdrop": 0.05,
        "start_drop_path_rate": 0.0,
        "end_drop_path_rate": 0.0,
        "average_top_k_layers": depth,
        "end_of_block_targets": False,
        "clone_batch": 8,
        "normalize": True,
        "modalities": {
            "audio": {
                "type": "AUDIO",
                "prenet_depth": prenet_depth,
                "prenet_layerdrop": 0.05,
                "prenet_dropout": 0.1,
                "start_drop_path_rate": 0.0,
                "end_drop_path_rate": 0.0,
                "num_extra_tokens": num_extra_tokens,
                "init_extra_token_zero": False,
                "mask_noise_std": 0.01,
                "mask_prob_min": None,
                "inverse_mask": False,
                "mask_prob": 0.5,
                "keep_masked_pct": 0.0,
                "mask_length": 5,
                "add_masks": False,
                "remove_masks": False,
                "mask_dropout": 0.0,
                "encoder_zero_mask": True,
                "mask_channel_prob": 0.0,
                "mask_channel_length": 64,
                "ema_local_encoder": False,
                "local_grad_mult": 1.0,
                "use_alibi_encoder": True,
                "alibi_scale": 1.0,
                "learned_alibi": False,
                "alibi_max_pos": None,
                "learned_alibi_scale": True,
                "learned_alibi_scale_per_head": True,
                "learned_alibi_scale_per_layer": False,
                "num_alibi_heads": num_heads,
                "model_depth": depth,
                "decoder": None,
                "extractor_mode": extractor_mode,
                "feature_encoder_spec": spec,
                "conv_pos_width": conv_pos_width,
                "conv_pos_groups": conv_pos_groups,
                "conv_pos_depth": conv_pos_depth,
                "conv_pos_pre_ln": False,
            }
        },
    }
    conf.update(overrides)
    return conf


def config_yaml(conf: dict[str, Any]) -> dict[str, Any]:
    """The whole ``config.yaml`` around a ``model_conf``, with the tokenizer section funasr's AutoModel needs."""
    return {
        "model": "Emotion2vec",
        "model_conf": conf,
        "tokenizer": "CharTokenizer",
        "tokenizer_conf": {"unk_symbol": "<unk>", "split_with_space": True},
    }


def plus_large_conf() -> dict[str, Any]:
    """The shape of the published ``emotion2vec_plus_large`` (~300M parameters), for full-size random models."""
    return model_conf(embed_dim=1024, depth=8, prenet_depth=16, num_heads=16, conv_dim=512, conv_pos_width=95,
                      conv_pos_groups=16, conv_pos_depth=5, num_extra_tokens=10, extractor_mode="layer_norm")


def random_model(conf: dict[str, Any] | None = None, *, tokens: int = len(HUB_TOKENS), seed: int = 0) -> Any:
    """funasr's ``Emotion2vec`` with random weights, built on the ``meta`` device and filled quickly (eval mode).

    Matrices are N(0, 1/fan_in), norm weights N(1, 0.05), other vectors N(0, 0.05), ALiBi scales 1: the scale of a
    trained model, in seconds instead of funasr's half-minute initialisation for the full size.

    Args:
        conf: the ``model_conf`` (default: tiny); its ``feature_encoder_spec`` may be the config's expression.
        tokens: the number of labels.
        seed: the generator's seed.
    """
    import math

    import torch

    from affectproxy_emotion2vec.checkpoint import emotion2vec_class

    conf = dict(conf or model_conf())
    audio = dict(conf["modalities"]["audio"])
    audio["feature_encoder_spec"] = repr(_spec(audio["feature_encoder_spec"]))
    conf["modalities"] = {**conf["modalities"], "audio": audio}
    with torch.device("meta"):
        model = emotion2vec_class()(model_conf=conf, vocab_size=tokens)
    model = model.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("alibi_scale"):
                p.fill_(1.0)
            elif p.dim() >= 2:
                p.normal_(0.0, 1.0 / math.sqrt(p[0].numel()), generator=gen)
            elif name.endswith("weight"):
                p.normal_(1.0, 0.05, generator=gen)
            else:
                p.normal_(0.0, 0.05, generator=gen)
            p.requires_grad_(False)
    return model.eval()


def _spec(text: str) -> list[tuple[int, int, int]]:
    import ast

    from affectproxy_emotion2vec.checkpoint import _safe_conv_spec

    return list(ast.literal_eval(_safe_conv_spec(text, Path("model_conf"))))


def save_random_model(
    directory: str | Path,
    conf: dict[str, Any] | None = None,
    *,
    layout: str = "plain",
    tokens: tuple[str, ...] = HUB_TOKENS,
    seed: int = 0,
    state_dict: dict[str, Any] | None = None,
    fast: bool = False,
) -> Path:
    """Build a randomly initialised ``Emotion2vec`` (funasr's class) and save it as a model directory.

    Args:
        directory: where to write (created if needed).
        conf: the ``model_conf``; default :func:`model_conf` (tiny).
        layout: ``"plain"`` (config.yaml, model.pt, tokens.txt) or ``"hub"`` (the hub's file names under a
            ``configuration.json``).
        tokens: the lines of the token list.
        seed: torch seed for the initialisation.
        state_dict: write this state dict instead of the fresh model's (to make mismatching checkpoints).
        fast: initialise with :func:`random_model` (seconds for the full size) instead of funasr's own init.

    Returns:
        The directory.
    """
    import torch
    import yaml
    from funasr.models.emotion2vec.model import Emotion2vec

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    conf = conf or model_conf()
    if state_dict is None and fast:
        state_dict = random_model(conf, tokens=len(tokens), seed=seed).state_dict()
    if state_dict is None:
        torch.manual_seed(seed)
        model = Emotion2vec(model_conf=conf, vocab_size=len(tokens))
        with torch.no_grad():  # fairseq-style init leaves LayerNorms at identity; make every tensor matter
            for name, p in model.named_parameters():
                if name.endswith("alibi_scale"):
                    continue
                if p.dim() == 1:
                    p.add_(0.05 * torch.randn_like(p))
        state_dict = model.state_dict()
    names = ("model.pt", "config.yaml", "tokens.txt") if layout == "plain" else ("emotion2vec+large.pt",
                                                                                   "config.yaml", "tokens.txt")
    if layout not in ("plain", "hub"):
        raise ValueError(f"layout must be 'plain' or 'hub', got {layout!r}")
    torch.save({"model": state_dict}, directory / names[0])
    (directory / names[1]).write_text(yaml.safe_dump(config_yaml(conf), allow_unicode=True), encoding="utf-8")
    (directory / names[2]).write_text("\n".join(tokens) + "\n", encoding="utf-8")
    if layout == "hub":
        meta = {
            "framework": "pytorch",
            "task": "emotion-recognition",
            "model": {"type": "emotion2vec"},
            "pipeline": {"type": "funasr-pipeline"},
            "file_path_metas": {"init_param": names[0], "config": names[1],
                                "tokenizer_conf": {"token_list": names[2]}},
        }
        (directory / "configuration.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return directory


__all__ = ["HUB_TOKENS", "config_yaml", "model_conf", "plus_large_conf", "random_model", "save_random_model"]
