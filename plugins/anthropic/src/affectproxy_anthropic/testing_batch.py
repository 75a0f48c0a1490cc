"""A local Anthropic server with Message Batches, for the real ``anthropic`` SDK (nothing mocked).

:class:`AnthropicBatchServer` is an :class:`~affectproxy_anthropic.testing.AnthropicTestServer` (``/v1/messages``,
with its script and answer function) that also serves ``POST /v1/messages/batches`` (with ``create_delay`` seconds
the batch is created at once but the answer waits), ``GET /v1/messages/batches?limit=&after_id=`` (newest first),
``GET /v1/messages/batches/{id}`` (``in_progress`` for ``pending_polls`` looks, then ``ended``),
``POST /v1/messages/batches/{id}/cancel`` and ``GET /v1/messages/batches/{id}/results`` (JSONL). Each request of a
batch is answered when the batch is created, through the same script and answer function as an online call (a
scripted non-200 reply becomes an ``errored`` result: a partial failure); a batch created after
:meth:`AnthropicBatchServer.expire_next_batch` ends with every result ``expired``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

import attrs

from affectproxy.llm.testserver import Reply, _Server, cursor_page, example_for
from affectproxy_anthropic.testing import AnthropicTestServer


@attrs.define
class FakeMessageBatch:
    """A message batch as the server holds it."""

    id: str
    keys: list[str]
    results: list[dict[str, Any]] = attrs.field(repr=False)
    created: float
    expire: bool = False
    cancelled: bool = False
    polls: int = 0


class AnthropicBatchServer(AnthropicTestServer):
    """AnthropicTestServer plus Message Batches (see the module docstring).

    Attributes:
        batches: every batch created, oldest first (``keys``: the requests' ``custom_id`` s).
        batch_calls: (method, path) of every batch request.
        batched: the ``params`` of every batched request, in order.
    """

    pending_polls = 1
    create_delay = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jobs: dict[str, FakeMessageBatch] = {}
        self.batch_calls: list[tuple[str, str]] = []
        self.batched: list[Any] = []
        self._ids = itertools.count(1)
        self._expire = 0
        self._block = threading.Lock()

    @property
    def batches(self) -> list[FakeMessageBatch]:
        return list(self.jobs.values())

    def expire_next_batch(self, n: int = 1) -> None:
        """The next ``n`` batches created end with every result ``expired``."""
        self._expire += n

    def __enter__(self) -> AnthropicBatchServer:
        return self.start()

    def start(self) -> AnthropicBatchServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                owner._route(self, "POST")

            def do_GET(self) -> None:
                owner._route(self, "GET")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def _route(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(handler.path)
        path = url.path.rstrip("/")
        if method == "POST" and path == self.path:
            self._respond(handler)
            return
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._block:
            self.batch_calls.append((method, path))
        if self.key is not None and not self.authorised(headers):
            self._send(handler, 401, self.error_body(401, "invalid x-api-key"))
            return
        parts = path.split("/")[4:]  # after /v1/messages/batches
        try:
            if method == "POST" and not parts:
                created = self._create(json.loads(raw or b"{}"))
                time.sleep(self.create_delay)
                self._send(handler, 200, created)
            elif method == "GET" and not parts:
                self._send(handler, 200, self._list(parse_qs(url.query)))
            elif method == "GET" and len(parts) == 1:
                self._send(handler, 200, self._get(parts[0]))
            elif method == "POST" and len(parts) == 2 and parts[1] == "cancel":
                self.jobs[parts[0]].cancelled = True
                self._send(handler, 200, self._batch_json(self.jobs[parts[0]], "canceling"))
            elif method == "GET" and len(parts) == 2 and parts[1] == "results":
                job = self.jobs[parts[0]]
                self._send(handler, 200, "".join(json.dumps(r) + "\n" for r in self._results(job)).encode())
            else:
                self._send(handler, 404, self.error_body(404, f"no route {method} {path}"))
        except KeyError as exc:
            self._send(handler, 404, self.error_body(404, f"No such batch: {exc}"))

    def _answer(self, body: Any) -> dict[str, Any]:
        reply = self._take(body)
        if reply is None:
            out = self.answer(body) if self.answer is not None else example_for(self.schema_of(body))
            reply = out if isinstance(out, Reply) else Reply(text=out if isinstance(out, str) else json.dumps(out))
        if reply.status == 200:
            return {"type": "succeeded", "message": self.success(body, reply.text or "")}
        return {"type": "errored", "error": self.error_body(reply.status, reply.text or "error")}

    def _create(self, body: Any) -> dict[str, Any]:
        keys, results = [], []
        for item in body.get("requests", []):
            with self._block:
                self.batched.append(item["params"])
            keys.append(item["custom_id"])
            results.append({"custom_id": item["custom_id"], "result": self._answer(item["params"])})
        job = FakeMessageBatch(f"msgbatch_{next(self._ids):04d}", keys, results, time.time(), self._expire > 0)
        self._expire = max(0, self._expire - 1)
        self.jobs[job.id] = job
        return self._batch_json(job, "in_progress")

    def _results(self, job: FakeMessageBatch) -> list[dict[str, Any]]:
        if job.expire:
            return [{"custom_id": r["custom_id"], "result": {"type": "expired"}} for r in job.results]
        if job.cancelled:
            return [{"custom_id": r["custom_id"], "result": {"type": "canceled"}} for r in job.results]
        return job.results

    def _get(self, job_id: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        job.polls += 1
        return self._batch_json(job, self._status(job))

    def _status(self, job: FakeMessageBatch) -> str:
        return "ended" if job.cancelled or job.polls > self.pending_polls else "in_progress"

    def _list(self, query: dict[str, list[str]]) -> dict[str, Any]:
        jobs = list(reversed(self.jobs.values()))
        page, more = cursor_page(jobs, [j.id for j in jobs], (query.get("after_id") or [""])[0],
                                 int((query.get("limit") or ["20"])[0]))
        return {"data": [self._batch_json(j, self._status(j)) for j in page], "has_more": more,
                "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None}

    def _batch_json(self, job: FakeMessageBatch, status: str) -> dict[str, Any]:
        counts = {"processing": len(job.keys), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if status == "ended":
            counts["processing"] = 0
            for r in self._results(job):
                counts[r["result"]["type"]] += 1
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(job.created))
        return {"id": job.id, "type": "message_batch", "processing_status": status, "request_counts": counts,
                "created_at": stamp, "expires_at": stamp, "ended_at": stamp if status == "ended" else None,
                "archived_at": None, "cancel_initiated_at": None,
                "results_url": f"{self.url}/v1/messages/batches/{job.id}/results" if status == "ended" else None}


__all__ = ["AnthropicBatchServer", "FakeMessageBatch"]
