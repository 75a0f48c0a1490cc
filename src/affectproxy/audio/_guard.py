"""The evaluator-side guard: what an evaluator may take from ``Segment.audio``."""

from __future__ import annotations

from typing import Any

import numpy as np

from affectproxy.audio._convert import _scale
from affectproxy.errors import AudioError


def segment_samples(segment: Any, *, evaluator: str, sample_rate: int, min_samples: int = 1) -> np.ndarray:
    """The float32 mono samples an evaluator may use from ``segment.audio``, refusing what a model would misread.

    The core fills ``Segment.audio`` as float32 mono at the evaluator's rate; this guards evaluators called
    directly with hand-filled audio. Integer PCM is scaled to [-1, 1) and float64 is cast (funasr raises on
    both); ``(n, 1)``/``(1, n)`` count as mono; several channels are refused, never flattened (funasr would
    interleave them into one garbled signal); NaN/inf and too-short input are refused.

    Args:
        segment: a :class:`~affectproxy.Segment` (anything with ``id``, ``recording.id`` and ``audio``).
        evaluator: the evaluator's name, for error messages.
        sample_rate: the rate the evaluator expects, in Hz (for the length in seconds in messages).
        min_samples: fewest samples the evaluator accepts.

    Returns:
        A 1-D float32 array.

    Raises:
        AudioError: no audio, several channels, not numbers, NaN/inf, or fewer than ``min_samples`` samples;
            the message names the segment, the evaluator and the fix.

    Examples:
        >>> import numpy as np, affectproxy as ap
        >>> seg = ap.Segment("s1", ap.Recording("r"), 0, 1, audio=np.array([0, 16384], np.int16))
        >>> segment_samples(seg, evaluator="demo", sample_rate=16000)
        array([0. , 0.5], dtype=float32)
    """
    where = f"Segment {segment.id!r} of recording {segment.recording.id!r} ({evaluator})"
    if segment.audio is None:
        raise AudioError(f"{where} has no audio. Run it through affectproxy.evaluate(), which fills Segment.audio "
                         f"({sample_rate} Hz mono float32), or fill it yourself.")
    a = np.asarray(segment.audio)
    if a.ndim > 1 and sum(n > 1 for n in a.shape) <= 1:
        a = a.reshape(-1)
    if a.ndim != 1:
        raise AudioError(f"{where} has audio of shape {a.shape}; {evaluator} needs mono (n_samples,), and a model "
                         "may silently flatten channels into one garbled signal. Mix down first: the core does "
                         "when it reads a file, or use affectproxy.audio.to_mono_float32.")
    if a.dtype.kind not in "iuf":
        raise AudioError(f"{where}: audio dtype {a.dtype} is not a number type; pass float32 samples in [-1, 1].")
    a = _scale(a)
    if not np.isfinite(a).all():
        raise AudioError(f"{where}: audio holds NaN or infinite samples; check the decoder or the file.")
    if a.size < min_samples:
        raise AudioError(f"{where} has {a.size} samples ({a.size / sample_rate:.4f} s), shorter than the "
                         f"{min_samples} samples {evaluator} needs (at least {min_samples} at {sample_rate} Hz); "
                         "merge or drop the segment.")
    return a
