"""Padded batch inference with funasr's ``Emotion2vec`` modules that equals running each item alone.

The whole forward pass runs on padded batches; the padding's influence is removed where each part would see it:

* waveform normalisation (funasr's ``layer_norm`` over the whole item): mean and variance over the valid samples;
* the convolutional front end: a convolution without padding never looks past the valid samples when computing
  valid output frames, so only the lengths are carried through the layers (``(n - kernel) // stride + 1``); the
  per-channel group norm of the ``default`` extractor takes its statistics over valid frames only; the layer norms
  and the projection act per frame;
* the positional convolution (5 zero-padded convolutions, ~0.7 s of context): padded frames are set to zero before
  each convolution, which is what an item alone sees past its end;
* the transformer blocks: a key-padding mask and the ALiBi biases; pooling averages the valid frames.

Without these steps the positional convolution alone moves embeddings by ~3% (:func:`naive_padded_forward`, kept so
tests can show that they would notice). Items are grouped longest first into batches of at most
``max_batch_seconds`` of padded audio (:func:`affectproxy.batching.length_buckets`); on CUDA each batch is copied
from pinned memory while the previous one computes (:func:`affectproxy.devices.feed`), and results stay on the
device until the end.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from affectproxy.batching import length_buckets
from affectproxy.devices import autocast, autocast_dtype, feed, resolve_device
from affectproxy_emotion2vec.checkpoint import conv_layers

SAMPLE_RATE = 16000


def _frames(lengths: Any, kernel: int, stride: int) -> Any:
    return (lengths - kernel) // stride + 1


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
        self.layers = conv_layers(model_conf)

    # --- the parts of the forward pass -------------------------------------------------------------------------
    def _normalise(self, wave: Any, valid: Any, n: Any) -> Any:
        """funasr's per-item ``layer_norm`` of the waveform, over the valid samples of each row."""
        if not self.conf.get("normalize"):
            return wave
        mean = (wave * valid).sum(1, keepdim=True) / n
        centred = (wave - mean) * valid
        var = (centred * centred).sum(1, keepdim=True) / n
        return centred / (var + 1e-5).sqrt()

    @staticmethod
    def _group_norm(norm: Any, x: Any, valid: Any) -> Any:
        """``Fp32GroupNorm`` with statistics over the valid frames only; ``x`` is (B, C, T), ``valid`` (B, 1, T)."""
        b, c, t = x.shape
        g = norm.num_groups
        xf = x.float().view(b, g, c // g, t)
        m = valid.float().view(b, 1, 1, t)
        count = m.sum((2, 3), keepdim=True) * (c // g)
        mean = (xf * m).sum((2, 3), keepdim=True) / count
        var = (((xf - mean) * m) ** 2).sum((2, 3), keepdim=True) / count
        y = ((xf - mean) / (var + norm.eps).sqrt()).view(b, c, t)
        if norm.weight is not None:
            y = y * norm.weight.float().view(1, c, 1) + norm.bias.float().view(1, c, 1)
        return y.type_as(x)

    def _local(self, wave: Any, lengths: Any) -> tuple[Any, Any]:
        """The convolutional front end and projection on a padded (B, T) batch: (B, F, D) features, frame counts."""
        import torch

        x = wave.unsqueeze(1)
        for layer, (_, kernel, stride) in zip(self.encoder.local_encoder.conv_layers, self.layers, strict=True):
            lengths = _frames(lengths, kernel, stride)
            for module in layer:
                if isinstance(module, torch.nn.GroupNorm):
                    valid = torch.arange(x.shape[-1], device=x.device)[None, None, :] < lengths[:, None, None]
                    x = self._group_norm(module, x, valid)
                else:
                    x = module(x)
        return self.encoder.project_features(x), lengths

    def _positional(self, module: Any, x: Any, valid: Any) -> Any:
        """Run the positional encoder with padded frames zeroed before every convolution (as an item alone sees)."""
        import torch

        if isinstance(module, torch.nn.Sequential):
            for child in module:
                x = self._positional(child, x, valid)
            return x
        if isinstance(module, torch.nn.Conv1d):  # (B, D, T) here
            return module(x * valid.unsqueeze(1).to(x.dtype))
        return module(x)

    def features(self, wave: Any, lengths: Any) -> tuple[Any, Any]:
        """Front end and positional convolution on a padded batch.

        Args:
            wave: (B, T) float32 waveforms, zero-padded.
            lengths: (B,) valid samples per row (int64, same device).

        Returns:
            ``(x, frames)``: (B, F, D) features, valid only in the first ``frames[i]`` rows of item ``i``.
        """
        import torch

        valid = torch.arange(wave.shape[1], device=wave.device)[None, :] < lengths[:, None]
        wave = self._normalise(wave * valid, valid, lengths[:, None].to(wave.dtype))
        x, frames = self._local(wave, lengths)
        keep = torch.arange(x.shape[1], device=x.device)[None, :] < frames[:, None]
        if self.encoder.fixed_positional_encoder is not None:
            x = x + self.encoder.fixed_positional_encoder(x, ~keep)
        if self.encoder.relative_positional_encoder is not None:
            x = x + self._positional(self.encoder.relative_positional_encoder, x, keep)
        return x, frames

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
        mask = padding_mask if b > 1 else None  # one item alone has no padding
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

    # --- public ------------------------------------------------------------------------------------------------
    def run(self, waves: Sequence[np.ndarray], max_batch_seconds: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Pooled embeddings and valid frame counts for each waveform.

        Args:
            waves: float32 mono waveforms at 16 kHz, each at least the front end's receptive field long.
            max_batch_seconds: padded audio per forward pass (items x longest item); 0 runs one item at a time.
                The results do not depend on it beyond float rounding.

        Returns:
            ``embeddings`` (n, D) float32: the mean over valid frames, what funasr returns as utterance ``feats``;
            ``frames`` (n,) int: frames each waveform gave.
        """
        import torch

        n = len(waves)
        dim = int(self.conf["embed_dim"])
        if n == 0:
            return np.zeros((0, dim), np.float32), np.zeros(0, np.int64)
        batches = length_buckets([len(w) for w in waves], int(max_batch_seconds * SAMPLE_RATE))
        embeddings = torch.zeros((n, dim), dtype=torch.float32, device=self.device)
        frames = torch.zeros(n, dtype=torch.int64, device=self.device)
        with torch.inference_mode(), autocast(self.device, self.dtype):
            for wave, lengths, index in feed(self._host(waves, batches), self.device):
                x, counts = self.features(wave, lengths)
                pad = torch.arange(x.shape[1], device=x.device)[None, :] >= counts[:, None]
                y = self._blocks(x, pad)
                valid = (~pad).unsqueeze(-1).to(y.dtype)
                embeddings[index] = ((y * valid).sum(1) / valid.sum(1)).float()
                frames[index] = counts
        return embeddings.cpu().numpy(), frames.cpu().numpy()

    @staticmethod
    def _host(waves: Sequence[np.ndarray], batches: list[list[int]]) -> Iterator[tuple[np.ndarray, ...]]:
        """Zero-padded host arrays per batch: waveforms (B, T) float32, lengths (B,) and item indices (B,)."""
        for batch in batches:
            lengths = np.array([len(waves[i]) for i in batch], np.int64)
            wave = np.zeros((len(batch), int(lengths.max())), np.float32)
            for row, i in enumerate(batch):
                wave[row, : lengths[row]] = waves[i]
            yield wave, lengths, np.array(batch, np.int64)

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


__all__ = ["Runner", "autocast_dtype", "naive_padded_forward", "resolve_device"]
