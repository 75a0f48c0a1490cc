"""Turn Results (or their tidy table) into a segments x series matrix and pick series.

:func:`matrix` keeps the order of first appearance (for figures and descriptives). :func:`ordered_matrix` is what
inference uses: segments grouped by recording (recordings sorted by id) and in time order inside each one, so
autocorrelations only pair segments of the same recording and nothing depends on the order of the table's rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from affectproxy.errors import AffectProxyError

REQUIRED_COLUMNS = ("segment_id", "evaluator", "dimension", "value")

Series = tuple[str, str]


class CorrelationInputError(AffectProxyError, ValueError):
    """The input to a comparison is malformed: missing columns, duplicate rows, unknown series or options."""


class LowEffectiveNWarning(UserWarning):
    """A correlation rests on fewer than 8 effective observations; its interval and p are rough."""


def tidy_frame(results: Any) -> pd.DataFrame:
    """The tidy table of ``results``: a :class:`~affectproxy.Results` (anything with ``.to_pandas()``) or a
    DataFrame with at least segment_id, evaluator, dimension, value.

    Raises:
        CorrelationInputError: if a required column is missing or a (segment, evaluator, dimension) repeats.
    """
    frame = results.to_pandas() if hasattr(results, "to_pandas") else results
    if not isinstance(frame, pd.DataFrame):
        raise CorrelationInputError(
            f"Expected Results or a tidy DataFrame, got {type(results).__name__}; pass ap.evaluate(...)'s result "
            "or a DataFrame with columns segment_id, evaluator, dimension, value."
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise CorrelationInputError(
            f"The tidy table lacks column(s) {', '.join(missing)}; it needs {', '.join(REQUIRED_COLUMNS)} "
            f"(got {', '.join(map(str, frame.columns))})."
        )
    frame = frame.copy()
    frame["evaluator"] = frame["evaluator"].astype(str)
    frame["dimension"] = frame["dimension"].astype(str)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    dup = frame.duplicated(["segment_id", "evaluator", "dimension"])
    if dup.any():
        row = frame.loc[dup].iloc[0]
        raise CorrelationInputError(
            f"Segment {row['segment_id']!r} has more than one value for {row['evaluator']}/{row['dimension']}; "
            "keep one value per segment, evaluator and dimension (e.g. average repeats first)."
        )
    return frame


def segment_order(frame: pd.DataFrame) -> list[Any]:
    """Segment ids in order of first appearance."""
    return list(dict.fromkeys(frame["segment_id"]))


def series_list(frame: pd.DataFrame) -> list[Series]:
    """(evaluator, dimension) pairs in order of first appearance."""
    return list(dict.fromkeys(zip(frame["evaluator"], frame["dimension"], strict=True)))


def matrix(frame: pd.DataFrame, series: Sequence[Series] | None = None) -> tuple[np.ndarray, list[Series], list[Any]]:
    """Values as a ``(segments, series)`` float matrix in segment order; NaN where a value is missing.

    Returns:
        ``(values, series, segment_ids)``.
    """
    segs = segment_order(frame)
    cols = list(series) if series is not None else series_list(frame)
    pos = {s: i for i, s in enumerate(segs)}
    col = {s: j for j, s in enumerate(cols)}
    values = np.full((len(segs), len(cols)), np.nan)
    keys = list(zip(frame["evaluator"], frame["dimension"], strict=True))
    rows = np.array([pos[s] for s in frame["segment_id"]], dtype=int)
    cidx = np.array([col.get(k, -1) for k in keys], dtype=int)
    keep = cidx >= 0
    values[rows[keep], cidx[keep]] = frame["value"].to_numpy(dtype=float)[keep]
    return values, cols, segs


def recording_layout(frame: pd.DataFrame) -> tuple[list[Any], np.ndarray, list[str]]:
    """Segments in analysis order: grouped by recording, in time order inside each.

    Recordings are sorted by id (as text); inside a recording segments are sorted by ``start`` (ties by segment
    id as text). Without a ``recording`` column all segments form one recording; without a ``start`` column the
    order inside a recording is the order of first appearance. Each segment's recording and start come from its
    first row.

    Returns:
        ``(segment_ids, codes, recordings)``: ids in analysis order, the recording index (0, 1, ...) of each,
        non-decreasing, and the recording ids in code order.
    """
    first = frame.drop_duplicates("segment_id")
    ids = first["segment_id"].tolist()
    pos = np.arange(len(ids))
    rec: np.ndarray = np.full(len(ids), "", dtype=object)
    if "recording" in first.columns:
        rec = np.array(["" if pd.isna(v) else str(v) for v in first["recording"]], dtype=object)
    if "start" in first.columns:
        start = pd.to_numeric(first["start"], errors="coerce").to_numpy(dtype=float)
        start = np.where(np.isnan(start), np.inf, start)
        tie = np.array([str(i) for i in ids], dtype=object)
        order = sorted(pos.tolist(), key=lambda k: (rec[k], start[k], tie[k]))
    else:
        order = sorted(pos.tolist(), key=lambda k: (rec[k], k))
    recordings = list(dict.fromkeys(rec[k] for k in order))
    code_of = {r: c for c, r in enumerate(recordings)}
    codes = np.array([code_of[rec[k]] for k in order], dtype=int)
    return [ids[k] for k in order], codes, [str(r) for r in recordings]


def ordered_matrix(frame: pd.DataFrame, series: Sequence[Series] | None = None
                   ) -> tuple[np.ndarray, list[Series], list[Any], np.ndarray]:
    """Like :func:`matrix`, with rows in analysis order (see :func:`recording_layout`).

    Returns:
        ``(values, series, segment_ids, codes)``; ``codes`` is each row's recording index.
    """
    segs, codes, _ = recording_layout(frame)
    values, cols, first = matrix(frame, series)
    pos = {s: i for i, s in enumerate(first)}
    return values[[pos[s] for s in segs]], cols, segs, codes


def parse_series(value: str | Sequence[str], available: Iterable[Series], what: str = "target") -> Series:
    """Accept ``("trust", "pathos")`` or ``"trust/pathos"`` and check it exists.

    Raises:
        CorrelationInputError: naming the available series if it does not exist.
    """
    avail = list(available)
    if isinstance(value, str):
        ev, sep, dim = value.partition("/")
        if not sep:
            raise CorrelationInputError(f"{what} {value!r} must be EVALUATOR/DIMENSION, e.g. 'trust/pathos'.")
        key: Series = (ev, dim)
    else:
        parts = tuple(value)
        if len(parts) != 2:
            raise CorrelationInputError(f"{what} {value!r} must be (evaluator, dimension), e.g. ('trust', 'pathos').")
        key = (str(parts[0]), str(parts[1]))
    if key not in avail:
        known = ", ".join(f"{e}/{d}" for e, d in avail)
        raise CorrelationInputError(f"No series {key[0]}/{key[1]} for {what}. Available: {known}.")
    return key


def label(series: Series) -> str:
    """``evaluator/dimension``."""
    return f"{series[0]}/{series[1]}"


__all__ = [
    "REQUIRED_COLUMNS",
    "CorrelationInputError",
    "LowEffectiveNWarning",
    "label",
    "matrix",
    "ordered_matrix",
    "parse_series",
    "recording_layout",
    "segment_order",
    "series_list",
    "tidy_frame",
]
