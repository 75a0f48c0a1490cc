"""Batched inference that equals one-at-a-time inference: normalise, window, bucket, pad with masks, pool.

Rules:

* Each segment is normalised as a whole (when the feature extractor says ``do_normalize``), then split into
  windows of at most ``max_window`` samples of near-equal length; a segment's output pools the frames of all its
  windows (frame-count weighted), then applies the head once.
* Windows are sorted by length and run in buckets of at most ``max_batch`` items and ``max_batch_samples``
  padded samples. Layer-norm front ends pad with an attention mask (exact to ~1e-7). Group-norm front ends are
  not mask-safe (padding shifts their statistics by 2-8e-2), so they batch only windows of identical length.
* ``dtype`` bfloat16/float16 runs the backbone under ``torch.autocast``; pooling and heads stay float32.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import numpy as np
import torch

from affectproxy.devices import resolve_device
from affectproxy_wav2vec2.checkpoint import CheckpointInfo
from affectproxy_wav2vec2.modeling import Wav2Vec2DimensionalModel, load_model

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_device(device: str) -> torch.device:
    """``"auto"``: cuda, then mps, then cpu; anything else is checked (see affectproxy.devices)."""
    return torch.device(resolve_device(device, evaluator="wav2vec2"))


@attrs.frozen
class Pooled:
    """One segment's output: the pooled representation and the head's output (logits or regression values)."""

    embedding: np.ndarray
    output: np.ndarray
    windows: int


def windows(n: int, max_window: int) -> list[tuple[int, int]]:
    """Split ``n`` samples into the fewest near-equal windows of at most ``max_window`` samples."""
    count = max(1, math.ceil(n / max_window))
    edges = [round(i * n / count) for i in range(count + 1)]
    return list(itertools.pairwise(edges))


class Runner:
    """A loaded model with its feature-extractor settings, on one device.

    Args:
        info: the checkpoint.
        device: a resolved torch device.
        dtype: "float32", "bfloat16" or "float16".
        max_window: the longest window in samples.
        max_batch: the most windows per forward pass.
        max_batch_samples: the most padded samples per forward pass.
    """

    def __init__(
        self, info: CheckpointInfo, device: torch.device, dtype: str, max_window: int, max_batch: int,
        max_batch_samples: int,
    ) -> None:
        self.info = info
        self.device = device
        self.dtype = DTYPES[dtype]
        self.max_window = max_window
        self.max_batch = max_batch
        self.max_batch_samples = max_batch_samples
        model: Any = load_model(info)
        self.model = model.to(device)
        pre = info.preprocessor
        self.do_normalize = bool(pre.get("do_normalize", True))
        self.mask = bool(pre.get("return_attention_mask", not info.group_norm))
        self.group_norm = info.group_norm
        self.padding_value = float(pre.get("padding_value", 0.0))

    def normalise(self, audio: np.ndarray) -> np.ndarray:
        """Zero mean, unit variance as Wav2Vec2FeatureExtractor does (float32, eps 1e-7)."""
        x = np.asarray(audio, dtype=np.float32)
        if not self.do_normalize:
            return x
        return ((x - x.mean()) / np.sqrt(x.var() + 1e-7)).astype(np.float32)

    def _buckets(self, lengths: Sequence[int]) -> Iterator[list[int]]:
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        batch: list[int] = []
        for i in order:
            if batch and (
                len(batch) >= self.max_batch
                or (self.group_norm and lengths[i] != lengths[batch[0]])
                or lengths[batch[0]] * (len(batch) + 1) > self.max_batch_samples
            ):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def _frames(self, inputs: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """Run one bucket; per item the sum of its pooled-feature frames (float32) and its frame count."""
        lengths = [len(x) for x in inputs]
        longest = max(lengths)
        batch = np.full((len(inputs), longest), self.padding_value, dtype=np.float32)
        mask = np.zeros((len(inputs), longest), dtype=np.int64)
        for row, x in enumerate(inputs):
            batch[row, : len(x)] = x
            mask[row, : len(x)] = 1
        values = torch.from_numpy(batch).to(self.device)
        padded = min(lengths) != longest
        attention = torch.from_numpy(mask).to(self.device) if (self.mask or padded) else None
        if padded and self.group_norm:  # guarded by _buckets; a programming error otherwise
            raise AssertionError("group-norm wav2vec2 front ends must not be padded")
        model = self.model
        with self._autocast():
            if isinstance(model, Wav2Vec2DimensionalModel):
                hidden = model.wav2vec2(values, attention_mask=attention).last_hidden_state
            else:
                weighted = bool(model.config.use_weighted_layer_sum)
                out = model.wav2vec2(values, attention_mask=attention, output_hidden_states=weighted)
                if weighted:
                    stacked = torch.stack(out.hidden_states, dim=1).float()
                    norm = torch.nn.functional.softmax(model.layer_weights.float(), dim=-1)
                    hidden = (stacked * norm.view(-1, 1, 1)).sum(dim=1)
                else:
                    hidden = out.last_hidden_state
                hidden = model.projector(hidden)
        hidden = hidden.float()
        counts = model._get_feat_extract_output_lengths(torch.tensor(lengths)).to(self.device)
        frames = (torch.arange(hidden.shape[1], device=self.device)[None, :] < counts[:, None]).float()
        return (hidden * frames.unsqueeze(-1)).sum(dim=1), counts

    @torch.inference_mode()
    def run(self, audios: Sequence[np.ndarray]) -> list[Pooled]:
        """Pool and score each audio (normalised here); one result per input, in order."""
        items: list[np.ndarray] = []
        owner: list[int] = []
        for index, audio in enumerate(audios):
            x = self.normalise(audio)
            for a, b in windows(len(x), self.max_window):
                items.append(x[a:b])
                owner.append(index)
        sums: list[torch.Tensor | None] = [None] * len(items)
        counts = [0] * len(items)
        for bucket in self._buckets([len(x) for x in items]):
            total, frames = self._frames([items[i] for i in bucket])
            for row, i in enumerate(bucket):
                sums[i] = total[row].double()
                counts[i] = int(frames[row])
        hidden = self.model.config.hidden_size if isinstance(self.model, Wav2Vec2DimensionalModel) else (
            self.model.config.classifier_proj_size)
        acc = torch.zeros((len(audios), hidden), dtype=torch.float64, device=self.device)
        n = torch.zeros(len(audios), dtype=torch.float64, device=self.device)
        nwin = [0] * len(audios)
        for i, owner_index in enumerate(owner):
            acc[owner_index] += sums[i]  # type: ignore[operator,arg-type]
            n[owner_index] += counts[i]
            nwin[owner_index] += 1
        pooled = (acc / n[:, None]).float()
        head = self.model.classifier
        output = head(pooled).double().cpu().numpy()
        emb = pooled.cpu().numpy()
        return [Pooled(emb[i], output[i], nwin[i]) for i in range(len(audios))]


__all__ = ["DTYPES", "Pooled", "Runner", "pick_device", "windows"]
