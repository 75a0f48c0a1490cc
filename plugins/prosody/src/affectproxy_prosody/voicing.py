"""An independent voicing cue: the fraction of frames whose normalised autocorrelation shows a pitch period.

openSMILE's F0 tracker (eGeMAPS' subharmonic summation with its own voicing threshold) can return no voiced frame
for speech in noise or with sparse voicing. Its F0 functionals then read 0, which would make the segment look
voiceless. This module gives a second opinion with numpy alone, so the evaluator can tell "no voice" from "voice
that openSMILE missed" and flag the latter instead of dropping F0 silently.

The rule (documented in docs/evaluators/prosody.md):

* frames of 50 ms every 10 ms, mean removed;
* a frame is *periodic* when it is not silent (RMS at least ``SILENCE_DB`` below the loudest frame's and above an
  absolute floor) and its normalised autocorrelation has an interior local maximum of at least ``THRESHOLD`` at a
  lag between 1/500 s and 1/55 s (F0 from 55 to 500 Hz, low enough for deep voices);
* the segment's voiced fraction is periodic frames / all frames; the segment counts as *voiced* when that
  fraction is at least ``MIN_FRACTION``.

The normalised autocorrelation at lag t is ``sum x[k] x[k+t] / sqrt(sum x[k]^2 * sum x[k+t]^2)`` over the
overlapping part of the frame: 1 for a perfectly periodic frame, about ``1/sqrt(frame length)`` for white noise.
"""

from __future__ import annotations

import numpy as np

FRAME_S = 0.050
HOP_S = 0.010
F0_MIN = 55.0
F0_MAX = 500.0
THRESHOLD = 0.5
SILENCE_DB = 40.0
MIN_FRACTION = 0.15
_RMS_FLOOR = 1e-5


def periodicity(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per-frame peak of the normalised autocorrelation over the pitch lags (NaN for silent frames; -1 without
    an interior peak).

    Args:
        signal: mono samples.
        sample_rate: samples per second.

    Returns:
        One value per 10 ms frame (empty when the signal is shorter than one frame).
    """
    x = np.asarray(signal, dtype=np.float64).ravel()
    n, hop = round(FRAME_S * sample_rate), round(HOP_S * sample_rate)
    lo, hi = int(np.ceil(sample_rate / F0_MAX)), int(np.floor(sample_rate / F0_MIN))
    if x.size < n or hi + 2 >= n:
        return np.empty(0)
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop]
    frames = frames - frames.mean(axis=1, keepdims=True)
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(frames, nfft)
    acf = np.fft.irfft(spec * np.conj(spec), nfft)[:, : hi + 2]
    energy = np.concatenate([np.zeros((frames.shape[0], 1)), np.cumsum(frames**2, axis=1)], axis=1)
    lags = np.arange(hi + 2)
    head = energy[:, n - lags]  # sum of x[k]^2 for k < n - lag
    tail = energy[:, n : n + 1] - energy[:, lags]  # sum of x[k]^2 for k >= lag
    r = acf / np.sqrt(np.maximum(head * tail, 1e-30))
    band = r[:, lo - 1 : hi + 2]
    mid = band[:, 1:-1]
    peak = (mid >= band[:, :-2]) & (mid >= band[:, 2:])
    best = np.where(peak, mid, -1.0).max(axis=1)
    rms = np.sqrt(energy[:, n] / n)
    loud = rms.max() if rms.size else 0.0
    silent = (rms < _RMS_FLOOR) | (rms < loud * 10 ** (-SILENCE_DB / 20))
    return np.where(silent, np.nan, best)


def voiced_fraction(signal: np.ndarray, sample_rate: int) -> float:
    """Fraction of 10 ms frames that are periodic (see the module docstring); 0 for a signal under one frame."""
    peaks = periodicity(signal, sample_rate)
    if peaks.size == 0:
        return 0.0
    return float(np.count_nonzero(np.nan_to_num(peaks, nan=-1.0) >= THRESHOLD) / peaks.size)


__all__ = ["F0_MAX", "F0_MIN", "MIN_FRACTION", "THRESHOLD", "periodicity", "voiced_fraction"]
