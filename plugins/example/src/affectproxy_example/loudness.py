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
from affectproxy.audio import segment_samples


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
        # check options here, so a bad one stops the run before it starts (never once per segment)
        if not (isinstance(scale_db, (int, float)) and scale_db > 0):
            raise ValueError(f"loudness: scale_db must be a positive number of dB, got {scale_db!r}.")
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
            # the core fills seg.audio (float32 mono at sample_rate); the guard refuses what is missing or
            # malformed when someone calls evaluate() directly, with a message naming the segment and the fix
            samples = segment_samples(seg, evaluator=self.name, sample_rate=self.sample_rate)
            rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
            level = max(-120.0, 20 * math.log10(max(rms, 1e-6)))
            arousal = math.tanh((level - self.reference_db) / self.scale_db)
            out.append(ap.EmotionEstimate(segment_id=seg.id, evaluator=self.name,
                                          values={"arousal": arousal, "level_db": level}))
        return out
