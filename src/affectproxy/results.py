"""Results of a run: estimates and failures per evaluator, as tidy or wide pandas tables."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from affectproxy.errors import StoreError
from affectproxy.model import EmotionEstimate, Segment
from affectproxy.store import EvaluatorRecord, Failure, Store

if TYPE_CHECKING:
    import pandas as pd

TIDY_COLUMNS = ["segment_id", "recording", "start", "end", "speaker", "evaluator", "dimension", "value"]


class Results:
    """What :func:`affectproxy.evaluate` returns (and :func:`open_results` reads back from a store).

    Attributes:
        segments: the segments, in order.
        evaluators: one :class:`~affectproxy.store.EvaluatorRecord` per evaluator (name, fingerprint hash,
            fingerprint dict, dimensions).
        estimates: every :class:`EmotionEstimate`, grouped by evaluator, in segment order.
        failures: every :class:`~affectproxy.store.Failure` (segment, evaluator, error type, message).
    """

    def __init__(
        self,
        segments: Sequence[Segment],
        evaluators: Sequence[EvaluatorRecord],
        estimates: Sequence[EmotionEstimate],
        failures: Sequence[Failure],
    ) -> None:
        self.segments = list(segments)
        self.evaluators = list(evaluators)
        self.estimates = list(estimates)
        self.failures = list(failures)
        #: one :class:`affectproxy.engine.RunSummary` per evaluator when made by ``evaluate`` (empty when read back)
        self.summary: list[Any] = []

    @classmethod
    def from_store(
        cls, store: Store | str | Path, *, segments: Sequence[Segment] | None = None,
        fingerprints: Sequence[str] | None = None,
    ) -> Results:
        """Read results back from a store: by default every stored segment and, per evaluator name, the
        most recently used fingerprint."""
        own = not isinstance(store, Store)
        if not isinstance(store, Store) and not Path(store).exists():
            raise StoreError(f"No result store at {str(store)!r}. Run a study first (affectproxy run ...).")
        db: Store = store if isinstance(store, Store) else Store(store)
        try:
            records = (
                db.evaluators() if fingerprints is None else [db.evaluator(fp) for fp in fingerprints]
            )
            segs = db.segments() if segments is None else list(segments)
            wanted = {s.id for s in segs}
            estimates, failures = [], []
            for rec in records:
                estimates += [e for e in db.estimates(rec.fingerprint) if e.segment_id in wanted]
                failures += [f for f in db.failures(rec.fingerprint) if f.segment_id in wanted]
        finally:
            if own:
                db.close()
        return cls(segs, records, estimates, failures)

    def __repr__(self) -> str:
        names = ", ".join(r.name for r in self.evaluators)
        return (f"<Results: {len(self.segments)} segments x {len(self.evaluators)} evaluators ({names}); "
                f"{len(self.estimates)} estimates, {len(self.failures)} failures>")

    def to_pandas(self) -> pd.DataFrame:
        """Tidy table, one row per segment x evaluator x dimension, in segment order then evaluator order.

        Returns:
            DataFrame with columns segment_id, recording, start, end, speaker, evaluator, dimension, value.
        """
        import pandas as pd

        seg = {s.id: s for s in self.segments}
        order = {s.id: i for i, s in enumerate(self.segments)}
        ev_order = {r.name: i for i, r in enumerate(self.evaluators)}
        rows = []
        for est in self.estimates:
            s = seg[est.segment_id]
            for dim, value in est.values.items():
                rows.append((order[s.id], ev_order.get(est.evaluator, 0), s.id, s.recording.id, s.start, s.end,
                             s.speaker or s.recording.speaker, est.evaluator, dim, value))
        frame = pd.DataFrame(rows, columns=["_s", "_e", *TIDY_COLUMNS])
        frame = frame.sort_values(["_s", "_e"], kind="stable").drop(columns=["_s", "_e"]).reset_index(drop=True)
        return frame.astype({"value": "float64"})

    def wide(self) -> pd.DataFrame:
        """One row per segment (index segment_id, in order), one column per ``evaluator.dimension``; NaN where
        an evaluator gave no value."""
        import pandas as pd

        tidy = self.to_pandas()
        tidy["column"] = tidy["evaluator"] + "." + tidy["dimension"]
        wide = tidy.pivot(index="segment_id", columns="column", values="value")
        cols = list(dict.fromkeys(tidy["column"]))
        wide = wide.reindex(index=[s.id for s in self.segments], columns=cols)
        wide.columns = pd.Index(cols, name=None)
        return wide

    def categories(self) -> pd.DataFrame:
        """Tidy class probabilities: segment_id, evaluator, label, probability."""
        import pandas as pd

        rows = [(e.segment_id, e.evaluator, label, p) for e in self.estimates for label, p in
                (e.categories or {}).items()]
        return pd.DataFrame(rows, columns=["segment_id", "evaluator", "label", "probability"])

    def labels(self) -> pd.DataFrame:
        """Tidy text outputs (an LLM's open-ended ``emotion`` word, a ``rhetoric`` label): segment_id, evaluator,
        field, label; in segment order, then evaluator order."""
        import pandas as pd

        order = {s.id: i for i, s in enumerate(self.segments)}
        ev_order = {r.name: i for i, r in enumerate(self.evaluators)}
        rows = sorted(
            ((order.get(e.segment_id, len(order)), ev_order.get(e.evaluator, 0), e.segment_id, e.evaluator, field,
              label) for e in self.estimates for field, label in e.labels.items()),
            key=lambda r: (r[0], r[1]),
        )
        return pd.DataFrame([r[2:] for r in rows], columns=["segment_id", "evaluator", "field", "label"])

    def arrays(self, evaluator: str, name: str) -> dict[str, np.ndarray]:
        """segment id -> the array ``name`` (an embedding or a track) from one evaluator."""
        return {e.segment_id: e.arrays[name] for e in self.estimates if e.evaluator == evaluator and name in e.arrays}

    def failures_frame(self) -> pd.DataFrame:
        """Failures as a table: segment_id, evaluator, error_type, message, attempts."""
        import pandas as pd

        return pd.DataFrame(
            [(f.segment_id, f.evaluator, f.error_type, f.message, f.attempts) for f in self.failures],
            columns=["segment_id", "evaluator", "error_type", "message", "attempts"],
        )


def open_results(store: str | Path) -> Results:
    """Read the results stored in a study's SQLite file (the latest fingerprint of each evaluator)."""
    return Results.from_store(store)


__all__ = ["TIDY_COLUMNS", "Results", "open_results"]
