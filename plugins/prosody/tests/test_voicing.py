"""The autocorrelation voicing cue, against a plain loop over lags and on signals of known voicing."""

from __future__ import annotations

import numpy as np
import scipy.signal

from affectproxy_prosody.voicing import MIN_FRACTION, THRESHOLD, periodicity, voiced_fraction

SR = 16000


def _harmonic(seconds: float, f0: float, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return amp * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))


def _loop_peak(frame: np.ndarray) -> float:
    """The same quantity by definition (50 ms frames, F0 55-500 Hz): a loop with np.dot, no FFT, no cumsum."""
    x = frame - frame.mean()
    n = x.size
    r = {}
    for lag in range(SR // 500 - 1, SR // 55 + 2):
        a, b = x[: n - lag], x[lag:]
        r[lag] = float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))
    peaks = [r[t] for t in range(SR // 500, SR // 55 + 1) if r[t] >= r[t - 1] and r[t] >= r[t + 1]]
    return max(peaks, default=-1.0)


def test_periodicity_matches_a_loop_over_lags():
    rng = np.random.default_rng(0)
    x = _harmonic(0.5, 130) + 0.2 * rng.standard_normal(SR // 2)
    got = periodicity(x, SR)
    for k in (0, 7, 20):
        frame = x[k * 160 : k * 160 + 800]
        assert abs(got[k] - _loop_peak(frame)) < 1e-9


def test_voiced_fraction_on_known_signals():
    rng = np.random.default_rng(1)
    for f0 in (60, 140, 300, 450):
        assert voiced_fraction(_harmonic(1.0, f0), SR) == 1.0
    assert voiced_fraction(_harmonic(1.0, 140, amp=1e-3), SR) == 1.0  # level does not matter
    assert voiced_fraction(rng.standard_normal(SR), SR) == 0.0
    for cutoff in (60, 100, 150, 300):  # rumble: its autocorrelation is high at short lags but has no pitch peak
        b, a = scipy.signal.butter(4, cutoff / (SR / 2))
        assert voiced_fraction(scipy.signal.lfilter(b, a, rng.standard_normal(2 * SR)), SR) < MIN_FRACTION
    assert voiced_fraction(np.zeros(SR), SR) == 0.0 and voiced_fraction(np.zeros(100), SR) == 0.0
    # 22% voiced: 4.4 s of voice in 20 s of faint noise
    x = 0.01 * rng.standard_normal(20 * SR)
    x[: int(4.4 * SR)] += _harmonic(4.4, 140)
    assert abs(voiced_fraction(x, SR) - 0.22) < 0.01
    assert 0 < THRESHOLD < 1
