"""The core's nouns: Recording, Segment, Dimension, EmotionEstimate.

All are frozen attrs classes validated on construction; messages name the field, the expectation and the value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from affectproxy.errors import InvalidSegmentError

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")


def _frozen_dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


@attrs.frozen
class Recording:
    """Where audio (or video) lives and what we know of it.

    Args:
        id: a short identifier, unique within a study.
        path: a file path or URI of the audio/video, or None when there is no audio.
        speaker: the speaker, when the whole recording has one.
        date: an ISO date string, if known.
        metadata: anything else (JSON-serialisable).
    """

    id: str = attrs.field()
    path: str | None = attrs.field(default=None, converter=attrs.converters.optional(str))
    speaker: str | None = None
    date: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict, eq=False)

    @id.validator
    def _check_id(self, attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or not value:
            raise InvalidSegmentError(f"Recording id must be a non-empty string, got {value!r}.")


def _finite_time(instance: Segment, attribute: attrs.Attribute[float], value: float) -> None:
    if not math.isfinite(value):
        raise InvalidSegmentError(
            f"Segment {instance.id!r}: {attribute.name} must be a finite number of seconds, got {value!r}."
        )
    if value < 0:
        raise InvalidSegmentError(
            f"Segment {instance.id!r}: {attribute.name} must be >= 0 seconds, got {value!r}. "
            "Fix the segment table's times."
        )


@attrs.frozen
class Segment:
    """One stretch of a recording.

    Args:
        id: unique segment id within a study (segments keep their given order).
        recording: the :class:`Recording` it belongs to.
        start: start time in seconds (finite, >= 0).
        end: end time in seconds (finite, > start).
        text: the transcript; may be empty.
        speaker: the speaker of this segment (falls back to the recording's speaker).
        language: a BCP-47 language tag, if known.
        metadata: anything else (JSON-serialisable).
        audio: float32 mono samples at the evaluator's sample rate; filled in by the core just before
            ``evaluate``, None otherwise. Not part of equality.

    Raises:
        InvalidSegmentError: non-finite, negative or reversed times, or an empty id.

    Examples:
        >>> seg = Segment("s1", Recording("speech", "speech.wav"), 0.0, 2.5, text="Guten Tag")
        >>> seg.duration
        2.5
    """

    id: str = attrs.field(converter=str)
    recording: Recording
    start: float = attrs.field(converter=float, validator=_finite_time)
    end: float = attrs.field(converter=float, validator=_finite_time)
    text: str = attrs.field(default="", converter=lambda v: "" if v is None else str(v))
    speaker: str | None = None
    language: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict, eq=False)
    audio: np.ndarray | None = attrs.field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.id:
            raise InvalidSegmentError("Segment id must be a non-empty string.")
        if not self.end > self.start:
            raise InvalidSegmentError(
                f"Segment {self.id!r} of recording {self.recording.id!r}: end ({self.end}) must be after "
                f"start ({self.start}). Fix the reversed or empty time span in the segment table."
            )

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.end - self.start

    @property
    def speaker_or_recording(self) -> str:
        """The speaker if known (segment, then recording), else the recording id: the default grouping key."""
        return self.speaker or self.recording.speaker or f"recording:{self.recording.id}"


@attrs.frozen
class Dimension:
    """A named scale an evaluator reports.

    Canonical names (``arousal``, ``valence``, ``dominance``, ``pathos``) carry default ranges and meanings, so
    ``Dimension("valence")`` is valid; any other name needs no more than a name (range defaults to unbounded).

    Args:
        name: the column name; the same name from two evaluators lands in one column for comparison.
        low: lowest possible value (``-inf`` when unbounded).
        high: highest possible value (``inf`` when unbounded).
        meaning: one line on what the number means.
        detail: (keyword only) a by-product series (e.g. each TRUST advocate's own score, an ensemble's spread):
            kept in the results, left out of default comparison tables unless named (``dimensions=``) or the
            target.

    Examples:
        >>> Dimension("valence").low, Dimension("valence").high
        (-1.0, 1.0)
    """

    name: str
    low: float = attrs.field(default=None, converter=attrs.converters.optional(float))
    high: float = attrs.field(default=None, converter=attrs.converters.optional(float))
    meaning: str = ""
    detail: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"Dimension name must be letters, digits, '_' or '-', got {self.name!r}.")
        canon = CANONICAL_DIMENSIONS.get(self.name)
        if self.low is None:
            object.__setattr__(self, "low", canon.low if canon else -math.inf)
        if self.high is None:
            object.__setattr__(self, "high", canon.high if canon else math.inf)
        if not self.meaning and canon:
            object.__setattr__(self, "meaning", canon.meaning)
        if not self.low <= self.high:  # type: ignore[operator]
            raise ValueError(f"Dimension {self.name!r}: low ({self.low}) must be <= high ({self.high}).")

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies within the declared range."""
        return bool(self.low <= value <= self.high)  # type: ignore[operator]


@attrs.frozen
class _Canon:
    low: float
    high: float
    meaning: str


CANONICAL_DIMENSIONS: dict[str, _Canon] = {
    "arousal": _Canon(-1.0, 1.0, "activation: calm/sleepy (low) to excited/agitated (high)"),
    "valence": _Canon(-1.0, 1.0, "pleasure: negative/unpleasant (low) to positive/pleasant (high)"),
    "dominance": _Canon(-1.0, 1.0, "control: submissive (low) to dominant (high)"),
    "pathos": _Canon(-2.0, 2.0, "rhetorical emotional appeal, TRUST scale: negative (-2) to positive (+2)"),
}


def _values(value: Mapping[str, Any]) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise TypeError(f"EmotionEstimate.values must be a mapping of dimension -> float, got {type(value)}.")
    return {str(k): float(v) for k, v in value.items()}


def _optional_floats(value: Mapping[str, Any] | None) -> dict[str, float] | None:
    return None if value is None else {str(k): float(v) for k, v in value.items()}


def _labels(value: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


def _arrays(value: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    return {str(k): np.asarray(v) for k, v in (value or {}).items()}


@attrs.frozen
class EmotionEstimate:
    """One evaluator's reading of one segment.

    Args:
        segment_id: the segment's id.
        evaluator: the evaluator's instance name.
        values: dimension name -> value; every name must be one of the evaluator's declared dimensions.
        categories: label -> probability, for categorical models.
        confidence: the evaluator's own confidence in [0, 1], if it gives one.
        rationale: free text (e.g. an LLM's explanation).
        raw: the backend's raw output, JSON-serialisable.
        arrays: name -> numpy array (embeddings; time-resolved tracks with a matching ``<name>_times`` array;
            track times are seconds from the start of the recording, the origin of ``Segment.start``: see
            :func:`affectproxy.batching.window_times`).
        fingerprint: the hash of the evaluator's fingerprint; stamped by the core, leave None.
        labels: field -> string (keyword only): text outputs such as an LLM's open-ended ``emotion`` word or a
            ``rhetoric`` label; returned by :meth:`Results.labels`.
    """

    segment_id: str = attrs.field(converter=str)
    evaluator: str
    values: dict[str, float] = attrs.field(converter=_values)
    categories: dict[str, float] | None = attrs.field(default=None, converter=_optional_floats)
    confidence: float | None = attrs.field(default=None, converter=attrs.converters.optional(float))
    rationale: str | None = None
    raw: Any = attrs.field(default=None, eq=False)
    arrays: dict[str, np.ndarray] = attrs.field(factory=dict, converter=_arrays, eq=False, repr=False)
    fingerprint: str | None = None
    labels: dict[str, str] = attrs.field(factory=dict, kw_only=True, converter=_labels)


__all__ = ["CANONICAL_DIMENSIONS", "Dimension", "EmotionEstimate", "Recording", "Segment"]
