"""The ``prosody`` evaluator: eGeMAPSv02 features per segment and a within-speaker arousal index.

The arousal index (see docs/evaluators/prosody.md for the reasoning)::

    z_c       = (x_c - mean_g(x_c)) / sd_g(x_c)        for c in loudness_mean, f0_mean_st, f0_range_st
    arousal_z = (z_loudness + z_f0_mean + z_f0_range) / 3
    arousal   = tanh(arousal_z / scale)                 # scale = 1 by default; in (-1, 1)

where ``g`` is the segment's group (its speaker, else its recording), and the mean and population standard
deviation run over every segment of that group in the run that has the cue. A cue a segment lacks (no voiced
frames: no F0) is left out of its mean; a cue with fewer than two values, or no spread, in the group gives z = 0.

Examples:
    >>> ev = ProsodyEvaluator()
    >>> ev.name, ev.sample_rate, ev.group_by
    ('prosody', 16000, 'speaker')
    >>> [d.name for d in ev.dimensions][:3]
    ['arousal', 'arousal_z', 'f0_mean_st']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

import attrs
import numpy as np

import affectproxy as ap
from affectproxy.audio import segment_samples
from affectproxy_prosody.features import AROUSAL_CUES, FEATURES, Extractor, named_features, window_cues
from affectproxy_prosody.voicing import MIN_FRACTION, voiced_fraction

#: Bump when the numbers this evaluator produces change for the same input.
OUTPUT_VERSION = 3
SAMPLE_RATE = 16000
#: The warning label of a segment that looks voiced but got no F0 from openSMILE.
F0_MISSING = ("no F0 from openSMILE although {fraction:.0%} of frames are voiced (autocorrelation); F0 range, "
              "F0 level, jitter, shimmer, HNR and voiced slopes are missing and arousal rests on loudness alone")


@attrs.frozen
class GroupStats:
    """Mean and population standard deviation of each arousal cue over one group's segments.

    Attributes:
        mean: cue -> mean over the segments that have it.
        sd: cue -> population standard deviation (ddof 0) over the same segments.
        n: cue -> how many segments of the group have it.
    """

    mean: dict[str, float]
    sd: dict[str, float]
    n: dict[str, int]

    @classmethod
    def of(cls, rows: Sequence[Mapping[str, float]]) -> GroupStats:
        """Statistics of the cues over ``rows`` (one feature dict per segment)."""
        mean, sd, n = {}, {}, {}
        for cue in AROUSAL_CUES:
            xs = np.array([r[cue] for r in rows if cue in r], dtype=np.float64)
            n[cue] = int(xs.size)
            mean[cue] = float(xs.mean()) if xs.size else 0.0
            sd[cue] = float(xs.std()) if xs.size else 0.0
        return cls(mean, sd, n)

    def z(self, cue: str, value: float) -> float:
        """The within-group z-score of one cue's value; 0 when the group gives no spread to compare with."""
        if self.n[cue] < 2 or not self.sd[cue] > 1e-12 * max(1.0, abs(self.mean[cue])):
            return 0.0
        return (value - self.mean[cue]) / self.sd[cue]

    def index(self, cues: Mapping[str, float]) -> float | None:
        """The weighted mean of the available cues' z-scores (weights renormalised); None if no cue is there."""
        present = [c for c in AROUSAL_CUES if c in cues]
        if not present:
            return None
        total = sum(AROUSAL_CUES[c] for c in present)
        return sum(AROUSAL_CUES[c] * self.z(c, cues[c]) for c in present) / total


