"""The ``wav2vec2`` evaluator: dimensional (audeering) or categorical wav2vec 2.0 speech-emotion models.

Imports nothing heavy at module level: torch and transformers load on the first ``evaluate``.

Examples:
    >>> ev = Wav2Vec2Evaluator(model="/nonexistent/dir")   # construction stores options only; no I/O
    >>> ev.name, ev.sample_rate
    ('wav2vec2', 16000)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from affectproxy.audio import segment_samples
from affectproxy.circumplex import DEFAULT_TABLE, CircumplexTable, get_table
from affectproxy.devices import DeviceSizing, autocast_dtype
from affectproxy.errors import AffectProxyError
from affectproxy.evaluator import CheckResult
from affectproxy.model import Dimension, EmotionEstimate, Segment
from affectproxy_wav2vec2.checkpoint import DEFAULT_MODEL, DIMENSIONAL_LABELS, CheckpointInfo, inspect, weights_hashes

OUTPUT_VERSION = 1
SAMPLE_RATE = 16000

# Label spellings of common checkpoints -> the circumplex tables' names (IEMOCAP/SUPERB: neu, hap, ang, sad).
ALIASES: dict[str, str] = {
    "neu": "neutral", "hap": "happy", "ang": "angry", "sad": "sad", "fea": "fearful", "dis": "disgusted",
    "sur": "surprised", "exc": "happy", "anger": "angry", "happiness": "happy", "joy": "happy", "sadness": "sad",
    "fear": "fearful", "disgust": "disgusted", "surprise": "surprised", "calm": "neutral",
}

_MEANINGS = {
    "arousal": "audeering MSP-Podcast arousal, roughly 0 (calm) .. 1 (aroused); NOT the canonical -1..1 scale",
    "dominance": "audeering MSP-Podcast dominance, roughly 0 (submissive) .. 1 (dominant); NOT the canonical -1..1",
    "valence": "audeering MSP-Podcast valence, roughly 0 (negative) .. 1 (positive); NOT the canonical -1..1 scale",
}


class Wav2Vec2Evaluator(DeviceSizing):
    """wav2vec 2.0 speech-emotion models through transformers, with exact padded batching.

    Args:
        model: a hub id or a local checkpoint directory (config.json, preprocessor_config.json, weights).
            Default: the audeering dimensional model (CC BY-NC-SA 4.0, research only).
        kind: ``"auto"`` (detect from the checkpoint), ``"dimensional"`` (audeering regression head: arousal,
            dominance, valence, roughly 0..1) or ``"categorical"`` (AutoModelForAudioClassification: category
            probabilities, projected to arousal/valence on the circumplex table).
        device: ``"auto"`` (cuda, then mps, then cpu), or a torch device string.
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"`` (autocast of the backbone).
        max_window_seconds: longer segments are split into near-equal windows no longer than this; their frames
            are pooled together. This bounds attention's memory, which grows with the square of a window's length.
        max_batch_seconds: padded audio per forward pass (windows x longest window, seconds); default 0 on the CPU
            (one window at a time: padding does not pay there) and 320 on an accelerator. Results do not depend on
            it beyond float rounding.
        batch_size: segments per ``evaluate`` call (read by the core); default 16 on the CPU, 128 on an
            accelerator.
        circumplex: categorical only: a table name, a table, or a label -> (arousal, valence) mapping.
        aliases: categorical only: extra label -> table label names, added to the built-in ones.
        renormalize: categorical only: renormalise the probabilities of the labels the table knows.
        clip: dimensional only: clip outputs to the model's nominal 0..1 range, declared as the dimensions' range
            (the unclipped values stay in ``raw["outputs"]``); ``clip=False`` reports them as they are and declares
            the dimensions unbounded.
        embeddings: also return the pooled representation as ``arrays["embedding"]``.
        download: fetch a hub id that is not cached (never when ``HF_HUB_OFFLINE=1``).
        name: the instance label.
    """

    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        kind: str = "auto",
        device: str = "auto",
        dtype: str = "float32",
        max_window_seconds: float = 30.0,
        max_batch_seconds: float | None = None,
        batch_size: int | None = None,
        circumplex: str | CircumplexTable | Mapping[str, tuple[float, float]] = DEFAULT_TABLE,
        aliases: Mapping[str, str] | None = None,
        renormalize: bool = False,
        clip: bool = True,
        embeddings: bool = False,
        download: bool = True,
        name: str = "wav2vec2",
    ) -> None:
        if kind not in ("auto", "dimensional", "categorical"):
            raise ValueError(f"wav2vec2: kind must be 'auto', 'dimensional' or 'categorical', got {kind!r}.")
        if not (isinstance(max_window_seconds, (int, float)) and max_window_seconds >= 1.0):
            raise ValueError(f"wav2vec2: max_window_seconds must be >= 1, got {max_window_seconds!r}.")
        if max_batch_seconds is not None and not (
            isinstance(max_batch_seconds, (int, float)) and math.isfinite(max_batch_seconds) and max_batch_seconds >= 0
        ):
            raise ValueError(f"wav2vec2: max_batch_seconds must be a number of seconds >= 0 or None (auto), "
                             f"got {max_batch_seconds!r}.")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"wav2vec2: batch_size must be a positive int or None (auto), got {batch_size!r}.")
        self.name = name
        self.model = str(model)
        self.kind = kind
        self.device = device
        self.dtype = autocast_dtype(dtype) or "float32"  # accepts bf16/fp16 aliases like emotion2vec
        self.max_window_seconds = float(max_window_seconds)
        self.max_batch_seconds = None if max_batch_seconds is None else float(max_batch_seconds)
        self._batch_size = batch_size
        self._device: str | None = None
        self.table = get_table(circumplex)
        self.aliases = {**ALIASES, **dict(aliases or {})}
        self.renormalize = bool(renormalize)
        self.clip = bool(clip)
        self.embeddings = bool(embeddings)
        self.download = bool(download)
        self._info: CheckpointInfo | None = None
        self._runner: Any = None
        self._lock = threading.Lock()

    # -- what the checkpoint declares (reads JSON files only) -------------------------------------------------

    @property
    def info(self) -> CheckpointInfo:
        """The resolved checkpoint (configs read on first access; a hub id may download here)."""
        if self._info is None:
            self._info = inspect(self.model, download=self.download, kind=self.kind)
        return self._info

    def check(self) -> CheckResult:
        """Whether this instance can run here, loading nothing (no weights, no network, no torch): the checkpoint
        folder, or the hub id cached or downloadable (``download=True`` and ``HF_HUB_OFFLINE`` unset)."""
        from affectproxy import hub
        from affectproxy_wav2vec2.checkpoint import resolve, weight_files

        try:
            path = resolve(self.model, download=False)
        except AffectProxyError as exc:
            if self.download and not hub.offline() and "not in the local Hugging Face cache" in str(exc):
                return CheckResult(True, f"{self.model} is not cached; it is downloaded on first use")
            return CheckResult(False, str(exc))
        if not weight_files(path):
            return CheckResult(False, f"wav2vec2 model {self.model!r}: no weights in {path} (expected "
                                      "model.safetensors or pytorch_model.bin).")
        return CheckResult(True, f"checkpoint in {path}")

    @property
    def min_duration(self) -> float:
        """The shortest segment the convolutional front end can turn into one frame (25 ms for wav2vec 2.0)."""
        return 0.025

    def _mapped_labels(self) -> dict[str, str]:
        out = {}
        for label in self.info.labels:
            target = label if label in self.table.weights else self.aliases.get(label.lower(), label.lower())
            if target in self.table.weights:
                out[label] = target
        return out

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        """Dimensional: arousal, dominance, valence (0..1; unbounded with ``clip=False``). Categorical: arousal and
        valence (-1..1) projected from the category probabilities, when at least two labels map onto the table."""
        info = self.info
        if info.kind == "dimensional":
            if len(info.labels) != 3 or (info.labels and tuple(info.labels) != DIMENSIONAL_LABELS):
                raise AffectProxyError(
                    f"wav2vec2 checkpoint {self.model!r}: a dimensional checkpoint must declare id2label "
                    f"{{0: arousal, 1: dominance, 2: valence}}, found {info.labels}."
                )
            low, high = (0.0, 1.0) if self.clip else (-math.inf, math.inf)
            return tuple(Dimension(n, low, high, _MEANINGS[n]) for n in DIMENSIONAL_LABELS)
        if len(self._mapped_labels()) < 2:
            raise AffectProxyError(
                f"wav2vec2 checkpoint {self.model!r}: its labels {info.labels} do not map onto the circumplex table "
                f"{self.table.name!r} (knows {sorted(self.table.weights)}). Pass aliases={{label: table_label}} or "
                "circumplex={label: (arousal, valence)}."
            )
        return (Dimension("arousal"), Dimension("valence"))

    def fingerprint(self) -> dict[str, Any]:
        """Model id, kind, config and weight hashes, output-changing options and the output version."""
        from affectproxy.hashing import file_sha256 as sha256_file

        info = self.info
        fp: dict[str, Any] = {
            "evaluator": "wav2vec2",
            "version": OUTPUT_VERSION,
            "model": self.model,
            "kind": info.kind,
            "weights_sha256": weights_hashes(info),
            "config_sha256": sha256_file(info.path / "config.json"),
            "preprocessor_sha256": sha256_file(info.path / "preprocessor_config.json"),
            "dtype": self.dtype,
            "max_window_seconds": self.max_window_seconds,
            "embeddings": self.embeddings,
        }
        if info.kind == "dimensional":
            fp["clip"] = self.clip
        else:
            fp["circumplex"] = self.table.fingerprint()
            fp["aliases"] = self._mapped_labels()
            fp["renormalize"] = self.renormalize
        return fp

    # -- inference ---------------------------------------------------------------------------------------------

    def _load(self) -> Any:
        with self._lock:
            if self._runner is None:
                import torch

                from affectproxy_wav2vec2.inference import Runner

                self._runner = Runner(
                    self.info, torch.device(self.resolved_device()), self.dtype,
                    max_window=int(self.max_window_seconds * SAMPLE_RATE),
                    max_batch_samples=int(self.forward_seconds() * SAMPLE_RATE),
                )
            return self._runner

    def _audio(self, seg: Segment) -> np.ndarray:
        return segment_samples(seg, evaluator=self.name, sample_rate=SAMPLE_RATE,
                               min_samples=self.info.receptive_field)

    def evaluate(self, segments: Sequence[Segment]) -> list[EmotionEstimate]:
        """One estimate per segment, in order; batched results equal one-at-a-time results.

        Raises:
            AudioError: a segment without audio, with stereo/integer/non-finite audio, or shorter than 25 ms.
            AffectProxyError: the checkpoint cannot be found or loaded strictly.
        """
        if not segments:
            return []
        audios = [self._audio(seg) for seg in segments]
        dims = self.dimensions
        results = self._load().run(audios)
        info = self.info
        out = []
        for seg, res in zip(segments, results, strict=True):
            arrays = {"embedding": res.embedding} if self.embeddings else {}
            if info.kind == "dimensional":
                raw_values = {n: float(v) for n, v in zip(DIMENSIONAL_LABELS, res.output, strict=True)}
                values = {n: min(1.0, max(0.0, v)) if self.clip else v for n, v in raw_values.items()}
                out.append(EmotionEstimate(seg.id, self.name, values, raw={"outputs": raw_values,
                                                                              "windows": res.windows},
                                           arrays=arrays))
                continue
            logits = res.output
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            categories = {label: float(p) for label, p in zip(info.labels, probs, strict=True)}
            mapped = self._mapped_labels()
            projected: dict[str, float] = {}
            for label, p in categories.items():
                if label in mapped:
                    projected[mapped[label]] = projected.get(mapped[label], 0.0) + p
            arousal, valence = self.table.project(projected, renormalize=self.renormalize)
            values = {"arousal": arousal, "valence": valence}
            assert {d.name for d in dims} >= set(values)
            out.append(EmotionEstimate(seg.id, self.name, values, categories=categories,
                                       raw={"logits": [float(x) for x in logits], "windows": res.windows},
                                       arrays=arrays))
        return out


__all__ = ["ALIASES", "OUTPUT_VERSION", "Wav2Vec2Evaluator"]
