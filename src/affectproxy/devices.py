"""Device and precision options shared by the torch-based evaluators, and the host-to-device feed.

torch is imported inside the functions, never when affectproxy is imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

from affectproxy.errors import AffectProxyError

_DTYPES: dict[str, str | None] = {"float32": None, "fp32": None, "bfloat16": "bfloat16", "bf16": "bfloat16",
                                  "float16": "float16", "fp16": "float16"}


def resolve_device(device: str | None = "auto", *, evaluator: str = "evaluator") -> str:
    """``"auto"``/None: ``cuda`` if torch sees a GPU, then ``mps``, then ``cpu``; anything else is checked.

    Raises:
        AffectProxyError: not a torch device, or CUDA asked for where torch has none (a CPU build of torch).
    """
    import torch

    if device in (None, "auto"):
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    try:
        dev = torch.device(str(device))
    except RuntimeError as exc:
        raise AffectProxyError(f"Evaluator {evaluator!r}: device={device!r} is not a torch device ({exc}). Use "
                               "'auto', 'cpu', 'cuda', 'cuda:1' or 'mps'.") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        if torch.version.cuda is None:
            raise AffectProxyError(
                f"Evaluator {evaluator!r}: device={device!r} but this torch ({torch.__version__}) has no CUDA. "
                "Install a CUDA build (pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128; "
                "see docs/install.md) or pass device='auto'."
            )
        raise AffectProxyError(
            f"Evaluator {evaluator!r}: device={device!r} but torch {torch.__version__} (CUDA {torch.version.cuda}) "
            "sees no GPU: check the driver (nvidia-smi) and CUDA_VISIBLE_DEVICES, or pass device='auto'."
        )
    return str(dev)


def autocast_dtype(dtype: str | None) -> str | None:
    """Normalise a ``dtype`` option: None for float32, else ``"bfloat16"`` or ``"float16"`` (aliases bf16, fp16).

    Examples:
        >>> autocast_dtype("bf16"), autocast_dtype("float32")
        ('bfloat16', None)
    """
    key = "float32" if dtype is None else str(dtype).lower().replace("torch.", "")
    if key not in _DTYPES:
        raise ValueError(f"dtype must be one of float32, bfloat16 (bf16), float16 (fp16); got {dtype!r}.")
    return _DTYPES[key]


def autocast(device: str, dtype: str | None) -> AbstractContextManager[Any]:
    """``torch.autocast`` for ``dtype`` (``"bfloat16"``/``"float16"``) on ``device``; a no-op for None (float32).

    Examples:
        >>> with autocast("cpu", None):
        ...     pass
    """
    if dtype is None:
        return nullcontext()
    import torch

    return torch.autocast(device_type=str(device).split(":")[0], dtype=getattr(torch, dtype))


def feed(batches: Iterable[tuple[np.ndarray, ...]], device: str) -> Iterator[tuple[Any, ...]]:
    """Move each batch of host arrays to ``device``; on CUDA the next batch is copied while this one computes.

    On CUDA every array is copied into pinned (page-locked) memory and sent with ``non_blocking=True`` on a side
    stream; the copy of batch i + 1 is issued before batch i is handed over, and the compute stream waits for a
    batch's copy only when it uses it. Elsewhere the arrays become tensors on ``device`` one batch at a time.

    Args:
        batches: tuples of numpy arrays (one tuple per forward pass), produced lazily if the caller wants.
        device: a torch device string.

    Yields:
        Tuples of tensors on ``device``, in order, with the arrays' dtypes.
    """
    import torch

    dev = torch.device(device)
    if dev.type != "cuda":
        for batch in batches:
            yield tuple(torch.from_numpy(np.ascontiguousarray(a)).to(dev) for a in batch)
        return
    copy_stream = torch.cuda.Stream(device=dev)

    def stage(batch: tuple[np.ndarray, ...]) -> tuple[tuple[Any, ...], Any]:
        with torch.cuda.stream(copy_stream):
            host = [torch.from_numpy(np.ascontiguousarray(a)).pin_memory() for a in batch]
            moved = tuple(h.to(dev, non_blocking=True) for h in host)
        done = torch.cuda.Event()
        done.record(copy_stream)
        return moved, done

    pending = None
    for batch in batches:
        staged = stage(batch)
        if pending is not None:
            yield _ready(*pending, dev)
        pending = staged
    if pending is not None:
        yield _ready(*pending, dev)


def _ready(moved: tuple[Any, ...], done: Any, dev: Any) -> tuple[Any, ...]:
    import torch

    compute = torch.cuda.current_stream(dev)
    compute.wait_event(done)
    for t in moved:
        t.record_stream(compute)  # the caching allocator must not reuse this memory before compute is done
    return moved


class DeviceSizing:
    """Device-dependent defaults that every torch evaluator shares (a mixin).

    The evaluator sets ``name``, ``device`` (the option, e.g. ``"auto"``), ``max_batch_seconds`` (the option or
    None), ``_batch_size`` (the option or None) and ``_device = None`` in ``__init__``.
    """

    name: str
    device: str | None
    max_batch_seconds: float | None
    _batch_size: int | None
    _device: str | None

    @property
    def batch_size(self) -> int:
        """Segments per ``evaluate`` call the core should hand over (the option, or 16 on the CPU, 128 else)."""
        if self._batch_size is not None:
            return self._batch_size
        return 16 if self.resolved_device() == "cpu" else 128

    def resolved_device(self) -> str:
        """The torch device this instance runs on (``device="auto"`` resolved; imports torch)."""
        if self._device is None:
            self._device = resolve_device(self.device, evaluator=self.name)
        return self._device

    def forward_seconds(self) -> float:
        """Padded audio seconds per forward pass: the option, or 0 (one at a time) on the CPU, 320 else."""
        if self.max_batch_seconds is not None:
            return self.max_batch_seconds
        return 0.0 if self.resolved_device() == "cpu" else 320.0


__all__ = ["DeviceSizing", "autocast", "autocast_dtype", "feed", "resolve_device"]
