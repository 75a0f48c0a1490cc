"""Building funasr's ``Emotion2vec`` module from a model directory and loading its weights safely and strictly.

funasr's own loader unpickles the checkpoint, deep-copies it (peak ~3x its size) and skips missing or mis-shaped
keys with a log line, so weights that do not match the config are silently replaced by random ones. Here the
module is built on the ``meta`` device from ``config.yaml``'s ``model_conf`` and the state dict is loaded with
``torch.load(weights_only=True, mmap=True)`` and ``load_state_dict(strict=True, assign=True)``: no arbitrary
objects are unpickled, memory stays near the checkpoint's size, and any mismatch is an error naming the keys.
"""

from __future__ import annotations

import ast
import contextlib
import io
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from affectproxy.errors import AffectProxyError
from affectproxy.hashing import file_sha256
from affectproxy_emotion2vec.locate import ModelFiles

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

LABEL_ALIASES = {"<unk>": "unknown"}


class CheckpointError(AffectProxyError, ValueError):
    """The checkpoint, config or token list does not fit the emotion2vec architecture."""


def normalise_label(token: str) -> str:
    """funasr's bilingual token to the English label: ``"生气/angry"`` -> ``"angry"``, ``"<unk>"`` -> ``"unknown"``.

    Examples:
        >>> [normalise_label(t) for t in ("生气/angry", "<unk>", "中立/neutral", "sad")]
        ['angry', 'unknown', 'neutral', 'sad']
    """
    token = token.strip()
    token = LABEL_ALIASES.get(token, token)
    return token.rpartition("/")[2].strip() or token


def read_tokens(path: Path) -> list[str]:
    """The raw tokens of ``tokens.txt`` in index order (``unuse*`` placeholders included)."""
    tokens = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not tokens:
        raise CheckpointError(f"{path} holds no labels; it needs one label per line (e.g. '生气/angry').")
    return tokens


def _spec_value(node: ast.AST) -> Any:
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        left, right = _spec_value(node.left), _spec_value(node.right)
        return left + right if isinstance(node.op, ast.Add) else left * right
    return ast.literal_eval(node)


def _safe_conv_spec(spec: Any, config: Path) -> str:
    """funasr ``eval()``s ``feature_encoder_spec``; accept only a literal list of int triples (``a + b * n``)."""
    try:
        layers = _spec_value(ast.parse(str(spec), mode="eval").body)
        if not (isinstance(layers, list) and layers and all(
            isinstance(t, tuple) and len(t) == 3 and all(isinstance(v, int) for v in t) for t in layers
        )):
            raise ValueError("not a list of (dim, kernel, stride) triples")
    except (ValueError, SyntaxError, TypeError) as exc:
        raise CheckpointError(
            f"{config}: model_conf.modalities.audio.feature_encoder_spec must be a literal list of "
            f"(dim, kernel, stride) triples, got {spec!r} ({exc})."
        ) from exc
    return repr(layers)


def read_model_conf(config: Path) -> dict[str, Any]:
    """``model_conf`` of a funasr ``config.yaml``, checked for what emotion2vec needs."""
    import yaml

    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CheckpointError(f"{config} is not valid YAML: {exc}") from exc
    conf = (data or {}).get("model_conf") if isinstance(data, Mapping) else None
    audio = (conf or {}).get("modalities", {}).get("audio") if isinstance(conf, Mapping) else None
    if not isinstance(audio, Mapping):
        raise CheckpointError(f"{config} has no model_conf.modalities.audio section: is this an emotion2vec model?")
    model = data.get("model")
    if model not in (None, "Emotion2vec"):
        raise CheckpointError(f"{config} names model {model!r}; this evaluator runs 'Emotion2vec' models only.")
    conf = dict(conf)  # type: ignore[arg-type]
    conf["modalities"] = {**conf["modalities"], "audio": dict(audio)}
    conf["modalities"]["audio"]["feature_encoder_spec"] = _safe_conv_spec(audio.get("feature_encoder_spec"), config)
    return conf


