"""Device and precision options shared by the torch-based evaluators.

torch is imported inside the functions, never when affectproxy is imported.
"""

from __future__ import annotations

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
        raise AffectProxyError(
            f"Evaluator {evaluator!r}: device={device!r} but this torch ({torch.__version__}) has no CUDA. Install a "
            "CUDA build (pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128; see "
            "docs/install.md) or pass device='auto'."
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


__all__ = ["autocast_dtype", "resolve_device"]
