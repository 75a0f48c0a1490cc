"""Finding an emotion2vec model directory: a local folder, or a hub id in the ModelScope / Hugging Face cache.

Nothing here imports torch or funasr, so :func:`affectproxy_emotion2vec.plugin.check` stays fast. A local directory
is used as it is, with no network access; a hub id is looked up in the local caches first and downloaded (through
``modelscope`` or ``huggingface_hub``) only when it is missing there and ``download=True``. Cache lookup, download
and the missing-weights advice are the core's (:mod:`affectproxy.hub`), shared with the other plugins.

Two layouts are accepted:

* the hub layout: ``configuration.json`` whose ``file_path_metas`` name the checkpoint (``init_param``), the
  config (``config``) and the token list (``tokenizer_conf.token_list``);
* the plain layout: ``config.yaml`` + ``model.pt`` + ``tokens.txt``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import attrs

from affectproxy import hub as core_hub
from affectproxy.errors import AffectProxyError

DEFAULT_MODEL = "iic/emotion2vec_plus_large"
_HF_ORG = "emotion2vec"
_MS_ORG = "iic"


class ModelNotFoundError(AffectProxyError, FileNotFoundError):
    """The emotion2vec weights are not where they were looked for."""


@attrs.frozen
class ModelFiles:
    """The three files of an emotion2vec model directory.

    Args:
        directory: the model directory.
        checkpoint: the weights (``model.pt``).
        config: the funasr config (``config.yaml``) holding ``model_conf``.
        tokens: the label list (``tokens.txt``), one label per line.
        source: the id or path the user gave.
    """

    directory: Path
    checkpoint: Path
    config: Path
    tokens: Path
    source: str


def hub_repo(model: str, hub: str) -> str:
    """The repository id of ``model`` on ``hub`` ("ms" or "hf"): ``iic/x`` on ModelScope is ``emotion2vec/x`` on HF.

    Examples:
        >>> hub_repo("iic/emotion2vec_plus_large", "hf")
        'emotion2vec/emotion2vec_plus_large'
        >>> hub_repo("emotion2vec_plus_base", "ms")
        'iic/emotion2vec_plus_base'
    """
    org, _, name = model.rpartition("/")
    if hub == "hf":
        return f"{_HF_ORG if org in {'', _MS_ORG} else org}/{name}"
    if hub == "ms":
        return f"{_MS_ORG if org in {'', _HF_ORG} else org}/{name}"
    raise ValueError(f"hub must be 'ms' (ModelScope) or 'hf' (Hugging Face), got {hub!r}.")


def looks_like_path(model: str) -> bool:
    """Whether ``model`` is meant as a local path rather than a hub id (``org/name``)."""
    return (
        model.startswith((".", "/", "~")) or os.sep in model.replace("/", "", 1) or Path(model).expanduser().exists()
    )


def cache_candidates(model: str, hub: str) -> list[Path]:
    """The directories where the hub caches would hold ``model`` (they need not exist)."""
    return core_hub.cache_candidates(hub_repo(model, hub), hub)


def model_files(directory: Path, source: str) -> ModelFiles:
    """Read a model directory's layout; raise :class:`ModelNotFoundError` naming what is missing."""
    directory = directory.expanduser()
    if not directory.is_dir():
        raise ModelNotFoundError(f"emotion2vec model directory {str(directory)!r} does not exist. {fetch_hint(source)}")
    checkpoint, config, tokens = directory / "model.pt", directory / "config.yaml", directory / "tokens.txt"
    meta = directory / "configuration.json"
    if meta.is_file():
        try:
            paths = json.loads(meta.read_text(encoding="utf-8")).get("file_path_metas", {})
        except json.JSONDecodeError as exc:
            raise ModelNotFoundError(f"{meta} is not valid JSON ({exc}). Fetch the model again.") from exc
        checkpoint = directory / paths.get("init_param", "model.pt")
        config = directory / paths.get("config", "config.yaml")
        tokens = directory / (paths.get("tokenizer_conf") or {}).get("token_list", "tokens.txt")
    missing = [p.name for p in (checkpoint, config, tokens) if not p.is_file()]
    if missing:
        raise ModelNotFoundError(
            f"emotion2vec model directory {str(directory)!r} lacks {', '.join(missing)}; it needs model.pt, "
            f"config.yaml and tokens.txt (or a configuration.json naming them). {fetch_hint(source)}"
        )
    return ModelFiles(directory, checkpoint, config, tokens, source)


def fetch_hint(model: str) -> str:
    """How to get the weights onto this machine and pass them, for error messages and ``check()``."""
    name = model.rstrip("/").rpartition("/")[2] if not looks_like_path(model) else "emotion2vec_plus_large"
    return core_hub.fetch_hint("emotion2vec", f"{_HF_ORG}/{name}", ms_repo=f"{_MS_ORG}/{name}")


def find_cached(model: str, hub: str) -> ModelFiles | None:
    """The cached copy of hub id ``model``, or None when the cache lacks it."""
    for directory in cache_candidates(model, hub):
        try:
            return model_files(directory, model)
        except ModelNotFoundError:
            continue
    return None


def resolve(model: str, hub: str = "ms", *, download: bool = True) -> ModelFiles:
    """Find (or fetch) the model files for a local directory or a hub id.

    Args:
        model: a local directory, or a hub id such as ``iic/emotion2vec_plus_large``.
        hub: ``"ms"`` (ModelScope) or ``"hf"`` (Hugging Face), for hub ids.
        download: fetch a hub id that is not in the cache (needs network); never done for local directories.

    Returns:
        The model's files.

    Raises:
        ModelNotFoundError: the directory or cached copy is missing or incomplete, or the download failed; the
            message says where to put the weights and how to fetch them.
    """
    hub_repo(model, hub)  # validates hub
    if looks_like_path(model):
        return model_files(Path(model), model)
    cached = find_cached(model, hub)
    if cached is not None:
        return cached
    where = ", ".join(str(p) for p in cache_candidates(model, hub))
    if not download:
        raise ModelNotFoundError(
            f"emotion2vec model {model!r} is not in the {hub} cache (looked in {where}) and download=False. "
            f"{fetch_hint(model)}"
        )
    try:
        directory = core_hub.download_snapshot(hub_repo(model, hub), hub)
    except Exception as exc:  # network, auth, missing package: all end in the same advice
        raise ModelNotFoundError(
            f"emotion2vec model {model!r} is not in the {hub} cache (looked in {where}) and downloading it "
            f"failed ({type(exc).__name__}: {exc}). {fetch_hint(model)}"
        ) from exc
    return model_files(directory, model)


__all__ = ["DEFAULT_MODEL", "ModelFiles", "ModelNotFoundError", "fetch_hint", "find_cached", "hub_repo", "resolve"]
