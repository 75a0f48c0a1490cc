"""The SQLite result store: every estimate is committed as it arrives, so runs resume after a crash.

Schema changes go through numbered migrations (``PRAGMA user_version``). The store holds segments, evaluator
fingerprints, estimates, failures, and a response cache for costly calls (LLMs), keyed by a hash of model,
prompt and input. It never holds secrets: fingerprints are checked for key-like fields before they are written.
"""

from __future__ import annotations

import io
import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from affectproxy.errors import StoreError
from affectproxy.hashing import canonical_json, check_no_secrets, fingerprint_hash
from affectproxy.model import Dimension, EmotionEstimate, Recording, Segment

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE recordings (
        id TEXT PRIMARY KEY, path TEXT, speaker TEXT, date TEXT, metadata TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE segments (
        id TEXT PRIMARY KEY, position INTEGER NOT NULL, recording TEXT NOT NULL REFERENCES recordings(id),
        start REAL NOT NULL, "end" REAL NOT NULL, text TEXT NOT NULL, speaker TEXT, language TEXT,
        metadata TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE evaluators (
        fingerprint TEXT PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, dimensions TEXT NOT NULL,
        last_used REAL NOT NULL
    );
    CREATE TABLE estimates (
        segment_id TEXT NOT NULL, fingerprint TEXT NOT NULL REFERENCES evaluators(fingerprint),
        evaluator TEXT NOT NULL, "values" TEXT NOT NULL, categories TEXT, confidence REAL, rationale TEXT,
        raw TEXT, arrays BLOB, created REAL NOT NULL, PRIMARY KEY (segment_id, fingerprint)
    );
    CREATE TABLE failures (
        segment_id TEXT NOT NULL, fingerprint TEXT NOT NULL, evaluator TEXT NOT NULL, error_type TEXT NOT NULL,
        message TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 1, created REAL NOT NULL,
        PRIMARY KEY (segment_id, fingerprint)
    );
    CREATE TABLE cache (key TEXT PRIMARY KEY, value BLOB NOT NULL, created REAL NOT NULL);
    """,
    # 2: text outputs of estimates; per-segment partial results of group-wise evaluators; the LLM call log; the
    # evaluators' fingerprint dict column named for what it holds; study-level facts (meta: the study's name).
    """
    ALTER TABLE estimates ADD COLUMN labels TEXT;
    ALTER TABLE evaluators RENAME COLUMN spec TO fingerprint_json;
    CREATE TABLE partials (
        segment_id TEXT NOT NULL, fingerprint TEXT NOT NULL, value TEXT NOT NULL, created REAL NOT NULL,
        PRIMARY KEY (segment_id, fingerprint)
    );
    CREATE TABLE calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, evaluator TEXT NOT NULL,
        segment_ids TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, model_version TEXT,
        cache_key TEXT, cached INTEGER NOT NULL DEFAULT 0, batch INTEGER NOT NULL DEFAULT 0, tag TEXT,
        status TEXT NOT NULL, error TEXT, input_tokens TEXT NOT NULL DEFAULT '{}', output_tokens INTEGER,
        thinking_tokens INTEGER, cached_tokens INTEGER, cost REAL, latency REAL
    );
    CREATE INDEX calls_evaluator ON calls (evaluator);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 3: provider batch jobs (batch mode), recorded at submission so a rerun picks an unfinished job up again.
    """
    CREATE TABLE batch_jobs (
        id TEXT PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL, evaluator TEXT NOT NULL,
        created REAL NOT NULL, state TEXT NOT NULL, request_keys TEXT NOT NULL
    );
    """,
)

@attrs.frozen
class Failure:
    """A segment an evaluator could not score, and why.

    Attributes:
        segment_id: the segment.
        evaluator: the evaluator's instance name.
        fingerprint: the evaluator's fingerprint hash.
        error_type: the exception class name.
        message: the error message (names the file, segment and fix).
        attempts: how many runs have tried it.
    """

    segment_id: str
    evaluator: str
    fingerprint: str
    error_type: str
    message: str
    attempts: int = 1


@attrs.frozen
class EvaluatorRecord:
    """An evaluator as the store knows it: instance name, fingerprint hash and dict, dimensions."""

    name: str
    fingerprint: str
    fingerprint_dict: dict[str, Any] = attrs.field(eq=False)
    dimensions: tuple[Dimension, ...] = attrs.field(eq=False)


