"""The emotion2vec evaluator: class probabilities, arousal/valence through a circumplex table, embeddings, tracks.

Construction only stores options; the model is found, built and loaded strictly on the first ``evaluate`` (see
:mod:`affectproxy_emotion2vec.checkpoint`), and inference runs in our own padded batches, equal to funasr's
``generate()`` (see :mod:`affectproxy_emotion2vec.inference`). funasr's ``AutoModel`` is never called, so the
process's torch thread count is left alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from affectproxy.audio import segment_samples
from affectproxy.batching import even_pieces, sliding_windows, window_times
from affectproxy.circumplex import DEFAULT_TABLE, CircumplexTable, get_table
from affectproxy.devices import DeviceSizing
from affectproxy.errors import AffectProxyError
from affectproxy.evaluator import CheckResult
from affectproxy.model import Dimension, EmotionEstimate, Segment
from affectproxy_emotion2vec.checkpoint import normalise_label, read_tokens
from affectproxy_emotion2vec.locate import (
    DEFAULT_MODEL,
    ModelFiles,
    ModelNotFoundError,
    fetch_hint,
    find_cached,
    looks_like_path,
    model_files,
    resolve,
)

OUTPUT_VERSION = 2  # 2: track times count from the start of the recording (were: from the segment start)
SAMPLE_RATE = 16000
_MIN_SAMPLES = 400  # the receptive field of the published front end; checked against the real config on load


class Emotion2vecEvaluator(DeviceSizing):
    """emotion2vec+ (``iic/emotion2vec_plus_large`` and its base/seed variants) through funasr's model classes.

    Args:
        model: a hub id (``iic/emotion2vec_plus_large``, ``iic/emotion2vec_plus_base``, ``iic/emotion2vec_plus_seed``)
            or a local directory holding ``model.pt``, ``config.yaml`` and ``tokens.txt`` (or the hub layout with
            ``configuration.json``). A local directory is used with no network access.
        hub: ``"ms"`` (ModelScope, default) or ``"hf"`` (Hugging Face) for hub ids.
        download: fetch a hub id missing from the local cache (default True); local directories never download.
        device: ``"auto"`` (cuda, then mps, then cpu), or a torch device string.
        dtype: ``"float32"`` (default), ``"bfloat16"``/``"bf16"`` or ``"float16"``/``"fp16"`` (autocast).
        batch_size: segments per ``evaluate`` call (read by the core); default 16 on the CPU, 128 on an accelerator.
        max_batch_seconds: padded audio per forward pass (items x longest item, seconds; pieces of long segments
            and track windows are items too); default 0 on the CPU (one item at a time: padding does not pay on a
            few cores) and 320 on an accelerator. Results do not depend on it beyond float rounding (~1e-6).
        circumplex: a table name (default ``"dietrich2026"``), a :class:`CircumplexTable` or a label ->
            (arousal, valence) mapping.
        renormalize: rescale the probabilities the table knows to sum to one before projecting.
        embeddings: add the utterance embedding (mean-pooled features, 1024-d for plus_large) as ``embedding``.
        window: seconds; with it, each segment also gets a time-resolved track over windows of this length.
        hop: seconds between window starts (default: ``window``).
        max_window: segments longer than this (seconds) are split into equal chunks of at most this length whose
            frame-weighted mean embedding is classified, so attention's memory stays bounded (it grows with the
            square of an item's length); None never splits.
        name: the instance label (default ``"emotion2vec"``).

    Outputs (per segment): ``values`` arousal and valence in [-1, 1]; ``categories`` the 9 class probabilities
    keyed by English label in index order (angry, disgusted, fearful, happy, neutral, other, sad, surprised,
    unknown); ``arrays``: ``embedding`` (D,) if asked; with ``window``: ``arousal_track``, ``valence_track`` (n,),
    ``probs_track`` (n, 9) and their ``<name>_times`` (window centres in seconds from the start of the recording,
    like ``Segment.start``; windows follow :func:`affectproxy.batching.sliding_windows`).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        hub: str = "ms",
        download: bool = True,
        device: str = "auto",
        dtype: str = "float32",
        batch_size: int | None = None,
        max_batch_seconds: float | None = None,
        circumplex: str | CircumplexTable | Mapping[str, tuple[float, float]] = DEFAULT_TABLE,
        renormalize: bool = False,
        embeddings: bool = False,
        window: float | None = None,
        hop: float | None = None,
        max_window: float | None = 30.0,
        name: str = "emotion2vec",
    ) -> None:
        from affectproxy_emotion2vec.inference import autocast_dtype

        if hub not in ("ms", "hf"):
            raise ValueError(f"hub must be 'ms' (ModelScope) or 'hf' (Hugging Face), got {hub!r}.")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive int or None (auto), got {batch_size!r}.")
        if max_batch_seconds is not None and not (
            isinstance(max_batch_seconds, (int, float)) and math.isfinite(max_batch_seconds) and max_batch_seconds >= 0
        ):
            raise ValueError(f"max_batch_seconds must be a number of seconds >= 0 or None (auto), "
                             f"got {max_batch_seconds!r}.")
        for opt, val in (("window", window), ("hop", hop), ("max_window", max_window)):
            if val is not None and not (isinstance(val, (int, float)) and math.isfinite(val) and val > 0.025):
                raise ValueError(f"{opt} must be a number of seconds > 0.025 or None, got {val!r}.")
        if hop is not None and window is None:
            raise ValueError("hop needs window: pass window=<seconds> too.")
        if window is not None and max_window is not None and window > max_window:
            raise ValueError(f"window ({window} s) must not exceed max_window ({max_window} s).")
        self.model = str(model)
        self.hub = hub
        self.download = bool(download)
        self.device = device
        self.dtype = autocast_dtype(dtype) or "float32"
        self._batch_size = batch_size
        self.max_batch_seconds = None if max_batch_seconds is None else float(max_batch_seconds)
        self._device: str | None = None
        self.table = get_table(circumplex)
        self.renormalize = bool(renormalize)
        self.embeddings = bool(embeddings)
        self.window = None if window is None else float(window)
        self.hop = None if window is None else float(hop or window)
        self.max_window = None if max_window is None else float(max_window)
        self.name = name
        self._files: ModelFiles | None = None
        self._runner: Any = None
        self._labels: list[str] | None = None
        self._keep: np.ndarray | None = None
        self._min_samples = _MIN_SAMPLES

    # --- the contract's attributes -------------------------------------------------------------------------------
    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        """``arousal`` and ``valence`` (canonical, -1..1), projected through the circumplex table."""
        return (Dimension("arousal"), Dimension("valence"))

    @property
    def sample_rate(self) -> int:
        """16 kHz, what emotion2vec was trained on."""
        return SAMPLE_RATE

    @property
    def min_duration(self) -> float:
        """The shortest input the front end accepts: 400 samples (25 ms)."""
        return _MIN_SAMPLES / SAMPLE_RATE

    # --- loading -------------------------------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """Whether this instance can run here, loading nothing (no weights, no network, no torch).

        A local ``model`` folder must hold the three files; a hub id must be in the cache, or be downloadable
        (``download=True`` and ``HF_HUB_OFFLINE`` unset).
        """
        from affectproxy.hub import offline

        try:
            if looks_like_path(self.model):
                return CheckResult(True, f"weights in {model_files(Path(self.model), self.model).directory}")
            found = find_cached(self.model, self.hub)
        except ModelNotFoundError as exc:
            return CheckResult(False, str(exc))
        if found is not None:
            return CheckResult(True, f"weights of {self.model} found in {found.directory}")
        if self.download and not offline():
            return CheckResult(True, f"{self.model} is not cached; it is downloaded on first use")
        why = "HF_HUB_OFFLINE is set" if offline() else "download=False"
        return CheckResult(False, f"emotion2vec model {self.model!r} is not in the {self.hub} cache and {why}. "
                                  f"{fetch_hint(self.model)}")

    def files(self) -> ModelFiles:
        """The model's files (found, or fetched for a hub id, on first use)."""
        if self._files is None:
            self._files = resolve(self.model, self.hub, download=self.download)
        return self._files

    def labels(self) -> list[str]:
        """The English labels in index order (funasr's ``unuse*`` placeholders dropped)."""
        if self._labels is None:
            tokens = read_tokens(self.files().tokens)
            self._keep = np.array([not t.startswith("unuse") for t in tokens])
            labels = [normalise_label(t) for t, k in zip(tokens, self._keep, strict=True) if k]
            if len(set(labels)) != len(labels):
                raise AffectProxyError(f"{self.files().tokens}: labels {labels} are not unique after normalising.")
            self._labels = labels
        return self._labels

    def _load(self) -> Any:
        if self._runner is not None:
            return self._runner

        from affectproxy_emotion2vec.checkpoint import build_model, min_samples
        from affectproxy_emotion2vec.inference import Runner

        device = self.resolved_device()
        model, conf, _tokens = build_model(self.files())
        labels = self.labels()
        if model.proj is None:
            raise AffectProxyError(
                f"{self.files().checkpoint}: this emotion2vec model has no classification head (a pre-trained "
                "base model?). Use a fine-tuned one such as iic/emotion2vec_plus_large."
            )
        self._min_samples = min_samples(conf)
        assert self._keep is not None  # set by labels()
        self._runner = Runner(model, conf, self._keep, device, None if self.dtype == "float32" else self.dtype)
        self._labels = labels
        return self._runner

    def fingerprint(self) -> dict[str, Any]:
        """Model id, file hashes, options, circumplex table and output version (JSON-serialisable)."""
        from affectproxy_emotion2vec.checkpoint import checkpoint_fingerprint

        files = self.files()
        return {
            "family": "emotion2vec",
            "model": self.model if not looks_like_path(self.model) else files.directory.name,
            "hub": None if looks_like_path(self.model) else self.hub,
            **checkpoint_fingerprint(files),
            "labels": self.labels(),
            "options": {
                "dtype": self.dtype,
                "renormalize": self.renormalize,
                "embeddings": self.embeddings,
                "window": self.window,
                "hop": self.hop,
                "max_window": self.max_window,
            },
            "circumplex": self.table.fingerprint(),
            "output_version": OUTPUT_VERSION,
        }

    # --- evaluation ----------------------------------------------------------------------------------------------
    def _audio(self, seg: Segment) -> np.ndarray:
        return segment_samples(seg, evaluator=self.name, sample_rate=SAMPLE_RATE, min_samples=self._min_samples)

    def evaluate(self, segments: Sequence[Segment]) -> list[EmotionEstimate]:
        """One estimate per segment, in order.

        Raises:
            AudioError: a segment has no audio, non-mono audio, non-finite samples or fewer than 400 samples.
            ModelNotFoundError: the weights are not where they were looked for (the message says how to get them).
            CheckpointError: the checkpoint does not match its config (the message names the keys).
        """
        if not segments:
            return []
        runner = self._load()
        labels = self.labels()
        waves = [self._audio(s) for s in segments]
        items: list[np.ndarray] = []
        whole: list[list[int]] = []  # item indices per segment (chunks of max_window)
        tracks: list[list[tuple[int, int, int]]] = []  # (item, start, end) per window
        for a in waves:
            spans = even_pieces(a.size, round(self.max_window * SAMPLE_RATE)) if self.max_window else [(0, a.size)]
            whole.append(list(range(len(items), len(items) + len(spans))))
            items += [a[s:e] for s, e in spans]
            wins = []
            if self.window is not None:
                assert self.hop is not None
                size, hop = round(self.window * SAMPLE_RATE), round(self.hop * SAMPLE_RATE)
                for s, e in sliding_windows(a.size, size, hop, min_tail=max(self._min_samples, size // 2)):
                    wins.append((len(items), s, e))
                    items.append(a[s:e])
            tracks.append(wins)
        emb, frames = runner.run(items, self.forward_seconds())
        pooled = np.zeros((len(segments), emb.shape[1]), np.float32)
        for k, idx in enumerate(whole):
            w = frames[idx].astype(np.float64)
            pooled[k] = (emb[idx] * (w / w.sum())[:, None]).sum(0, dtype=np.float64)
        win_items = [i for wins in tracks for i, _, _ in wins]
        probs_all = runner.classify(np.concatenate([pooled, emb[win_items]]) if win_items else pooled)
        arousal, valence = self.table.project_array(probs_all, labels, renormalize=self.renormalize)
        out = []
        offset = len(segments)
        for k, (seg, wins) in enumerate(zip(segments, tracks, strict=True)):
            arrays: dict[str, np.ndarray] = {}
            if self.embeddings:
                arrays["embedding"] = pooled[k]
            if wins:
                rows = slice(offset, offset + len(wins))
                offset += len(wins)
                times = window_times([(s, e) for _, s, e in wins], SAMPLE_RATE, start=seg.start)
                arrays.update(arousal_track=arousal[rows].copy(), valence_track=valence[rows].copy(),
                              probs_track=probs_all[rows].copy(),
                              arousal_track_times=times, valence_track_times=times, probs_track_times=times)
            out.append(EmotionEstimate(
                segment_id=seg.id,
                evaluator=self.name,
                values={"arousal": float(arousal[k]), "valence": float(valence[k])},
                categories=dict(zip(labels, probs_all[k].tolist(), strict=True)),
                arrays=arrays,
            ))
        return out

    def __repr__(self) -> str:
        return f"Emotion2vecEvaluator(model={self.model!r}, device={self.device!r}, dtype={self.dtype!r})"


__all__ = ["OUTPUT_VERSION", "Emotion2vecEvaluator"]
