"""Finding, describing and hashing a wav2vec2 checkpoint, without importing torch or transformers.

A checkpoint is a directory with ``config.json``, ``preprocessor_config.json`` and weights
(``model.safetensors``, sharded safetensors with an index, or ``pytorch_model.bin``). ``model`` is either such a
directory or a Hugging Face hub id, resolved through the local hub cache (and downloaded on first use unless
``HF_HUB_OFFLINE=1`` or ``download=False``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import attrs

from affectproxy import hub
from affectproxy.errors import AffectProxyError
from affectproxy.hashing import file_sha256

Kind = Literal["dimensional", "categorical"]

DEFAULT_MODEL = "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"
DIMENSIONAL_LABELS = ("arousal", "dominance", "valence")
# Architectures whose checkpoints carry the audeering regression head (classifier.dense / classifier.out_proj).
DIMENSIONAL_ARCHITECTURES = frozenset({"EmotionModel", "Wav2Vec2ForSpeechClassification", "Wav2Vec2DimensionalModel"})
DIMENSIONAL_HEAD_KEYS = ("classifier.dense.weight", "classifier.out_proj.weight")
_CONFIG_PATTERNS = ["config.json", "preprocessor_config.json"]


@attrs.frozen
class CheckpointInfo:
    """What we know of a checkpoint from its files alone.

    Args:
        model: the ``model`` option as the user gave it.
        path: the local directory holding the files.
        config: the parsed ``config.json``.
        preprocessor: the parsed ``preprocessor_config.json``.
        weights: the weight files, relative names, sorted (safetensors preferred over .bin).
        kind: ``"dimensional"`` (audeering regression head) or ``"categorical"`` (sequence classification).
    """

    model: str
    path: Path
    config: dict[str, Any]
    preprocessor: dict[str, Any]
    weights: tuple[str, ...]
    kind: Kind

    @property
    def labels(self) -> list[str]:
        """The output names in index order (``id2label``)."""
        return labels_of(self.config)

    @property
    def group_norm(self) -> bool:
        """Whether the convolutional front end uses group norm (not mask-safe: never pad across lengths)."""
        return self.config.get("feat_extract_norm", "group") == "group"

    @property
    def use_safetensors(self) -> bool:
        return all(name.endswith(".safetensors") for name in self.weights)

    @property
    def receptive_field(self) -> int:
        """The fewest input samples that give one output frame."""
        field = 1
        for kernel, stride in reversed(list(zip(self.config.get("conv_kernel", (10, 3, 3, 3, 3, 2, 2)),
                                                self.config.get("conv_stride", (5, 2, 2, 2, 2, 2, 2)), strict=True))):
            field = (field - 1) * int(stride) + int(kernel)
        return field


def labels_of(config: dict[str, Any]) -> list[str]:
    """The ``id2label`` names in index order."""
    id2label = config.get("id2label") or {}
    return [str(id2label[k]) for k in sorted(id2label, key=int)]


def detect_kind(config: dict[str, Any], weight_keys: set[str] | None) -> Kind:
    """Tell the audeering dimensional checkpoint from a stock sequence-classification one.

    The weights decide when their key names can be read cheaply (safetensors headers); otherwise the config
    does: an audeering architecture name, or ``problem_type == "regression"`` with the labels arousal,
    dominance, valence.
    """
    if weight_keys is not None and any(k in weight_keys for k in DIMENSIONAL_HEAD_KEYS):
        return "dimensional"
    if weight_keys is not None and "classifier.weight" in weight_keys:
        return "categorical"
    architectures = set(config.get("architectures") or ())
    labels = labels_of(config)
    if architectures & DIMENSIONAL_ARCHITECTURES:
        return "dimensional"
    if tuple(labels) == DIMENSIONAL_LABELS and (
        config.get("problem_type") == "regression" or config.get("num_labels", len(labels)) == 3
    ):
        return "dimensional"
    return "categorical"


def _read_json(path: Path, model: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except FileNotFoundError:
        raise AffectProxyError(
            f"wav2vec2 checkpoint {model!r} has no {path.name} in {path.parent}. A checkpoint directory needs "
            "config.json, preprocessor_config.json and its weights (save them with model.save_pretrained(dir) "
            "and feature_extractor.save_pretrained(dir))."
        ) from None
    except (OSError, ValueError) as exc:
        raise AffectProxyError(f"wav2vec2 checkpoint {model!r}: cannot read {path}: {exc}") from exc


def weight_files(path: Path) -> tuple[str, ...]:
    """The weight files of a checkpoint directory, safetensors preferred; empty when none."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = path / index_name
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
            return (index_name, *shards)
    if (path / "model.safetensors").is_file():
        return ("model.safetensors",)
    if (path / "pytorch_model.bin").is_file():
        return ("pytorch_model.bin",)
    return ()


