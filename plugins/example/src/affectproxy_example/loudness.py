"""The ``loudness`` evaluator: RMS level in dBFS, and a squashed arousal proxy from it.

Examples:
    >>> import numpy as np, affectproxy as ap
    >>> ev = LoudnessEvaluator()
    >>> seg = ap.Segment("s1", ap.Recording("r"), 0, 1, audio=np.full(16000, 0.1, np.float32))
    >>> round(ev.evaluate([seg])[0].values["level_db"], 1)
    -20.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import affectproxy as ap


class LoudnessEvaluator:
    """RMS level (dBFS) per segment, and ``arousal = tanh((level_db - reference_db) / scale_db)``.

    Args:
        reference_db: the level that maps to arousal 0.
        scale_db: how many dB make one unit before squashing.
        name: the instance label.
    """

    sample_rate = 16000
    min_duration = 0.05
    batch_size = 32

    def __init__(self, *, reference_db: float = -26.0, scale_db: float = 10.0, name: str = "loudness") -> None:
        self.name = name
        self.reference_db = float(reference_db)
        self.scale_db = float(scale_db)
        self.dimensions = (
            ap.Dimension("arousal"),
            ap.Dimension("level_db", -120.0, 0.0, "RMS level in dB relative to full scale"),
        )

    def fingerprint(self) -> dict[str, Any]:
        return {"evaluator": "loudness", "reference_db": self.reference_db, "scale_db": self.scale_db, "version": 1}

    def evaluate(self, segments: Sequence[ap.Segment]) -> list[ap.EmotionEstimate]:
        out = []
        for seg in segments:
            assert seg.audio is not None, "the core fills Segment.audio"
            rms = float(np.sqrt(np.mean(np.square(seg.audio, dtype=np.float64))))
            level = max(-120.0, 20 * math.log10(max(rms, 1e-6)))
            arousal = math.tanh((level - self.reference_db) / self.scale_db)
            out.append(ap.EmotionEstimate(seg.id, self.name, {"arousal": arousal, "level_db": level}))
        return out