def _pack_arrays(arrays: Mapping[str, np.ndarray]) -> bytes | None:
    if not arrays:
        return None
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
    return buf.getvalue()


def _unpack_arrays(blob: bytes | None) -> dict[str, np.ndarray]:
    if not blob:
        return {}
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


class _LockedConnection:
    """A sqlite3 connection whose statements and transactions run under one re-entrant lock.

    ``with conn:`` holds the lock for the whole transaction, so a transaction from one thread never
    interleaves with statements from another. Query results are fetched under the lock (``execute`` returns a
    list-backed cursor substitute).
    """

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Rows:
        with self._lock:
            return _Rows(self._db.execute(sql, params).fetchall())

    def executescript(self, script: str) -> None:
        with self._lock:
            self._db.executescript(script)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> _LockedConnection:
        self._lock.acquire()
        self._db.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._db.__exit__(*exc)
        finally:
            self._lock.release()


class _Rows(list[Any]):
    """Fetched rows with the two cursor methods the store uses."""

    def fetchone(self) -> Any:
        return self[0] if self else None

    def fetchall(self) -> list[Any]:
        return list(self)


def _dims_to_json(dims: Sequence[Dimension]) -> str:
    def num(x: float) -> float | str:
        return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")

    return json.dumps([[d.name, num(d.low), num(d.high), d.meaning, *([True] if d.detail else [])] for d in dims])


def _dims_from_json(text: str) -> tuple[Dimension, ...]:
    return tuple(Dimension(n, float(lo), float(hi), m, detail=bool(rest and rest[0]))
                 for n, lo, hi, m, *rest in json.loads(text))


