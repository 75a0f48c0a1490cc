"""The Parquet dataset of a cluster run: one dataset per evaluator, partitioned by recording.

Layout: ``<output>/<evaluator>/recording=<id>/<fingerprint[:12]>-<task>.parquet``. A worker writes one file per
finished task and recording (to a temporary name, then renamed: a killed worker leaves no half file), holding the
task's estimates, failures and per-segment measures. The driver fills the SQLite store from these files, so the
store and the dataset hold the same values; at the start of a run it first imports what an earlier, interrupted
run wrote but did not save.

Values are stored as JSON text (Python's float repr, read back bit for bit), arrays as ``.npz`` bytes.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from affectproxy.hashing import canonical_json
from affectproxy.model import EmotionEstimate, Segment
from affectproxy.store import Failure

COLUMNS = ("kind", "segment_id", "recording", "evaluator", "fingerprint", "values", "categories", "confidence",
           "rationale", "raw", "arrays", "labels", "measure", "error_type", "message", "created", "task")


def _pack(arrays: Mapping[str, Any]) -> bytes | None:
    if not arrays:
        return None
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
    return buf.getvalue()


def _unpack(blob: bytes | None) -> dict[str, np.ndarray]:
    if not blob:
        return {}
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def evaluator_dir(output: Path, evaluator: str) -> Path:
    """The dataset folder of one evaluator."""
    return output / quote(evaluator, safe="")


def rows_of(fp: str, by_id: Mapping[str, Segment], estimates: Iterable[EmotionEstimate],
            failures: Iterable[Failure], measures: Mapping[str, Any], task: str) -> list[dict[str, Any]]:
    """Rows for one task's results (all columns of :data:`COLUMNS`)."""
    now = time.time()
    base = dict.fromkeys(COLUMNS)
    rows = []
    for est in estimates:
        rows.append(dict(base, kind="estimate", segment_id=est.segment_id, recording=by_id[est.segment_id].recording.id,
                         evaluator=est.evaluator, fingerprint=fp, values=json.dumps(est.values),
                         categories=_dumps(est.categories), confidence=est.confidence, rationale=est.rationale,
                         raw=None if est.raw is None else canonical_json(est.raw), arrays=_pack(est.arrays),
                         labels=_dumps(est.labels or None), created=now, task=task))
    for f in failures:
        rows.append(dict(base, kind="failure", segment_id=f.segment_id, recording=by_id[f.segment_id].recording.id,
                         evaluator=f.evaluator, fingerprint=fp, error_type=f.error_type, message=f.message,
                         created=now, task=task))
    for sid, value in measures.items():
        rows.append(dict(base, kind="measure", segment_id=sid, recording=by_id[sid].recording.id, fingerprint=fp,
                         measure=canonical_json(value), created=now, task=task))
    return rows


def _schema() -> Any:
    import pyarrow as pa

    text = pa.string()
    return pa.schema([("kind", text), ("segment_id", text), ("recording", text), ("evaluator", text),
                      ("fingerprint", text), ("values", text), ("categories", text), ("confidence", pa.float64()),
                      ("rationale", text), ("raw", text), ("arrays", pa.binary()), ("labels", text),
                      ("measure", text), ("error_type", text), ("message", text), ("created", pa.float64()),
                      ("task", text)])


def write_rows(folder: Path, fp: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Write rows as one Parquet file per recording (atomically: temporary name, then rename); returns the paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    by_rec: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_rec.setdefault(str(row["recording"]), []).append(row)
    paths = []
    for rec, part in by_rec.items():
        target = folder / f"recording={quote(rec, safe='')}"
        target.mkdir(parents=True, exist_ok=True)
        name = target / f"{fp[:12]}-{uuid.uuid4().hex}.parquet"
        tmp = name.with_suffix(".tmp")
        table = pa.Table.from_pylist([dict(r) for r in part], schema=_schema())
        pq.write_table(table, tmp)
        os.replace(tmp, name)
        paths.append(str(name))
    return paths


def read_rows(paths: Iterable[str | Path], fp: str | None = None) -> list[dict[str, Any]]:
    """Rows of the given files (only those of fingerprint ``fp`` when given), oldest first."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for path in paths:
        rows += pq.read_table(path).to_pylist()
    if fp is not None:
        rows = [r for r in rows if r["fingerprint"] == fp]
    rows.sort(key=lambda r: r["created"])
    return rows


def files_of(folder: Path, fp: str) -> list[Path]:
    """Every finished file of one evaluator's fingerprint (temporary files of killed workers are ignored)."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"recording=*/{fp[:12]}-*.parquet"))


def decode(rows: Iterable[Mapping[str, Any]]) -> tuple[list[EmotionEstimate], list[Failure], dict[str, Any]]:
    """Estimates, failures and measures from rows (a later row for the same segment and kind wins)."""
    estimates: dict[str, EmotionEstimate] = {}
    failures: dict[str, Failure] = {}
    measures: dict[str, Any] = {}
    for r in rows:
        sid = r["segment_id"]
        if r["kind"] == "estimate":
            estimates[sid] = EmotionEstimate(
                sid, r["evaluator"], json.loads(r["values"]),
                None if r["categories"] is None else json.loads(r["categories"]), r["confidence"], r["rationale"],
                None if r["raw"] is None else json.loads(r["raw"]), _unpack(r["arrays"]), r["fingerprint"],
                labels=None if r["labels"] is None else json.loads(r["labels"]),
            )
            failures.pop(sid, None)
        elif r["kind"] == "failure":
            failures[sid] = Failure(sid, r["evaluator"], r["fingerprint"], r["error_type"], r["message"])
        else:
            measures[sid] = json.loads(r["measure"])
    return list(estimates.values()), list(failures.values()), measures


__all__ = ["decode", "evaluator_dir", "files_of", "read_rows", "rows_of", "write_rows"]