class ProsodyEvaluator:
    """openSMILE eGeMAPSv02 prosodic features per segment, with an arousal index standardised within speaker.

    Dimensions: ``arousal`` (canonical, -1..1: ``tanh(arousal_z / scale)``), ``arousal_z`` (the unsquashed
    index, z units), and the raw features of :data:`affectproxy_prosody.features.FEATURES` (``f0_mean_st``,
    ``f0_sd_st``, ``f0_range_st``, ``loudness_mean``, ``loudness_sd``, ``loudness_peaks_per_s``,
    ``voiced_segments_per_s``, ``jitter``, ``shimmer_db``, ``hnr_db``, ``spectral_slope_0_500``,
    ``spectral_slope_500_1500``). It does not report valence: prosody tracks arousal, not valence.

    F0-based features, jitter, shimmer, HNR and the voiced spectral slopes are left out of a segment where
    openSMILE finds no voiced frame; its arousal then rests on loudness alone. When an independent autocorrelation
    cue (:mod:`affectproxy_prosody.voicing`) finds at least 15% voiced frames in such a segment, the estimate is
    flagged: ``raw["flags"] == ["f0_missing"]`` and a ``labels["warning"]`` sentence, which the report lists.
    Every estimate carries ``raw["voiced_fraction"]``.

    ``evaluate`` is ``combine(segments, measure(segments))``: :meth:`measure` is the per-segment step (audio in,
    JSON-serialisable measures out), :meth:`combine` the per-group step (standardisation within groups).

    The index depends on the other segments of the group, so the evaluator declares ``group_by`` and the core
    hands it whole groups. A group of one segment (a corpus of one-utterance files without speaker labels) gives
    ``arousal_z = 0``: give a speaker per row so that a speaker's files form one group.

    Args:
        group_by: ``"speaker"`` (the segment's speaker, else its recording; the default) or ``"recording"``.
        scale: divisor before squashing: ``arousal = tanh(arousal_z / scale)``; changes no ranks.
        window: if set, also compute an arousal track over windows of this many seconds within each segment,
            standardised with the segment group's statistics: arrays ``arousal_track`` and
            ``arousal_track_times`` (window centres, seconds from the start of the recording).
        hop: the track's hop in seconds (default: half the window).
        name: the instance label.

    Raises:
        ValueError: an option out of range.
    """

    sample_rate = SAMPLE_RATE
    min_duration = 0.25
    batch_size = 64

    def __init__(
        self,
        *,
        group_by: str = "speaker",
        scale: float = 1.0,
        window: float | None = None,
        hop: float | None = None,
        name: str = "prosody",
    ) -> None:
        if group_by not in ("speaker", "recording"):
            raise ValueError(f"prosody: group_by must be 'speaker' or 'recording', got {group_by!r}.")
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise ValueError(f"prosody: scale must be a positive number, got {scale!r}.")
        if window is not None and not (isinstance(window, (int, float)) and window >= 0.1):
            raise ValueError(f"prosody: window must be at least 0.1 seconds, got {window!r}.")
        if hop is not None and window is None:
            raise ValueError("prosody: hop needs a window; set window= (seconds) too.")
        if hop is not None and not (isinstance(hop, (int, float)) and hop > 0):
            raise ValueError(f"prosody: hop must be a positive number of seconds, got {hop!r}.")
        self.name = name
        self.group_by = group_by
        self.scale = float(scale)
        self.window = None if window is None else float(window)
        self.hop = None if window is None else float(hop if hop is not None else window / 2)
        self._extractor = Extractor()
        self.dimensions: tuple[ap.Dimension, ...] = (
            ap.Dimension("arousal", meaning=f"tanh(arousal_z / {self.scale:g}): prosodic arousal relative to the "
                                            "speaker's other segments (loudness, F0 level, F0 range)"),
            ap.Dimension("arousal_z", meaning="mean within-speaker z-score of loudness_mean, f0_mean_st and "
                                              "f0_range_st (0 = the speaker's average)"),
            *(ap.Dimension(f.name, f.low, f.high, f.meaning) for f in FEATURES),
        )

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the output: openSMILE's version, the feature set, the options."""
        try:
            smile_version = metadata.version("opensmile")
        except metadata.PackageNotFoundError:
            smile_version = None
        return {
            "evaluator": "prosody",
            "opensmile": smile_version,
            "feature_set": "eGeMAPSv02",
            "group_by": self.group_by,
            "cues": AROUSAL_CUES,
            "scale": self.scale,
            "window": self.window,
            "hop": self.hop,
            "version": OUTPUT_VERSION,
        }

    def _key(self, seg: ap.Segment) -> str:
        return seg.speaker_or_recording if self.group_by == "speaker" else seg.recording.id

    def evaluate(self, segments: Sequence[ap.Segment]) -> list[ap.EmotionEstimate]:
        """Features and arousal for each segment, standardised within each group present in ``segments``.

        The same as ``combine(segments, measure(segments))``. The core hands whole groups; called directly with a
        mix, segments are grouped here the same way.

        Raises:
            AudioError: a segment without usable audio (a ValueError).
        """
        return self.combine(segments, self.measure(segments))

    def measure(self, segments: Sequence[ap.Segment]) -> list[dict[str, Any]]:
        """The per-segment step: openSMILE functionals, the voicing cue and (with a window) the window cues.

        Each segment's measure depends on its audio alone, so measures can be computed in any batches and stored;
        :meth:`combine` turns a whole group's measures into estimates.

        Returns:
            One JSON-serialisable dict per segment: ``egemaps`` (the 88 functionals, None where openSMILE gives
            NaN), ``voiced_fraction`` (see :mod:`affectproxy_prosody.voicing`) and, with a window, ``windows``
            (``centres``: seconds from the segment's start; ``cues``: one cue dict per window).

        Raises:
            AudioError: a segment without usable audio (a ValueError).
        """
        out = []
        for seg in segments:
            samples = segment_samples(seg, evaluator=self.name, sample_rate=self.sample_rate)
            funcs = self._extractor.functionals(samples, self.sample_rate)
            m: dict[str, Any] = {
                "egemaps": {k: (v if math.isfinite(v) else None) for k, v in funcs.items()},
                "voiced_fraction": round(voiced_fraction(samples, self.sample_rate), 6),
            }
            if self.window is not None:
                assert self.hop is not None
                times, loudness, f0 = self._extractor.llds(samples, self.sample_rate)
                centres, cues = window_cues(times, loudness, f0, self.window, self.hop, seg.duration)
                m["windows"] = {"centres": [float(c) for c in centres], "cues": cues}
            out.append(m)
        return out

    def combine(self, segments: Sequence[ap.Segment], measures: Sequence[Mapping[str, Any]]
                ) -> list[ap.EmotionEstimate]:
        """The per-group step: standardise the cues within each group of ``segments`` and build the estimates.

        Args:
            segments: the segments, in the order of ``measures``.
            measures: :meth:`measure`'s output for these segments (possibly read back from JSON).

        Returns:
            One estimate per segment, in order.
        """
        if len(measures) != len(segments):
            raise ValueError(f"prosody: combine got {len(measures)} measures for {len(segments)} segments; "
                             "pass measure(segments) for the same segments.")
        functionals = [{k: (math.nan if v is None else float(v)) for k, v in m["egemaps"].items()} for m in measures]
        features = [named_features(f) for f in functionals]
        keys = [self._key(s) for s in segments]
        stats = {k: GroupStats.of([feat for key, feat in zip(keys, features, strict=True) if key == k])
                 for k in dict.fromkeys(keys)}
        out = []
        for seg, key, m, feats in zip(segments, keys, measures, features, strict=True):
            values = dict(feats)
            z = stats[key].index(feats)
            if z is not None:
                values["arousal_z"] = z
                values["arousal"] = math.tanh(z / self.scale)
            arrays = self._track(seg, m["windows"], stats[key]) if "windows" in m else {}
            fraction = float(m.get("voiced_fraction", 0.0))
            missing = "f0_mean_st" not in feats and fraction >= MIN_FRACTION
            raw = {"group": key, "group_size": keys.count(key), "voiced_fraction": fraction,
                   "flags": ["f0_missing"] if missing else [], "egemaps": dict(m["egemaps"])}
            labels = {"warning": F0_MISSING.format(fraction=fraction)} if missing else {}
            out.append(ap.EmotionEstimate(seg.id, self.name, values, raw=raw, arrays=arrays, labels=labels))
        return out

    def _track(self, seg: ap.Segment, windows: Mapping[str, Any], stats: GroupStats) -> dict[str, np.ndarray]:
        track = []
        for c in windows["cues"]:
            z = stats.index(c)
            track.append(math.tanh(z / self.scale) if z is not None else math.nan)
        centres = np.asarray(windows["centres"], dtype=np.float64)
        return {"arousal_track": np.asarray(track, dtype=np.float32),
                "arousal_track_times": (seg.start + centres).astype(np.float64)}


__all__ = ["F0_MISSING", "OUTPUT_VERSION", "GroupStats", "ProsodyEvaluator"]
