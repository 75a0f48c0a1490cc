"""Benchmark families for ``benchmarks/acoustic.py``: one module per model family.

Each module exposes ``FAMILIES``: a list of :class:`Family`, each with

* ``name``;
* ``build(cache_dir, tiny) -> Path``: write a randomly initialised model (the full published size, or a tiny one
  for a quick check) under ``cache_dir`` and return its folder (idempotent: skip what is already there);
* ``modes``: :class:`Mode` objects in the order they run; each ``load(folder, device)`` returns
  ``run(waves) -> np.ndarray``, mapping float32 16 kHz waveforms to an (n_segments, k) float64 array of
  per-segment outputs (class probabilities, or dimensional values);
* ``reference``: the names of the one-by-one modes that deviations are measured against, in order of preference
  (the first that ran is used; e.g. funasr ``generate()`` where funasr runs, else our per-item fp32 path, which
  tests show equal to it);
* ``flops``: ``flops(folder, device) -> float``, FLOP per audio second of one forward pass (counted by
  ``torch.utils.flop_counter`` on a 5-second input), for the fraction of the chip's rate.

A mode with ``one_by_one=True`` handles one segment per call and is capped (``--cap``) because it is slow.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import numpy as np

SAMPLE_RATE = 16000

Run = Callable[[list[np.ndarray]], np.ndarray]


@attrs.frozen
class Mode:
    """One way of running a family's model."""

    name: str
    load: Callable[[Path, str], Run]
    one_by_one: bool = False
    dtype: str = "float32"


@attrs.frozen
class Family:
    """A model size and the ways of running it."""

    name: str
    build: Callable[[Path, bool], Path]
    modes: tuple[Mode, ...]
    reference: tuple[str, ...]
    flops: Callable[[Path, str], float]


def flops_per_audio_second(forward: Callable[[object], object], device: str, seconds: float = 5.0) -> float:
    """FLOP of ``forward(wave)`` on a (1, seconds x 16 kHz) float32 tensor, divided by ``seconds``."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    wave = 0.1 * torch.randn(1, int(seconds * SAMPLE_RATE), device=device)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        forward(wave)
    return float(counter.get_total_flops()) / seconds


def chunks(items: list, size: int) -> list[list]:
    """``items`` in consecutive chunks of ``size`` (what the engine hands to ``evaluate`` per call)."""
    return [items[i: i + size] for i in range(0, len(items), size)]


__all__ = ["SAMPLE_RATE", "Family", "Mode", "Run", "chunks", "flops_per_audio_second"]
