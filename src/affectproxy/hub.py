"""Model weights from the Hugging Face and ModelScope hubs: cache lookup without network, download, and the hint.

Every plugin that loads weights by hub id uses these, so that one rule decides where a cached copy is, whether the
network may be used, and what a missing-weights message says.

* :func:`cached_snapshot` finds a hub id in the local cache by reading the cache's directory layout (no network,
  no import of ``huggingface_hub`` or ``modelscope``), following the same environment variables as those libraries
  (``HF_HUB_CACHE``, ``HUGGINGFACE_HUB_CACHE``, ``HF_HOME``, ``XDG_CACHE_HOME``; ``MODELSCOPE_CACHE``).
* :func:`download_snapshot` fetches through the hub's own library, never when :func:`offline` is true.
* :func:`fetch_hint` is the advice every missing-weights error ends with: the ``hf`` command that
  ``huggingface_hub`` installs (first), then ModelScope's, then how to pass the folder in Python and in a study file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

HUBS = ("hf", "ms")


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def offline() -> bool:
    """Whether the hub libraries are told to stay offline (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    return _true(os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE"))


def _expand(path: str) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(path)))


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, resolved as ``huggingface_hub.constants.HF_HUB_CACHE`` resolves it."""
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    legacy = os.environ.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    return _expand(os.environ.get("HF_HUB_CACHE") or legacy)


def ms_cache_dir() -> Path:
    """The ModelScope cache (``MODELSCOPE_CACHE``, default ``~/.cache/modelscope/hub``)."""
    return _expand(os.environ.get("MODELSCOPE_CACHE") or "~/.cache/modelscope/hub")


def cache_candidates(repo: str, hub: str = "hf", revision: str = "main") -> list[Path]:
    """Directories where ``hub``'s cache would hold ``repo`` (they need not exist), most likely first.

    For Hugging Face: the snapshot that ``refs/<revision>`` points to, then any other snapshot. For ModelScope:
    ``models/<repo>`` and ``<repo>`` under the cache (newer and older modelscope layouts).
    """
    if hub == "ms":
        root = ms_cache_dir()
        return [root / "models" / repo, root / repo]
    if hub != "hf":
        raise ValueError(f"hub must be 'hf' (Hugging Face) or 'ms' (ModelScope), got {hub!r}.")
    base = hf_cache_dir() / f"models--{repo.replace('/', '--')}"
    snapshots = base / "snapshots"
    out = []
    ref = base / "refs" / revision
    if ref.is_file():
        out.append(snapshots / ref.read_text(encoding="utf-8").strip())
    elif (snapshots / revision).is_dir():  # a commit hash given as revision
        out.append(snapshots / revision)
    if snapshots.is_dir():
        out += sorted(p for p in snapshots.iterdir() if p.is_dir() and p not in out)
    return out or [snapshots / "<revision>"]


def cached_snapshot(
    repo: str, hub: str = "hf", *, required: Sequence[str] = (), revision: str = "main"
) -> Path | None:
    """The local directory of ``repo`` in ``hub``'s cache, or None; no network, no hub library imported.

    Args:
        repo: the repository id (``org/name``).
        hub: ``"hf"`` or ``"ms"``.
        required: file names that must all be present for a directory to count (e.g. ``("config.json",)``).
        revision: Hugging Face branch or commit (the snapshot ``refs/<revision>`` names is preferred).
    """
    for directory in cache_candidates(repo, hub, revision):
        if directory.is_dir() and all((directory / name).is_file() for name in required):
            return directory
    return None


def download_snapshot(repo: str, hub: str = "hf", *, allow_patterns: Sequence[str] | None = None) -> Path:
    """Fetch ``repo`` into ``hub``'s cache through the hub's library and return its directory.

    Raises:
        RuntimeError: :func:`offline` is true (nothing is attempted).
        Exception: whatever the hub library raises (network, authentication, unknown repository, package missing).
    """
    if offline():
        raise RuntimeError("HF_HUB_OFFLINE is set, so nothing is downloaded")
    if hub == "hf":
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo, allow_patterns=list(allow_patterns) if allow_patterns else None))
    if hub != "ms":
        raise ValueError(f"hub must be 'hf' (Hugging Face) or 'ms' (ModelScope), got {hub!r}.")
    from modelscope.hub.snapshot_download import snapshot_download as ms_snapshot_download

    return Path(ms_snapshot_download(repo, allow_patterns=list(allow_patterns) if allow_patterns else None))


def fetch_hint(evaluator: str, hf_repo: str, *, ms_repo: str | None = None, option: str = "model",
               folder: str = "DIR") -> str:
    """How to put a model's weights on this machine and pass them, for the end of missing-weights messages.

    Args:
        evaluator: the registry name (``"emotion2vec"``).
        hf_repo: the Hugging Face repository id.
        ms_repo: the ModelScope repository id, if the model is there too.
        option: the evaluator option that takes the folder.
        folder: the placeholder for the folder.

    Examples:
        >>> print(fetch_hint("wav2vec2", "org/model"))  # doctest: +NORMALIZE_WHITESPACE
        To fetch the weights on a connected machine: `hf download org/model --local-dir DIR`. Copy DIR here
        and pass it: in Python `ap.get_evaluator("wav2vec2", model="DIR")`; in a study file, in the
        [[evaluators]] entry with type = "wav2vec2": `model = "DIR"` (or place the download in the Hugging Face
        cache, ...).
    """
    ms = f" or `modelscope download --model {ms_repo} --local_dir {folder}`" if ms_repo else ""
    caches = f"the Hugging Face cache, {hf_cache_dir()}"
    if ms_repo:
        caches += f", or the ModelScope cache, {ms_cache_dir() / 'models' / ms_repo}"
    return (
        f"To fetch the weights on a connected machine: `hf download {hf_repo} --local-dir {folder}`{ms}. "
        f"Copy {folder} here and pass it: in Python `ap.get_evaluator(\"{evaluator}\", {option}=\"{folder}\")`; "
        f"in a study file, in the [[evaluators]] entry with type = \"{evaluator}\": `{option} = \"{folder}\"` "
        f"(or place the download in {caches})."
    )


__all__ = [
    "HUBS",
    "cache_candidates",
    "cached_snapshot",
    "download_snapshot",
    "fetch_hint",
    "hf_cache_dir",
    "ms_cache_dir",
    "offline",
]