def safetensors_keys(path: Path, names: tuple[str, ...]) -> set[str] | None:
    """Tensor names from the safetensors headers (8-byte length + JSON), or None for .bin checkpoints."""
    if not names or not all(n.endswith((".safetensors", ".json")) for n in names):
        return None
    keys: set[str] = set()
    for name in names:
        if not name.endswith(".safetensors"):
            continue
        with open(path / name, "rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            if not 0 < size < 100_000_000:
                raise AffectProxyError(f"{path / name} is not a safetensors file (header size {size}).")
            keys |= set(json.loads(fh.read(size))) - {"__metadata__"}
    return keys


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.\-]*/[\w.\-]+")


def _is_hub_id(model: str) -> bool:
    return bool(_HUB_ID.fullmatch(model))


def resolve(model: str, *, download: bool = True) -> Path:
    """The local directory of ``model``: a directory as given, or a hub id's snapshot in the local cache.

    Args:
        model: a directory, or a hub id such as ``audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim``.
        download: fetch a hub id that is not cached yet (config, preprocessor config and weights only);
            never done when ``HF_HUB_OFFLINE=1``.

    Raises:
        AffectProxyError: no such directory, or the hub id is neither cached nor downloadable.
    """
    local = Path(model).expanduser()
    if local.is_dir():
        return local
    if not _is_hub_id(model):
        raise AffectProxyError(
            f"wav2vec2 model {model!r}: no such directory. Pass an existing checkpoint directory or a hub id "
            f"such as {DEFAULT_MODEL!r}."
        )
    cached = hub.cached_snapshot(model, "hf", required=_CONFIG_PATTERNS)
    if cached is not None and weight_files(cached):
        return cached
    if not download or hub.offline():
        why = "HF_HUB_OFFLINE is set" if hub.offline() else "download=False"
        raise AffectProxyError(
            f"wav2vec2 model {model!r} is not in the local Hugging Face cache ({hub.hf_cache_dir()}) and {why}. "
            + hub.fetch_hint("wav2vec2", model)
        )
    try:
        snap = hub.download_snapshot(model, "hf", allow_patterns=[*_CONFIG_PATTERNS, "*.safetensors*"])
        if not weight_files(snap):  # no safetensors on the hub: take the pickle (loaded with weights_only)
            snap = hub.download_snapshot(model, "hf", allow_patterns=[*_CONFIG_PATTERNS, "pytorch_model*.bin*"])
    except Exception as exc:
        raise AffectProxyError(
            f"wav2vec2 model {model!r} could not be downloaded: {type(exc).__name__}: {exc}. Check the hub id and "
            f"the network, or pass a local checkpoint directory. {hub.fetch_hint('wav2vec2', model)}"
        ) from exc
    return snap


def is_cached(model: str) -> bool:
    """Whether ``model`` is usable without a download (a directory, or a hub id in the local cache)."""
    try:
        path = resolve(model, download=False)
    except AffectProxyError:
        return False
    return bool(weight_files(path))


def inspect(model: str, *, download: bool = True, kind: str = "auto") -> CheckpointInfo:
    """Resolve ``model`` and read its configs; detect the kind unless forced.

    Raises:
        AffectProxyError: missing files, unreadable configs, no weights, or not a wav2vec2 checkpoint.
    """
    path = resolve(model, download=download)
    config = _read_json(path / "config.json", model)
    preprocessor = _read_json(path / "preprocessor_config.json", model)
    if config.get("model_type") != "wav2vec2":
        raise AffectProxyError(
            f"wav2vec2 model {model!r}: config.json says model_type={config.get('model_type')!r}, not 'wav2vec2'. "
            "This evaluator runs wav2vec 2.0 checkpoints only."
        )
    names = weight_files(path)
    if not names:
        raise AffectProxyError(
            f"wav2vec2 model {model!r}: no weights in {path} (expected model.safetensors or pytorch_model.bin)."
        )
    detected = detect_kind(config, safetensors_keys(path, names))
    return CheckpointInfo(model, path, config, preprocessor, names, detected if kind == "auto" else kind)  # type: ignore[arg-type]


def weights_hashes(info: CheckpointInfo) -> dict[str, str]:
    """File name -> sha256 for every weight file (and the shard index, if any)."""
    return {name: file_sha256(info.path / name) for name in info.weights}


__all__ = [
    "DEFAULT_MODEL",
    "DIMENSIONAL_LABELS",
    "CheckpointInfo",
    "Kind",
    "detect_kind",
    "inspect",
    "is_cached",
    "labels_of",
    "resolve",
    "weights_hashes",
]
