"""Benchmark families for ``benchmarks/acoustic.py``: one module per model family.

Each module exposes:

* ``FAMILY: str`` and ``REFERENCE: str`` (the mode that speed ratios and deviations are measured against);
* ``prepare(cache_dir: pathlib.Path) -> None``: build and save a full-size randomly initialised model under
  ``cache_dir`` (idempotent: skip what is already there);
* ``MODES: dict[str, Callable[[Path], Callable[[list[np.ndarray]], np.ndarray]]]``: mode name -> a loader taking
  ``cache_dir`` and returning ``run(segments)``, which maps float32 16 kHz waveforms to an (n_segments, k) float64
  array of per-segment outputs (class probabilities, or dimensional values);
* optionally ``EXTRA_FAMILIES: dict[str, dict]``: further families from the same module, each a mapping with
  ``REFERENCE`` and ``MODES`` (``prepare`` must build their models too).

The device a mode should use is :func:`device` (``--device`` of acoustic.py, passed to the child process through
the ``AFFECTPROXY_BENCH_DEVICE`` environment variable; default ``cpu``).
"""

from __future__ import annotations

import os

DEVICE_VARIABLE = "AFFECTPROXY_BENCH_DEVICE"


def device() -> str:
    """The torch device the benchmark was asked to use (``cpu`` unless ``--device`` says otherwise)."""
    return os.environ.get(DEVICE_VARIABLE, "cpu")


__all__ = ["DEVICE_VARIABLE", "device"]
