"""Batched inference that equals one-at-a-time inference: normalise, window, bucket, pad with masks, pool.

Rules:

* Each segment is normalised as a whole (when the feature extractor says ``do_normalize``), then split into
  windows of at most ``max_window`` samples of near-equal length; a segment's output pools the frames of all its
  windows (frame-count weighted), then applies the head once.
* Windows are sorted by length (longest first) and run in batches of at most ``max_batch_samples`` padded
  samples (:func:`affectproxy.batching.length_buckets`; 0 runs one window at a time). Layer-norm front ends pad
  with an attention mask (exact to ~1e-7). Group-norm front ends are not mask-safe (padding shifts their
  statistics by 2-8e-2), so they batch only windows of identical length.
* ``dtype`` bfloat16/float16 runs the backbone under ``torch.autocast``; pooling and heads stay float32.
* On CUDA each batch is copied from pinned memory while the previous one computes
  (:func:`affectproxy.devices.feed`); frame counts are computed on the host and results stay on the device until
  the end, so nothing waits for the GPU between batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import numpy as np
import torch

from affectproxy.batching import even_pieces, length_buckets
from affectproxy.devices import autocast, feed
from affectproxy_wav2vec2.checkpoint import CheckpointInfo
from affectproxy_wav2vec2.modeling import Wav2Vec2DimensionalModel, load_model

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@attrs.frozen
class Pooled:
    """One segment's output: the pooled representation and the head's output (logits or regression values)."""

    embedding: np.ndarray
    output: np.ndarray
    windows: int


class Runner:
    """A loaded model with its feature-extractor settings, on one device.

    Args:
        info: the checkpoint.
        device: a resolved torch device.
        dtype: "float32", "bfloat16" or "float16".
        max_window: the longest window in samples.
        max_batch_samples: the most padded samples per forward pass (0: one window at a time).
    """

    def __init__(
        self, info: CheckpointInfo, device: torch.device, dtype: str, max_window: int, max_batch_samples: int,
    ) -> None:
        self.info = info
        self.device = device
        self.dtype = DTYPES[dtype]
        self.max_window = max_window
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

    def _autocast(self) -> Any:
        return autocast(str(self.device), None if self.dtype == torch.float32 else str(self.dtype).split(".")[-1])

    def _host(self, items: Sequence[np.ndarray], batches: list[list[int]]) -> Iterator[tuple[np.ndarray, ...]]:
        """Per batch: padded values (B, T) float32, attention mask (B, T) int64, frame counts (B,) int64 and the
        items' indices (B,) int64."""
        for batch in batches:
            lengths = [len(items[i]) for i in batch]
            values = np.full((len(batch), max(lengths)), self.padding_value, dtype=np.float32)
            mask = np.zeros((len(batch), max(lengths)), dtype=np.int64)
            for row, i in enumerate(batch):
                values[row, : lengths[row]] = items[i]
                mask[row, : lengths[row]] = 1
            counts = self.model._get_feat_extract_output_lengths(torch.tensor(lengths)).numpy().astype(np.int64)
            yield values, mask, counts, np.array(batch, dtype=np.int64)

    def _frames(self, values: torch.Tensor, mask: torch.Tensor, counts: torch.Tensor,
                padded: bool) -> torch.Tensor:
        """Run one batch; per item the sum of its pooled-feature frames (float32)."""
        attention = mask if (self.mask or padded) else None
        if padded and self.group_norm:  # guarded by the buckets; a programming error otherwise
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
        frames = (torch.arange(hidden.shape[1], device=hidden.device)[None, :] < counts[:, None]).float()
        return (hidden * frames.unsqueeze(-1)).sum(dim=1)

    @torch.inference_mode()
    def run(self, audios: Sequence[np.ndarray]) -> list[Pooled]:
        """Pool and score each audio (normalised here); one result per input, in order."""
        items: list[np.ndarray] = []
        owner: list[int] = []
        for index, audio in enumerate(audios):
            x = self.normalise(audio)
            for a, b in even_pieces(len(x), self.max_window):
                items.append(x[a:b])
                owner.append(index)
        lengths = [len(x) for x in items]
        batches = length_buckets(lengths, self.max_batch_samples, same_length=self.group_norm)
        hidden = self.model.config.hidden_size if isinstance(self.model, Wav2Vec2DimensionalModel) else (
            self.model.config.classifier_proj_size)
        sums = torch.zeros((len(items), hidden), dtype=torch.float64, device=self.device)
        counts = torch.zeros(len(items), dtype=torch.float64, device=self.device)
        for batch, (values, mask, frames, index) in zip(batches, feed(self._host(items, batches), str(self.device)),
                                                        strict=True):
            padded = len({lengths[i] for i in batch}) > 1
            sums[index] = self._frames(values, mask, frames, padded).double()
            counts[index] = frames.double()
        group = torch.from_numpy(np.array(owner, dtype=np.int64)).to(self.device, non_blocking=True)
        acc = torch.zeros((len(audios), hidden), dtype=torch.float64, device=self.device).index_add_(0, group, sums)
        n = torch.zeros(len(audios), dtype=torch.float64, device=self.device).index_add_(0, group, counts)
        nwin = np.bincount(np.array(owner, dtype=np.int64), minlength=len(audios)).tolist()
        pooled = (acc / n[:, None]).float()
        head = self.model.classifier
        output = head(pooled).double().cpu().numpy()
        emb = pooled.cpu().numpy()
        return [Pooled(emb[i], output[i], nwin[i]) for i in range(len(audios))]


__all__ = ["DTYPES", "Pooled", "Runner"]
