"""Padded, masked batch inference with funasr's ``Emotion2vec`` modules that equals funasr's ``generate()``.

A naive padded batch drifts (~3% in embeddings) because the 5-layer positional convolution is not masked: padding
leaks into the last ~0.7 s of each shorter item. So each item runs alone through what mixes along time without a
mask (waveform normalisation, the convolutional front end, the positional convolution), and only the transformer
blocks run on the padded batch, with a key-padding mask and ALiBi biases, which is exact for the valid frames.
Pooling averages the valid frames only. Items are length-sorted into buckets so padding stays small.

:func:`naive_padded_forward` is the drifting way, kept so tests can show that they would notice it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

from affectproxy.devices import autocast_dtype, resolve_device


def _autocast(device: str, dtype: str | None) -> AbstractContextManager[Any]:
    import torch

    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=getattr(torch, dtype))


def buckets(lengths: Sequence[int], batch_size: int, max_cost: float | None = None) -> Iterator[list[int]]:
    """Indices grouped into length-sorted batches of at most ``batch_size`` items.

    With ``max_cost``, a batch also stops growing once ``items * longest_length**2`` (what attention's memory grows
    with) would exceed it, so batches of long items are smaller and memory stays flat.

    Examples:
        >>> list(buckets([5, 1, 4, 2, 3], 2))
        [[1, 3], [4, 2], [0]]
        >>> list(buckets([10, 10, 20, 20], 4, max_cost=800))
        [[0, 1], [2, 3]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batch: list[int] = []
    for i in order:
        full = len(batch) >= batch_size or (max_cost is not None and (len(batch) + 1) * lengths[i] ** 2 > max_cost)
        if batch and full:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


class Runner:
    """Runs a loaded ``Emotion2vec`` module on lists of float32 waveforms.

    Args:
        model: funasr's ``Emotion2vec`` module, loaded (see :func:`affectproxy_emotion2vec.checkpoint.build_model`).
        model_conf: its ``model_conf``.
        keep: a boolean mask of the labels to keep (funasr drops ``unuse*`` placeholders).
        device: a torch device string.
        dtype: None (float32), ``"bfloat16"`` or ``"float16"``: autocast around the forward pass.
    """

    def __init__(self, model: Any, model_conf: dict[str, Any], keep: np.ndarray, device: str, dtype: str | None):
        self.model = model.to(device)
        self.conf = model_conf
        self.keep = keep
        self.device = device
        self.dtype = dtype
        self.encoder = model.modality_encoders["AUDIO"]

    def _front(self, wav: np.ndarray) -> Any:
        """Waveform -> (T, D) features after the front end and positional convolution (one item, unpadded)."""
        import torch
        import torch.nn.functional as F

        source = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)).to(self.device)
        if self.conf.get("normalize"):
            source = F.layer_norm(source, source.shape)
        x = self.encoder.local_features(source.view(1, -1))
        if self.encoder.fixed_positional_encoder is not None:
            x = x + self.encoder.fixed_positional_encoder(x, None)
        if self.encoder.relative_positional_encoder is not None:
            x = x + self.encoder.relative_positional_encoder(x)
        return x[0]

    def _blocks(self, x: Any, padding_mask: Any) -> Any:
        """The transformer part on a padded (B, T, D) batch; ``padding_mask`` (B, T) is True at padding."""
        import torch
        import torch.nn.functional as F

        enc, model = self.encoder, self.model
        b, t, _ = x.shape
        heads = enc.modality_cfg.num_alibi_heads
        alibi_bias, alibi_scale = None, enc.alibi_scale
        if enc.get_alibi_bias is not None:
            alibi_bias = enc.get_alibi_bias(batch_size=b, time_steps=t, heads=heads, dtype=torch.float32,
                                            device=x.device)
            if alibi_scale is not None:
                alibi_scale = alibi_scale.clamp_min(0)
                if alibi_scale.size(0) == 1:
                    alibi_bias = alibi_bias * alibi_scale.squeeze(0).type_as(alibi_bias)
                    alibi_scale = None
        mask = padding_mask if bool(padding_mask.any()) else None
        if enc.extra_tokens is not None:
            num = enc.extra_tokens.size(1)
            x = torch.cat([enc.extra_tokens.expand(b, -1, -1), x], dim=1)
            if mask is not None:
                mask = F.pad(mask, (num, 0))
            if alibi_bias is not None:
                alibi_bias = F.pad(alibi_bias, (num, 0, num, 0))
        prenet = enc.modality_cfg.prenet_depth
        x = enc.context_encoder(x, mask, alibi_bias, alibi_scale[:prenet] if alibi_scale is not None else None)
        rest = alibi_scale[prenet:] if alibi_scale is not None and alibi_scale.size(0) > 1 else alibi_scale
        for i, blk in enumerate(model.blocks):
            ab = alibi_bias
            if ab is not None and rest is not None:
                ab = ab * (rest[i] if rest.size(0) > 1 else rest.squeeze(0)).type_as(ab)
            x, _ = blk(x, padding_mask=mask, alibi_bias=ab)
        if model.norm is not None:
            x = model.norm(x)
        return x[:, enc.modality_cfg.num_extra_tokens:]

    def run(
        self, waves: Sequence[np.ndarray], batch_size: int = 1, max_cost: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pooled embeddings and valid frame counts for each waveform.

        Args:
            waves: float32 mono waveforms at 16 kHz, each at least the front end's receptive field long.
            batch_size: items per padded batch (length-sorted buckets); 1 runs them one at a time.
            max_cost: bound on ``items * longest_samples**2`` per batch (see :func:`buckets`); None: no bound.

        Returns:
            ``embeddings`` (n, D) float32: the mean over valid frames, what funasr returns as utterance ``feats``;
            ``frames`` (n,) int: frames each waveform gave.
        """
        import torch

        n = len(waves)
        embeddings = np.zeros((n, int(self.conf["embed_dim"])), np.float32)
        frames = np.zeros(n, np.int64)
        with torch.inference_mode(), _autocast(self.device, self.dtype):
            for batch in buckets([len(w) for w in waves], max(1, batch_size), max_cost):
                feats = [self._front(waves[i]) for i in batch]
                lengths = [f.shape[0] for f in feats]
                x = feats[0].new_zeros((len(batch), max(lengths), feats[0].shape[1]))
                pad = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
                for j, f in enumerate(feats):
                    x[j, : lengths[j]] = f
                    pad[j, : lengths[j]] = False
                y = self._blocks(x, pad)
                valid = (~pad).unsqueeze(-1).to(y.dtype)
                pooled = ((y * valid).sum(1) / valid.sum(1)).float().cpu().numpy()
                embeddings[batch] = pooled
                frames[batch] = lengths
        return embeddings, frames

    def classify(self, embeddings: np.ndarray) -> np.ndarray:
        """Class probabilities (n, kept labels), float64, from pooled embeddings: the head (``proj``) and softmax
        over the kept labels, in float32 as funasr does."""
        import torch

        if self.model.proj is None:
            raise ValueError("this emotion2vec model has no classification head (proj)")
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(embeddings, np.float32)).to(self.device)
            logits = self.model.proj(x)[:, torch.from_numpy(self.keep).to(x.device)]
            return torch.softmax(logits.float(), dim=-1).double().cpu().numpy()


def naive_padded_forward(model: Any, waves: Sequence[np.ndarray]) -> np.ndarray:
    """Class probabilities from one zero-padded batch through funasr's own forward with a padding mask.

    This is the obvious way to batch, and it is wrong: the positional convolution sees the padding. Tests use it to
    show that the batched-equals-sequential check can tell.
    """
    import torch
    import torch.nn.functional as F

    t = max(len(w) for w in waves)
    src = torch.zeros(len(waves), t)
    pad = torch.ones(len(waves), t, dtype=torch.bool)
    for j, w in enumerate(waves):
        s = torch.from_numpy(np.asarray(w, np.float32))
        src[j, : len(w)] = F.layer_norm(s, s.shape) if model.cfg.get("normalize") else s
        pad[j, : len(w)] = False
    with torch.inference_mode():
        res = model.extract_features(src, padding_mask=pad)
        x, mask = res["x"], res["padding_mask"]
        valid = (~mask).unsqueeze(-1).float() if mask is not None else torch.ones_like(x[..., :1])
        pooled = (x * valid).sum(1) / valid.sum(1)
        return torch.softmax(model.proj(pooled), dim=-1).double().numpy()


__all__ = ["Runner", "autocast_dtype", "buckets", "naive_padded_forward", "resolve_device"]
