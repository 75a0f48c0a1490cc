"""The ``table`` evaluator: scores computed elsewhere (TRUST exports, human ratings), read from CSV or Parquet.

Rows are matched to segments by segment id (``key="segment_id"``, the default; an ``id`` column also works) or by
time span (``key="time"``: ``start``/``end`` columns, optionally ``recording``, matched within ``tolerance``
seconds). A blank cell means "no value" for that dimension: the dimension is left out of that segment's
estimate (never NaN), so comparisons treat it as missing.

The file is read and checked when the evaluator is built, so a missing file, a missing key column or a
misspelt value column is one :class:`ScoreFileError` before the run, never one failure per segment; a segment
without a row is a failure of that segment only.

Examples:
    >>> import pandas as pd, tempfile, pathlib
    >>> from affectproxy import Recording, Segment
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pathos.csv"
    >>> pd.DataFrame({"segment_id": ["s1", "s2"], "pathos": [-1, 1]}).to_csv(path, index=False)
    >>> ev = TableEvaluator(path, columns=["pathos"], name="trust")
    >>> rec = Recording("speech")
    >>> [e.values for e in ev.evaluate([Segment("s1", rec, 0, 1), Segment("s2", rec, 1, 2)])]
    [{'pathos': -1.0}, {'pathos': 1.0}]
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from affectproxy.errors import EvaluatorOutputError, ScoreFileError
from affectproxy.hashing import file_sha256
from affectproxy.model import Dimension, EmotionEstimate, Segment

if TYPE_CHECKING:
    import pandas as pd

_RESERVED = {"segment_id", "id", "start", "end", "recording", "text", "speaker", "language"}
OUTPUT_VERSION = 1


class TableEvaluator:
    """Scores imported from a CSV or Parquet file.

    Args:
        path: the CSV (``.csv``, ``.tsv``) or Parquet (``.parquet``) file.
        columns: value columns to use: a list (dimension = column name) or a mapping column -> dimension.
            Default: every numeric column that is not a key column.
        key: ``"segment_id"`` (match ``segment_id`` or ``id``) or ``"time"`` (match ``start``/``end``).
        ranges: dimension -> (low, high) for non-canonical scales (canonical names have defaults).
        tolerance: seconds of slack when matching by time.
        name: the instance label (default ``"table"``).

    Raises:
        ScoreFileError: the file is missing or unreadable, lacks the key column(s) (``segment_id``/``id``, or
            ``start`` and ``end``), lists an id twice, or lacks a column named in ``columns``.
        ValueError: ``key`` is neither ``"segment_id"`` nor ``"time"``.
    """

    sample_rate: int | None = None
    min_duration: float = 0.0
    batch_size: int = 256

    def __init__(
        self,
        path: str | Path,
        *,
        columns: Sequence[str] | Mapping[str, str] | None = None,
        key: str = "segment_id",
        ranges: Mapping[str, Sequence[float]] | None = None,
        tolerance: float = 0.01,
        name: str = "table",
    ) -> None:
        if key not in ("segment_id", "time"):
            raise ValueError(f"table evaluator {name!r}: key must be 'segment_id' or 'time', got {key!r}.")
        self.path = Path(path)
        self.name = name
        self.key = key
        self.tolerance = float(tolerance)
        self.ranges = {k: (float(v[0]), float(v[1])) for k, v in (ranges or {}).items()}
        self._columns: dict[str, str] | None = (
            None if columns is None else dict(columns) if isinstance(columns, Mapping) else {c: c for c in columns}
        )
        self._frame: pd.DataFrame | None = None
        self._read()  # fail here, before any run, for a missing file or a missing key or value column

    # -- the file ------------------------------------------------------------------------------------------
    def _read(self) -> pd.DataFrame:
        if self._frame is not None:
            return self._frame
        import pandas as pd

        if not self.path.exists():
            raise ScoreFileError(
                f"Table file {str(self.path)!r} for evaluator {self.name!r} does not exist. Fix the path option."
            )
        suffix = self.path.suffix.lower()
        try:
            if suffix == ".parquet":
                frame = pd.read_parquet(self.path)
            elif suffix in (".csv", ".tsv", ".txt"):
                frame = pd.read_csv(self.path, sep="\t" if suffix == ".tsv" else ",")
            else:
                raise ScoreFileError(
                    f"Table file {str(self.path)!r}: unknown format {suffix!r}. Use .csv, .tsv or .parquet."
                )
        except ScoreFileError:
            raise
        except Exception as exc:
            raise ScoreFileError(f"Cannot read table file {str(self.path)!r}: {exc}") from exc
        if self.key == "segment_id" and "segment_id" not in frame and "id" in frame:
            frame = frame.rename(columns={"id": "segment_id"})
        needed = ["segment_id"] if self.key == "segment_id" else ["start", "end"]
        absent = [c for c in needed if c not in frame]
        if absent:
            if self.key == "segment_id" and {"start", "end"} <= set(frame.columns):
                fix = "Rename its id column to segment_id (or id), or match rows by time with key = \"time\"."
            elif self.key == "time" and "segment_id" in frame:
                fix = "Add start and end columns (seconds), or match rows by id with key = \"segment_id\"."
            else:
                fix = ("Name the id column segment_id (or id), or give start and end columns and key = \"time\".")
            raise ScoreFileError(
                f"Table file {str(self.path)!r} (evaluator {self.name!r}, key = {self.key!r}) has no column "
                f"{', '.join(map(repr, absent))}; its columns are {', '.join(map(str, frame.columns))}. {fix}"
            )
        if self.key == "segment_id":
            frame["segment_id"] = frame["segment_id"].astype(str)
            dup = frame["segment_id"][frame["segment_id"].duplicated()].unique().tolist()
            if dup:
                raise ScoreFileError(f"Table file {str(self.path)!r} lists segment ids more than once: {dup[:10]}.")
        cols = self.column_map(frame)
        for col in cols:
            if col not in frame:
                close = difflib.get_close_matches(col, [str(c) for c in frame.columns], n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ScoreFileError(
                    f"Table file {str(self.path)!r} (evaluator {self.name!r}) has no column {col!r} named in "
                    f"columns;{hint} its columns are {', '.join(map(str, frame))}. Fix the columns option."
                )
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
        self._frame = frame
        return frame

    def column_map(self, frame: pd.DataFrame | None = None) -> dict[str, str]:
        """Column -> dimension mapping actually used."""
        if self._columns is not None:
            return dict(self._columns)
        frame = self._read() if frame is None else frame
        import pandas as pd

        return {
            str(c): str(c)
            for c in frame.columns
            if str(c) not in _RESERVED and pd.api.types.is_numeric_dtype(frame[c])
        }

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        dims = []
        for dim in dict.fromkeys(self.column_map().values()):
            low, high = self.ranges.get(dim, (None, None))
            dims.append(Dimension(dim, low, high, f"imported from {self.path.name}"))
        return tuple(dims)

    def fingerprint(self) -> dict[str, Any]:
        return {
            "evaluator": "table",
            "file": self.path.name,
            "sha256": file_sha256(self.path),
            "columns": self.column_map(),
            "key": self.key,
            "tolerance": self.tolerance if self.key == "time" else None,
            "ranges": self.ranges,
            "version": OUTPUT_VERSION,
        }

    # -- evaluation ----------------------------------------------------------------------------------------
    def _row(self, frame: pd.DataFrame, seg: Segment) -> pd.Series:
        if self.key == "segment_id":
            hit = frame[frame["segment_id"] == seg.id]
        else:
            near = ((frame["start"] - seg.start).abs() <= self.tolerance) & (
                (frame["end"] - seg.end).abs() <= self.tolerance
            )
            if "recording" in frame:
                near &= frame["recording"].astype(str) == seg.recording.id
            hit = frame[near]
        if len(hit) == 0:
            how = f"id {seg.id!r}" if self.key == "segment_id" else f"time {seg.start:.3f}-{seg.end:.3f} s"
            raise EvaluatorOutputError(
                f"Table file {str(self.path)!r} has no row for segment {seg.id!r} ({how}). "
                "Add the row, or check that the table and the segments use the same ids/times."
            )
        if len(hit) > 1:
            raise EvaluatorOutputError(
                f"Table file {str(self.path)!r} has {len(hit)} rows matching segment {seg.id!r}; "
                "lower the tolerance or remove duplicates."
            )
        return hit.iloc[0]

    def evaluate(self, segments: Sequence[Segment]) -> list[EmotionEstimate]:
        frame = self._read()
        cols = self.column_map(frame)
        out = []
        for seg in segments:
            row = self._row(frame, seg)
            values = {dim: float(row[col]) for col, dim in cols.items() if not math.isnan(float(row[col]))}
            out.append(EmotionEstimate(seg.id, self.name, values))
        return out


__all__ = ["TableEvaluator"]
