"""Array conversion: integer PCM to float, user arrays to float32 mono at a wanted rate."""

from __future__ import annotations

from typing import Any

import numpy as np

from affectproxy.errors import AudioError

MAX_CHANNELS = 8
"""Most channels :func:`to_mono_float32` accepts; it tells (n, channels) from (channels, n) by this bound."""

PEAK_LIMIT = 4.0
"""Float samples beyond this magnitude are refused: they are almost surely integer PCM stored as float."""

_INT_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0, np.dtype(np.int8): 128.0}


def _scale(data: np.ndarray) -> np.ndarray:
    """Integer PCM -> float in [-1, 1); floats -> float32."""
    if data.dtype in _INT_SCALE:
        return (data.astype(np.float32) / np.float32(_INT_SCALE[data.dtype])).astype(np.float32)
    if data.dtype == np.uint8:
        return (data.astype(np.float32) - 128.0) / 128.0
    if data.dtype == np.int64:
        return (data / 9.223372036854775808e18).astype(np.float32)
    return data.astype(np.float32, copy=False)


def _check_rate(name: str, rate: Any, source: str) -> None:
    if not isinstance(rate, (int, np.integer)) or isinstance(rate, bool) or rate <= 0:
        raise AudioError(f"{source}: {name} must be a positive int (Hz), got {rate!r}.")


def to_mono_float32(array: Any, sample_rate: int, target_rate: int, *, source: str = "<array>") -> np.ndarray:
    """Turn a user's array into float32 mono at ``target_rate``, refusing what would be silently wrong.

    Integers are scaled to [-1, 1): int16 by 2**15, int32 by 2**31, int8 by 2**7, uint8 as offset binary; floats
    are cast to float32 and must stay within +-:data:`PEAK_LIMIT` (larger values are integer PCM stored as
    float: divide by 32768). Shapes: ``(n,)``; ``(n, channels)`` or ``(channels, n)`` with at most
    :data:`MAX_CHANNELS` channels. The channel axis is the one of length <= 8 while the other is longer; when
    both are <= 8 (a clip of at most 8 samples) or both longer, the layout is ambiguous and refused. Channels are
    averaged; the rate is converted with soxr (HQ).

    Args:
        array: samples (numpy array or anything ``np.asarray`` takes).
        sample_rate: the array's rate in Hz.
        target_rate: the wanted rate in Hz.
        source: what the array is, for error messages (a file name, a segment id).

    Returns:
        A C-contiguous 1-D float32 array.

    Raises:
        AudioError: an unsupported dtype, an ambiguous or unsupported shape, NaN/inf, an empty array, float
            samples beyond +-4, or non-positive rates.

    Examples:
        >>> import numpy as np
        >>> to_mono_float32(np.array([[16384, -16384], [0, 0]] * 8, np.int16), 16000, 16000)[:2]
        array([0., 0.], dtype=float32)
        >>> to_mono_float32(np.ones((2, 3)), 16000, 16000)
        Traceback (most recent call last):
        ...
        affectproxy.errors.AudioError: <array>: shape (2, 3) is ambiguous: ...
    """
    _check_rate("sample_rate", sample_rate, source)
    _check_rate("target_rate", target_rate, source)
    x = np.asarray(array)
    if x.dtype.kind not in "iuf" or x.dtype == np.uint16 or x.dtype == np.uint32 or x.dtype == np.uint64:
        raise AudioError(f"{source}: samples of dtype {x.dtype} are not audio. Pass float32/float64 in [-1, 1] or "
                         "int16/int32 PCM.")
    if x.ndim == 2:
        n0, n1 = x.shape
        if n1 <= MAX_CHANNELS < n0:
            pass
        elif n0 <= MAX_CHANNELS < n1:
            x = x.T
        else:
            raise AudioError(
                f"{source}: shape {x.shape} is ambiguous: expected (n,), (n, channels) or (channels, n) with at most "
                f"{MAX_CHANNELS} channels and more than {MAX_CHANNELS} samples. Pass a 1-D array, or "
                "array.mean(axis=<channel axis>) yourself."
            )
    elif x.ndim != 1:
        raise AudioError(f"{source}: expected a 1-D or 2-D array of samples, got shape {x.shape}. Pass (n,) or "
                         "(n, channels).")
    if x.shape[0] == 0:
        raise AudioError(f"{source}: the array has no samples.")
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise AudioError(f"{source}: the samples contain NaN or inf. Fix the signal before evaluating it.")
        peak = float(np.abs(x).max())
        if peak > PEAK_LIMIT:
            raise AudioError(f"{source}: float samples reach {peak:g}, but float audio lies in [-1, 1]. If these are "
                             "int16 values stored as floats, divide by 32768 (or pass the int16 array).")
    y = _scale(x)
    if y.ndim == 2:
        y = y.mean(axis=1, dtype=np.float32)
    if sample_rate != target_rate:
        import soxr

        y = soxr.resample(np.ascontiguousarray(y), int(sample_rate), int(target_rate), quality="HQ")
    return np.ascontiguousarray(y, dtype=np.float32)
