"""openSMILE eGeMAPSv02 features: per-segment functionals under readable names, and windowed arousal cues.

Each named feature is one eGeMAPSv02 functional (Eyben et al. 2016), or a simple combination of two. Features
that are only defined over voiced frames (F0, jitter, shimmer, HNR, voiced spectral slopes) are left out of a
segment without voiced frames rather than reported as openSMILE's placeholder 0.

opensmile is imported inside functions so that importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np

from affectproxy.batching import sliding_windows, window_times

_F0 = "F0semitoneFrom27.5Hz_sma3nz"
_LOUD = "loudness_sma3"


@attrs.frozen
class Feature:
    """One named prosodic feature.

    Attributes:
        name: the dimension name.
        low: lowest possible value.
        high: highest possible value.
        meaning: unit and definition, in words.
        voiced: True when only defined over voiced frames (omitted for unvoiced segments).
        compute: functionals (eGeMAPS name -> value) -> value.
    """

    name: str
    low: float
    high: float
    meaning: str
    voiced: bool
    compute: Callable[[Mapping[str, float]], float]


def _col(name: str) -> Callable[[Mapping[str, float]], float]:
    return lambda f: f[name]


INF = math.inf

#: The raw features reported as dimensions, in order.
FEATURES: tuple[Feature, ...] = (
    Feature("f0_mean_st", 0.0, INF, "mean F0 of voiced frames, semitones above 27.5 Hz (eGeMAPS)", True,
            _col(f"{_F0}_amean")),
    Feature("f0_sd_st", 0.0, INF, "standard deviation of F0 over voiced frames, semitones", True,
            lambda f: f[f"{_F0}_stddevNorm"] * f[f"{_F0}_amean"]),
    Feature("f0_range_st", 0.0, INF, "F0 range: 80th minus 20th percentile over voiced frames, semitones", True,
            _col(f"{_F0}_pctlrange0-2")),
    Feature("loudness_mean", 0.0, INF, "mean auditory loudness (openSMILE loudness_sma3, sone-like units)", False,
            _col(f"{_LOUD}_amean")),
    Feature("loudness_sd", 0.0, INF, "standard deviation of loudness over all frames, same units", False,
            lambda f: f[f"{_LOUD}_stddevNorm"] * f[f"{_LOUD}_amean"]),
    Feature("loudness_peaks_per_s", 0.0, INF, "loudness peaks per second: a syllable-rate (speech rate) proxy", False,
            _col("loudnessPeaksPerSec")),
    Feature("voiced_segments_per_s", 0.0, INF, "continuous voiced stretches per second: a second rate proxy", False,
            _col("VoicedSegmentsPerSec")),
    Feature("jitter", 0.0, INF, "local jitter: mean period-to-period F0 deviation relative to the period", True,
            _col("jitterLocal_sma3nz_amean")),
    Feature("shimmer_db", 0.0, INF, "local shimmer: mean peak-amplitude difference of consecutive periods, dB",
            True, _col("shimmerLocaldB_sma3nz_amean")),
    Feature("hnr_db", -INF, INF, "harmonics-to-noise ratio (autocorrelation based), dB", True,
            _col("HNRdBACF_sma3nz_amean")),
    Feature("spectral_slope_0_500", -INF, INF, "spectral slope 0-500 Hz of voiced frames (eGeMAPS slopeV0-500)",
            True, _col("slopeV0-500_sma3nz_amean")),
    Feature("spectral_slope_500_1500", -INF, INF, "spectral slope 500-1500 Hz of voiced frames "
            "(eGeMAPS slopeV500-1500)", True, _col("slopeV500-1500_sma3nz_amean")),
)

#: The cues the arousal index combines, each with its weight (equal weights; see docs/evaluators/prosody.md).
AROUSAL_CUES: dict[str, float] = {"loudness_mean": 1 / 3, "f0_mean_st": 1 / 3, "f0_range_st": 1 / 3}


def _smile(level: str) -> Any:
    import opensmile

    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=getattr(opensmile.FeatureLevel, level),
    )


class Extractor:
    """Runs openSMILE (created on first use and reused) over float32 mono signals."""

    def __init__(self) -> None:
        self._functionals: Any = None
        self._llds: Any = None

    def functionals(self, signal: np.ndarray, sample_rate: int) -> dict[str, float]:
        """The 88 eGeMAPSv02 functionals of one signal (NaN where openSMILE gives none)."""
        import warnings

        if self._functionals is None:
            self._functionals = _smile("Functionals")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Segment too short")
            frame = self._functionals.process_signal(signal, sample_rate)
        return {str(k): float(v) for k, v in frame.iloc[0].items()}

    def llds(self, signal: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frame centre times (s), loudness and F0 (semitones; 0 = unvoiced) at openSMILE's 10 ms hop."""
        if self._llds is None:
            self._llds = _smile("LowLevelDescriptors")
        frame = self._llds.process_signal(signal, sample_rate)
        starts = frame.index.get_level_values("start").total_seconds().to_numpy()
        ends = frame.index.get_level_values("end").total_seconds().to_numpy()
        return ((starts + ends) / 2, frame["Loudness_sma3"].to_numpy(np.float64),
                frame[_F0].to_numpy(np.float64))


def named_features(functionals: Mapping[str, float]) -> dict[str, float]:
    """Map eGeMAPS functionals to :data:`FEATURES`; voiced-only ones are left out when nothing was voiced.

    Any feature that comes out non-finite (openSMILE's NaN for too-short signals) is left out too.
    """
    voiced = functionals.get(f"{_F0}_amean", 0.0) > 0.0
    out = {}
    for feat in FEATURES:
        if feat.voiced and not voiced:
            continue
        value = float(feat.compute(functionals))
        if math.isfinite(value):
            out[feat.name] = value
    return out


def window_cues(times: np.ndarray, loudness: np.ndarray, f0: np.ndarray, window: float, hop: float,
                duration: float) -> tuple[np.ndarray, list[dict[str, float]]]:
    """The arousal cues over sliding windows, from openSMILE's low-level descriptors.

    Computed as the functionals are: loudness mean over all frames; F0 mean and 20th-80th percentile range over
    voiced (non-zero) frames, left out of a window with fewer than 3 voiced frames.

    Args:
        times: frame centre times in seconds (from the segment's start).
        loudness: loudness per frame.
        f0: F0 in semitones per frame, 0 where unvoiced.
        window: window length in seconds.
        hop: hop in seconds.
        duration: the segment's length in seconds.

    Windows follow the core's one rule (:func:`affectproxy.batching.sliding_windows`, in milliseconds): a
    segment no longer than a window is one window; a tail of at least half a window gets a shorter window of its
    own.

    Returns:
        window centre times (seconds from the segment's start) and one cue dict per window.
    """
    spans = sliding_windows(round(duration * 1000), round(window * 1000), round(hop * 1000))
    cues = []
    for a_ms, b_ms in spans:
        inside = (times >= a_ms / 1000) & (times < b_ms / 1000)
        values: dict[str, float] = {}
        if inside.any():
            values["loudness_mean"] = float(np.mean(loudness[inside]))
        voiced = f0[inside & (f0 > 0)]
        if voiced.size >= 3:
            values["f0_mean_st"] = float(np.mean(voiced))
            p20, p80 = np.percentile(voiced, [20, 80])
            values["f0_range_st"] = float(p80 - p20)
        cues.append(values)
    return window_times(spans, 1000), cues


__all__ = ["AROUSAL_CUES", "FEATURES", "Extractor", "Feature", "named_features", "window_cues"]