class Store:
    """A SQLite file (or ``None`` for an in-memory store) holding a study's segments and results.

    Safe to use from several threads: one connection, and every statement runs under the store's lock, so
    writes from worker threads (a :class:`~affectproxy.cache.ResponseCache` put, a call-log row) are committed
    at once, one at a time.

    Args:
        path: the database file; created with its folder if missing.

    Raises:
        StoreError: the file cannot be created, opened or migrated.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = threading.RLock()
            self._db = _LockedConnection(
                sqlite3.connect(":memory:" if self.path is None else str(self.path), timeout=30,
                                check_same_thread=False),
                self._lock,
            )
            self._db.execute("PRAGMA foreign_keys = ON")
            if self.path is not None:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(
                f"Cannot open the result store {str(self.path)!r}: {exc}. Check the path is a writable file "
                "(not a folder) and is an affectproxy store."
            ) from exc

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > len(MIGRATIONS):
            raise StoreError(
                f"Result store {str(self.path)!r} has schema version {version}, newer than this affectproxy "
                f"({len(MIGRATIONS)}). Upgrade affectproxy."
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._db:
                self._db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- segments ------------------------------------------------------------------------------------------
    def put_segments(self, segments: Sequence[Segment], *, replace: bool = False) -> int:
        """Add segments (keeping their order after those already stored).

        A segment id already stored with other times, text or recording takes the new ones when it has no
        estimate under any evaluator (its recorded failures and partial results are dropped: fix, then retry).
        One that has estimates is refused unless ``replace`` is True; then its old estimates are deleted.

        Returns:
            How many old estimates were deleted.

        Raises:
            StoreError: a changed segment has estimates and ``replace`` is False.
        """
        rows = {
            r[0]: r[1:]
            for r in self._db.execute('SELECT s.id, s.recording, s.start, s."end", s.text, r.path FROM segments s '
                                      "JOIN recordings r ON r.id = s.recording")
        }
        counts = dict(self._db.execute("SELECT segment_id, COUNT(*) FROM estimates GROUP BY segment_id").fetchall())
        changed = []
        for seg in segments:
            old = rows.get(seg.id)
            if old is not None and ((old[0], old[3]) != (seg.recording.id, seg.text)
                                    or abs(old[1] - seg.start) > 1e-9 or abs(old[2] - seg.end) > 1e-9):
                changed.append((seg, old))
        blocked = [(seg, old) for seg, old in changed if counts.get(seg.id)]
        if blocked and not replace:
            seg, old = blocked[0]
            n = sum(counts[s.id] for s, _ in blocked)
            raise StoreError(
                f"Segment {seg.id!r} is already in {str(self.path)!r} as {old[0]} {old[1]:.3f}-{old[2]:.3f} s with "
                f"other text or times (now {seg.recording.id} {seg.start:.3f}-{seg.end:.3f} s) and has "
                f"{counts[seg.id]} stored estimate(s)"
                + (f"; {len(blocked)} changed segments have {n} in all" if len(blocked) > 1 else "")
                + ". To evaluate the changed segments again, rerun with replace_changed=True (CLI: --replace-changed),"
                " which deletes their old estimates; or give changed segments new ids."
            )
        (next_pos,) = self._db.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM segments").fetchone()
        deleted = 0
        with self._db:
            for seg in segments:
                rec = seg.recording
                self._db.execute(
                    "INSERT INTO recordings (id, path, speaker, date, metadata) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET path = excluded.path",
                    (rec.id, rec.path, rec.speaker, rec.date, canonical_json(rec.metadata)),
                )
            for seg, _old in changed:
                deleted += counts.get(seg.id, 0)
                for table in ("estimates", "failures", "partials"):
                    self._db.execute(f"DELETE FROM {table} WHERE segment_id = ?", (seg.id,))
                self._db.execute(
                    'UPDATE segments SET recording = ?, start = ?, "end" = ?, text = ?, speaker = ?, language = ?, '
                    "metadata = ? WHERE id = ?",
                    (seg.recording.id, seg.start, seg.end, seg.text, seg.speaker, seg.language,
                     canonical_json(seg.metadata), seg.id),
                )
            for seg in segments:
                if seg.id in rows:
                    continue
                self._db.execute(
                    'INSERT INTO segments (id, position, recording, start, "end", text, speaker, language, metadata) '
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (seg.id, next_pos, seg.recording.id, seg.start, seg.end, seg.text, seg.speaker, seg.language,
                     canonical_json(seg.metadata)),
                )
                next_pos += 1
        return deleted

    def segments(self, ids: Iterable[str] | None = None) -> list[Segment]:
        """Stored segments in their order (all, or those with the given ids)."""
        recs = {
            r[0]: Recording(r[0], r[1], r[2], r[3], json.loads(r[4]))
            for r in self._db.execute("SELECT id, path, speaker, date, metadata FROM recordings")
        }
        out = [
            Segment(r[0], recs[r[1]], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]))
            for r in self._db.execute(
                'SELECT id, recording, start, "end", text, speaker, language, metadata FROM segments ORDER BY position'
            )
        ]
        if ids is not None:
            wanted = set(ids)
            out = [s for s in out if s.id in wanted]
        return out

    # -- evaluators ----------------------------------------------------------------------------------------
    def put_evaluator(self, name: str, fingerprint: Mapping[str, Any], dimensions: Sequence[Dimension]) -> str:
        """Record an evaluator's fingerprint dict; returns its hash."""
        digest = fingerprint_hash(fingerprint)
        with self._db:
            self._db.execute(
                "INSERT INTO evaluators (fingerprint, name, fingerprint_json, dimensions, last_used) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(fingerprint) DO UPDATE SET name = excluded.name, "
                "last_used = excluded.last_used",
                (digest, name, canonical_json(fingerprint), _dims_to_json(dimensions), time.time()),
            )
        return digest

    def evaluators(self) -> list[EvaluatorRecord]:
        """For each evaluator name, the most recently used fingerprint, in order of first use."""
        rows = self._db.execute(
            "SELECT name, fingerprint, fingerprint_json, dimensions FROM evaluators e WHERE last_used = "
            "(SELECT MAX(last_used) FROM evaluators WHERE name = e.name) ORDER BY rowid"
        ).fetchall()
        return [EvaluatorRecord(n, f, json.loads(s), _dims_from_json(d)) for n, f, s, d in rows]

    def evaluator(self, fingerprint: str) -> EvaluatorRecord:
        row = self._db.execute(
            "SELECT name, fingerprint, fingerprint_json, dimensions FROM evaluators WHERE fingerprint = ?",
            (fingerprint,),
        ).fetchone()
        if row is None:
            raise StoreError(f"No evaluator with fingerprint {fingerprint!r} in {str(self.path)!r}.")
        return EvaluatorRecord(row[0], row[1], json.loads(row[2]), _dims_from_json(row[3]))

    # -- estimates and failures ----------------------------------------------------------------------------
    def done(self, fingerprint: str) -> set[str]:
        """Segment ids that already have an estimate from this fingerprint."""
        return {r[0] for r in self._db.execute("SELECT segment_id FROM estimates WHERE fingerprint = ?",
                                                (fingerprint,))}

    def commit(self, fingerprint: str, estimates: Sequence[EmotionEstimate], failures: Sequence[Failure]) -> None:
        """Write estimates and failures of one batch in one transaction; a success clears an old failure."""
        now = time.time()
        with self._db:
            for est in estimates:
                check_no_secrets(est.raw, "raw output")
                self._db.execute(
                    'INSERT OR REPLACE INTO estimates (segment_id, fingerprint, evaluator, "values", categories, '
                    "confidence, rationale, raw, arrays, created, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (est.segment_id, fingerprint, est.evaluator, json.dumps(est.values),
                     None if est.categories is None else json.dumps(est.categories), est.confidence,
                     est.rationale, None if est.raw is None else canonical_json(est.raw),
                     _pack_arrays(est.arrays), now, json.dumps(est.labels) if est.labels else None),
                )
                self._db.execute("DELETE FROM failures WHERE segment_id = ? AND fingerprint = ?",
                                 (est.segment_id, fingerprint))
            for f in failures:
                self._db.execute(
                    "INSERT INTO failures (segment_id, fingerprint, evaluator, error_type, message, attempts, created) "
                    "VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT(segment_id, fingerprint) DO UPDATE SET "
                    "error_type = excluded.error_type, message = excluded.message, attempts = attempts + 1, "
                    "created = excluded.created",
                    (f.segment_id, fingerprint, f.evaluator, f.error_type, f.message, now),
                )

    def estimates(self, fingerprint: str) -> list[EmotionEstimate]:
        """Every stored estimate of one fingerprint, in segment order."""
        rows = self._db.execute(
            'SELECT e.segment_id, e.evaluator, e."values", e.categories, e.confidence, e.rationale, e.raw, e.arrays, '
            "e.labels FROM estimates e LEFT JOIN segments s ON s.id = e.segment_id WHERE e.fingerprint = ? "
            "ORDER BY s.position",
            (fingerprint,),
        ).fetchall()
        return [
            EmotionEstimate(sid, name, json.loads(v), None if c is None else json.loads(c), conf, rat,
                            None if raw is None else json.loads(raw), _unpack_arrays(arr), fingerprint,
                            labels=json.loads(lab) if lab else None)
            for sid, name, v, c, conf, rat, raw, arr, lab in rows
        ]

    def failures(self, fingerprint: str) -> list[Failure]:
        """Recorded failures of one fingerprint, in segment order."""
        rows = self._db.execute(
            "SELECT f.segment_id, f.evaluator, f.fingerprint, f.error_type, f.message, f.attempts FROM failures f "
            "LEFT JOIN segments s ON s.id = f.segment_id WHERE f.fingerprint = ? ORDER BY s.position",
            (fingerprint,),
        ).fetchall()
        return [Failure(*r) for r in rows]

    # -- study-level facts ----------------------------------------------------------------------------------
    def set_meta(self, key: str, value: str) -> None:
        """Record a study-level fact (e.g. ``study_name``)."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def meta(self, key: str, default: str | None = None) -> str | None:
        """A study-level fact, or ``default``."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    # -- partial results of group-wise evaluators ------------------------------------------------------------
    def put_partials(self, fingerprint: str, partials: Mapping[str, Any]) -> None:
        """Store per-segment partial results (segment id -> JSON-serialisable value) in one transaction."""
        now = time.time()
        with self._db:
            for sid, value in partials.items():
                self._db.execute(
                    "INSERT OR REPLACE INTO partials (segment_id, fingerprint, value, created) VALUES (?, ?, ?, ?)",
                    (sid, fingerprint, canonical_json(value), now),
                )

    def partials(self, fingerprint: str, ids: Iterable[str] | None = None) -> dict[str, Any]:
        """Stored partial results of one fingerprint (all, or those of the given segment ids)."""
        rows = self._db.execute("SELECT segment_id, value FROM partials WHERE fingerprint = ?", (fingerprint,))
        wanted = None if ids is None else set(ids)
        return {sid: json.loads(v) for sid, v in rows if wanted is None or sid in wanted}

    # -- the call log of paid requests ------------------------------------------------------------------------
    def log_call(self, *, answer: tuple[str, bytes] | None = None, **row: Any) -> None:
        """Append one row to the call log (committed at once). Keys are the ``calls`` table's columns;
        ``segment_ids`` (a list) and ``input_tokens`` (modality -> count) are stored as JSON.

        ``answer`` (cache key, response): a paid answer cached in the same transaction, so that no kill can leave
        a call logged as paid whose answer the cache does not hold (a rerun would pay for it again)."""
        check_no_secrets(row, "call log")
        row = dict(row)
        row.setdefault("created", time.time())
        row["segment_ids"] = json.dumps(list(row.get("segment_ids", [])))
        row["input_tokens"] = json.dumps(dict(row.get("input_tokens") or {}))
        cols = ", ".join(row)
        with self._db:
            if answer is not None:
                self._cache_insert(*answer)
            self._db.execute(f"INSERT INTO calls ({cols}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))

    def calls(self) -> list[dict[str, Any]]:
        """The call log, oldest first, one dict per call (``segment_ids`` and ``input_tokens`` decoded)."""
        names = [r[1] for r in self._db.execute("PRAGMA table_info(calls)")]
        out = []
        for r in self._db.execute("SELECT * FROM calls ORDER BY id"):
            d = dict(zip(names, r, strict=True))
            d["segment_ids"] = json.loads(d["segment_ids"])
            d["input_tokens"] = json.loads(d["input_tokens"])
            out.append(d)
        return out

    # -- response cache (for costly calls) ---------------------------------------------------------------------
    def cache_get(self, key: str) -> bytes | None:
        """A cached response, or None."""
        row = self._db.execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def cache_items(self) -> dict[str, bytes]:
        """Every cached response by key (what a cluster run hands its workers' shared cache)."""
        return {k: bytes(v) for k, v in self._db.execute("SELECT key, value FROM cache")}

    def cache_put(self, key: str, value: bytes) -> None:
        """Cache a response (committed at once: a paid call is never lost)."""
        with self._db:
            self._cache_insert(key, value)

    def _cache_insert(self, key: str, value: bytes) -> None:
        """The cache write, inside the caller's transaction."""
        self._db.execute("INSERT OR REPLACE INTO cache (key, value, created) VALUES (?, ?, ?)",
                         (key, value, time.time()))

    # -- provider batch jobs (affectproxy.llm.batchmode) ------------------------------------------------------
    def put_batch_job(self, job_id: str, *, provider: str, model: str, evaluator: str, keys: Sequence[str],
                      state: str = "submitted") -> None:
        """Record a batch job and the cache keys of its requests (committed at once); state ``submitting`` records
        an intent under a local token before the job is submitted (:meth:`settle_batch_job` gives it the id)."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO batch_jobs (id, provider, model, evaluator, created, state, request_keys) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job_id, provider, model, evaluator, time.time(), state, json.dumps(list(keys))),
            )

    def settle_batch_job(self, token: str, job_id: str) -> bool:
        """Give the intent recorded as ``token`` (state ``submitting``) the provider's job id and state ``submitted``,
        in one transaction; False when no such intent is recorded."""
        with self._db:
            found = self._db.execute("SELECT 1 FROM batch_jobs WHERE id = ? AND state = 'submitting'",
                                     (token,)).fetchone()
            self._db.execute("UPDATE batch_jobs SET id = ?, state = 'submitted' WHERE id = ? AND state = 'submitting'",
                             (job_id, token))
        return found is not None

    def drop_batch_job(self, job_id: str) -> None:
        """Forget a recorded batch job (an intent whose job never reached the provider)."""
        with self._db:
            self._db.execute("DELETE FROM batch_jobs WHERE id = ?", (job_id,))

    def set_batch_state(self, job_id: str, state: str) -> None:
        """Record a batch job's new state (``submitting``, ``submitted``, ``done``, ``expired``, ``failed``,
        ``cancelled``)."""
        with self._db:
            self._db.execute("UPDATE batch_jobs SET state = ? WHERE id = ?", (state, job_id))

    def batch_jobs(self, *, evaluator: str | None = None, open_only: bool = False) -> list[dict[str, Any]]:
        """Recorded batch jobs, oldest first (``request_keys`` decoded); ``open_only``: those still submitted."""
        rows = self._db.execute(
            "SELECT id, provider, model, evaluator, created, state, request_keys FROM batch_jobs ORDER BY created"
        ).fetchall()
        out = []
        for r in rows:
            job = dict(zip(("id", "provider", "model", "evaluator", "created", "state", "request_keys"), r,
                           strict=True))
            job["request_keys"] = json.loads(job["request_keys"])
            if (evaluator is None or job["evaluator"] == evaluator) and (not open_only or job["state"] == "submitted"):
                out.append(job)
        return out


__all__ = ["EvaluatorRecord", "Failure", "Store"]
