"""The batch endpoints of the local Gemini server (:class:`affectproxy_gemini.testing.FakeGemini`).

- ``POST /{version}/models/{model}:batchGenerateContent``: a job of inlined requests. Every request is answered
  at once, through the same path as ``generateContent`` (the responder, scripted behaviours and usage rules all
  apply; a scripted RateLimit / ServerError / Refuse becomes that request's error in the job's output: a partial
  failure), and recorded in ``generate_calls``. With ``create_delay`` seconds the job is created at once but the
  answer waits (a test kills the client while its create call is in flight).
  A job whose request body passes ``batch_max_bytes`` (20 MiB, as the real API) is refused with 400
  ``INVALID_ARGUMENT`` "Request payload size exceeds the limit".
- ``GET /{version}/batches/{id}``: the job as a long-running operation: ``BATCH_STATE_PENDING`` for the first
  ``batch_pending_polls`` looks, ``BATCH_STATE_RUNNING`` for the next ``batch_running_polls``, then
  ``BATCH_STATE_SUCCEEDED`` with ``metadata.output.inlinedResponses``, or ``BATCH_STATE_EXPIRED`` (no output) for
  a job created after :meth:`BatchEndpoints.expire_next_batch`.
- ``GET /{version}/batches?pageSize=&pageToken=``: the jobs, newest first, as ``operations`` (the same JSON as a
  get, without counting as a look), ``pageSize`` (default 20) at a time, with ``nextPageToken`` while more remain.
- ``POST /{version}/batches/{id}:cancel``.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import attrs

from affectproxy.llm.testserver import job_phase


@attrs.define
class FakeBatchJob:
    """A batch job as the server holds it."""

    name: str
    model: str
    keys: list[str]
    outputs: list[dict[str, Any]] = attrs.field(repr=False)
    created: float
    expire: bool = False
    cancelled: bool = False
    polls: int = 0
    display_name: str = ""


class BatchEndpoints:
    """Mixed into FakeGemini: the batch job endpoints and their record (``batch_jobs``, in creation order)."""

    batch_pending_polls: int = 1
    batch_running_polls: int = 1
    batch_max_bytes: int = 20 * 1024 * 1024
    create_delay: float = 0.0

    def _batches(self) -> dict[str, FakeBatchJob]:
        jobs = self.__dict__.get("batch_jobs")
        if jobs is None:
            jobs = self.__dict__["batch_jobs"] = {}
            self.__dict__["_batch_ids"] = itertools.count(1)
            self.__dict__["_batch_expire"] = 0
        return jobs

    @property
    def batches(self) -> list[FakeBatchJob]:
        """Every batch job created, oldest first."""
        return list(self._batches().values())

    def expire_next_batch(self, n: int = 1) -> None:
        """The next ``n`` jobs created end in ``BATCH_STATE_EXPIRED`` without answers."""
        self._batches()
        self.__dict__["_batch_expire"] += n

    def _batch_create(self, call: Any, model: str, version: str) -> tuple[int, dict[str, str], Any]:
        from affectproxy_gemini.testing import Call, _error

        fake: Any = self
        jobs = self._batches()
        if len(call.body) > self.batch_max_bytes:
            return 400, {}, _error(400, f"Request payload size exceeds the limit: {self.batch_max_bytes} bytes.",
                                   "INVALID_ARGUMENT")
        body = call.json or {}
        items = (((body.get("batch") or {}).get("inputConfig") or {}).get("requests") or {}).get("requests") or []
        outputs, keys = [], []
        for item in items:
            inner = dict(item.get("request") or {})
            inner.pop("model", None)
            sub = Call("POST", f"/{version}/models/{model}:generateContent", {}, call.headers,
                       json.dumps(inner).encode(), call.time)
            status, _, payload = fake._generate(sub, model, version)
            meta = item.get("metadata") or {}
            keys.append(str(meta.get("key", "")))
            if status == 200:
                outputs.append({"response": payload, "metadata": meta})
            else:
                outputs.append({"error": {"code": status, "message": payload["error"]["message"]}, "metadata": meta})
        with fake._lock:
            name = f"batches/job{next(self.__dict__['_batch_ids'])}"
            expire = self.__dict__["_batch_expire"] > 0
            if expire:
                self.__dict__["_batch_expire"] -= 1
            job = FakeBatchJob(name, model, keys, outputs, time.time(), expire,
                               display_name=str((body.get("batch") or {}).get("displayName", "")))
            jobs[name] = job
        time.sleep(self.create_delay)
        return 200, {}, self._batch_json(job, "BATCH_STATE_PENDING")

    def _batch_json(self, job: FakeBatchJob, state: str) -> dict[str, Any]:
        from affectproxy_gemini.testing import _iso

        n = len(job.keys)
        done = state in ("BATCH_STATE_SUCCEEDED", "BATCH_STATE_EXPIRED", "BATCH_STATE_CANCELLED")
        ok = sum("response" in o for o in job.outputs) if state == "BATCH_STATE_SUCCEEDED" else 0
        meta: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",
            "name": job.name, "model": f"models/{job.model}", "displayName": job.display_name, "state": state,
            "createTime": _iso(job.created), "updateTime": _iso(time.time()),
            "batchStats": {"requestCount": str(n), "successfulRequestCount": str(ok),
                           "failedRequestCount": str(n - ok if state == "BATCH_STATE_SUCCEEDED" else 0),
                           "pendingRequestCount": str(0 if done else n)},
        }
        if state == "BATCH_STATE_SUCCEEDED":
            meta["output"] = {"inlinedResponses": {"inlinedResponses": job.outputs}}
        return {"name": job.name, "metadata": meta, "done": done}

    def _batch_get(self, name: str) -> tuple[int, dict[str, str], Any]:
        from affectproxy_gemini.testing import _error

        fake: Any = self
        with fake._lock:
            job = self._batches().get(name)
            if job is None:
                return 404, {}, _error(404, f"Batch {name} not found.", "NOT_FOUND")
            job.polls += 1
            state = self._batch_state(job)
        return 200, {}, self._batch_json(job, state)

    def _batch_state(self, job: FakeBatchJob) -> str:
        phase = job_phase(job.polls, self.batch_pending_polls, self.batch_running_polls, cancelled=job.cancelled,
                          expire=job.expire)
        return "BATCH_STATE_SUCCEEDED" if phase == "done" else f"BATCH_STATE_{phase.upper()}"

    def _batch_list(self, call: Any) -> tuple[int, dict[str, str], Any]:
        fake: Any = self
        size = int((call.query.get("pageSize") or ["20"])[0])
        start = int((call.query.get("pageToken") or ["0"])[0])
        with fake._lock:
            jobs = list(reversed(self._batches().values()))
        page = jobs[start:start + size]
        out: dict[str, Any] = {"operations": [self._batch_json(j, self._batch_state(j)) for j in page]}
        if start + size < len(jobs):
            out["nextPageToken"] = str(start + size)
        return 200, {}, out

    def _batch_cancel(self, name: str) -> tuple[int, dict[str, str], Any]:
        from affectproxy_gemini.testing import _error

        job = self._batches().get(name)
        if job is None:
            return 404, {}, _error(404, f"Batch {name} not found.", "NOT_FOUND")
        job.cancelled = True
        return 200, {}, {}

    def _batch_route(self, call: Any, parts: list[str], version: str) -> tuple[int, dict[str, str], Any] | None:
        """Serve a batch path, or None when ``parts`` is not one."""
        if len(parts) == 3 and parts[1] == "models" and call.method == "POST":
            model, _, method = parts[2].partition(":")
            if method == "batchGenerateContent":
                return self._batch_create(call, model, version)
        if len(parts) == 2 and parts[1] == "batches" and call.method == "GET":
            return self._batch_list(call)
        if len(parts) == 3 and parts[1] == "batches":
            job, _, method = parts[2].partition(":")
            if call.method == "GET" and not method:
                return self._batch_get(f"batches/{job}")
            if call.method == "POST" and method == "cancel":
                return self._batch_cancel(f"batches/{job}")
        return None


__all__ = ["BatchEndpoints", "FakeBatchJob"]