def conv_layers(model_conf: Mapping[str, Any]) -> list[tuple[int, int, int]]:
    """The (dim, kernel, stride) triples of the convolutional front end (the spec may be ``a + b * n``)."""
    return list(_spec_value(ast.parse(str(model_conf["modalities"]["audio"]["feature_encoder_spec"]),
                                      mode="eval").body))


def min_samples(model_conf: Mapping[str, Any]) -> int:
    """The fewest input samples that give one frame: the front end's receptive field (400 for emotion2vec)."""
    need = 1
    for _, kernel, stride in reversed(conv_layers(model_conf)):
        need = (need - 1) * stride + kernel
    return need


def frame_count(n_samples: int, model_conf: Mapping[str, Any]) -> int:
    """Frames the front end makes of ``n_samples`` samples."""
    n = n_samples
    for _, kernel, stride in conv_layers(model_conf):
        n = (n - kernel) // stride + 1
    return n


def emotion2vec_class() -> Any:
    """funasr's ``Emotion2vec`` class, imported with funasr's import-time notices kept off stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        from funasr.models.emotion2vec.model import Emotion2vec
    return Emotion2vec


def _state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict.")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:  # not a zip archive (legacy format): mmap is impossible, still weights only
        if "mmap" not in str(exc):
            raise CheckpointError(f"{path} could not be read as a PyTorch checkpoint: {exc}") from exc
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle.UnpicklingError for checkpoints holding arbitrary objects
        raise CheckpointError(
            f"{path} could not be loaded with weights_only=True ({type(exc).__name__}: {exc}). It holds objects "
            "other than tensors; re-save it as a plain state dict (torch.save(model.state_dict(), path))."
        ) from exc
    return _state_dict(obj, path)


def _list(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def build_model(files: ModelFiles) -> tuple[Any, dict[str, Any], list[str]]:
    """Build funasr's ``Emotion2vec`` module from ``files`` and load its weights strictly.

    Args:
        files: the model directory's files.

    Returns:
        The module (eval mode, on the CPU, float32), its ``model_conf`` and the raw tokens in index order.

    Raises:
        CheckpointError: the config is not an emotion2vec config, the checkpoint is not a plain state dict, or its
            keys or shapes do not match the module the config describes (the message names the keys).
    """
    import torch

    Emotion2vec = emotion2vec_class()
    conf = read_model_conf(files.config)
    tokens = read_tokens(files.tokens)
    state = _load_tensors(files.checkpoint)
    alibi = "modality_encoders.AUDIO.alibi_scale"
    if alibi in state and state[alibi].dim() == 4:  # older checkpoints, as funasr's upgrade_state_dict_named
        state[alibi] = state[alibi].unsqueeze(0)
    try:
        with torch.device("meta"):
            model = Emotion2vec(model_conf=conf, vocab_size=len(tokens))
    except Exception as exc:
        raise CheckpointError(f"{files.config}: funasr could not build Emotion2vec from model_conf: {exc}") from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    )
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys: {_list(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_list(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches (checkpoint vs config): {_list(shapes)}")
        raise CheckpointError(
            f"Checkpoint {files.checkpoint} does not match {files.config} ({len(tokens)} labels in "
            f"{files.tokens.name}): {'; '.join(parts)}. The weights and the config come from different models, "
            "or the config lacks explicit norm_affine: true / layer_norm_first: false; use the config.yaml and "
            "tokens.txt shipped with these weights."
        )
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True, assign=True)
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftover:
        raise CheckpointError(f"Checkpoint {files.checkpoint} left tensors unset: {_list(leftover)}.")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, conf, tokens


def checkpoint_fingerprint(files: ModelFiles) -> dict[str, str]:
    """SHA-256 of the checkpoint, config and token list, memoised per (path, size, mtime) in this process."""
    out = {}
    for name, path in (("weights_sha256", files.checkpoint), ("config_sha256", files.config),
                       ("labels_sha256", files.tokens)):
        out[name] = file_sha256(path)
    return out



__all__ = [
    "CheckpointError",
    "build_model",
    "checkpoint_fingerprint",
    "emotion2vec_class",
    "frame_count",
    "min_samples",
    "normalise_label",
    "read_model_conf",
    "read_tokens",
]
