"""A local OpenAI server with the Batch API, for the real ``openai`` SDK (nothing mocked).

:class:`OpenAIBatchServer` is an :class:`~affectproxy_openai.testing.OpenAITestServer` (chat completions, with its
script and answer function) that also serves ``POST /v1/files`` (multipart upload, purpose ``batch``),
``POST /v1/batches`` (with ``create_delay`` seconds the job is created at once but the answer waits),
``GET /v1/batches?limit=&after=`` (newest first, ``has_more``), ``GET /v1/batches/{id}`` (``validating`` for
``pending_polls`` looks, ``in_progress`` for ``running_polls``, then ``completed``, or ``expired`` after
:meth:`OpenAIBatchServer.expire_next_batch`),
``POST /v1/batches/{id}/cancel`` and ``GET /v1/files/{id}/content``. Each line of a job is answered when the job is
created, through the same script and answer function as an online call (a scripted non-200 reply becomes that
line's entry in the error file: a partial failure); an expired job answers nothing (every line in the error file
with ``batch_expired``).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

import attrs

from affectproxy.llm.testserver import Reply, _Server, cursor_page, example_for, job_phase
from affectproxy_openai.testing import OpenAITestServer


@attrs.define
class FakeOpenAIBatch:
    """A batch job as the server holds it."""

    id: str
    input_file_id: str
    keys: list[str]
    lines: list[dict[str, Any]] = attrs.field(repr=False)
    created: int
    expire: bool = False
    cancelled: bool = False
    polls: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    metadata: dict[str, str] = attrs.field(factory=dict)


class OpenAIBatchServer(OpenAITestServer):
    """OpenAITestServer plus the Batch API (see the module docstring).

    Attributes:
        batches: every job created, oldest first (``keys``: the lines' ``custom_id`` s).
        batch_calls: (method, path) of every Batch API request.
        batched: the chat-completions bodies of every job line, in order.
    """

    pending_polls = 1
    running_polls = 1
    create_delay = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.files: dict[str, bytes] = {}
        self.jobs: dict[str, FakeOpenAIBatch] = {}
        self.batch_calls: list[tuple[str, str]] = []
        self.batched: list[Any] = []
        self._ids = itertools.count(1)
        self._expire = 0
        self._block = threading.Lock()

    @property
    def batches(self) -> list[FakeOpenAIBatch]:
        return list(self.jobs.values())

    def expire_next_batch(self, n: int = 1) -> None:
        """The next ``n`` jobs created end ``expired`` without answers."""
        self._expire += n

    def count(self, method: str, prefix: str) -> int:
        """How many Batch API requests of ``method`` had a path starting with ``prefix`` (``"/v1/batches"``)."""
        return sum(1 for m, p in self.batch_calls if m == method and p.startswith(prefix))

    # -- serving ---------------------------------------------------------------------------------------------
    def __enter__(self) -> OpenAIBatchServer:
        return self.start()

    def start(self) -> OpenAIBatchServer:
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
        if method == "POST" and path.endswith(self.path):
            self._respond(handler)
            return
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._block:
            self.batch_calls.append((method, path))
        if self.key is not None and not self.authorised(headers):
            self._send(handler, 401, self.error_body(401, "Incorrect API key provided: sk-abc1********wxyz."))
            return
        parts = path.split("/")[2:]  # after /v1
        try:
            if method == "POST" and parts == ["files"]:
                self._send(handler, 200, self._upload(headers.get("content-type", ""), raw))
            elif method == "POST" and parts == ["batches"]:
                created = self._create(json.loads(raw or b"{}"))
                time.sleep(self.create_delay)
                self._send(handler, 200, created)
            elif method == "GET" and parts == ["batches"]:
                self._send(handler, 200, self._list(parse_qs(url.query)))
            elif method == "GET" and len(parts) == 2 and parts[0] == "batches":
                self._send(handler, 200, self._get(parts[1]))
            elif method == "POST" and len(parts) == 3 and parts[0] == "batches" and parts[2] == "cancel":
                self.jobs[parts[1]].cancelled = True
                self._send(handler, 200, self._batch_json(self.jobs[parts[1]], "cancelling"))
            elif method == "GET" and len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
                self._send(handler, 200, self.files[parts[1]])
            else:
                self._send(handler, 404, self.error_body(404, f"no route {method} {path}"))
        except KeyError as exc:
            self._send(handler, 404, self.error_body(404, f"No such object: {exc}"))

    # -- the Batch API -----------------------------------------------------------------------------------------
    def _new_file(self, data: bytes, name: str) -> dict[str, Any]:
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = data
        return {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": name, "purpose": "batch", "status": "processed"}

    def _upload(self, content_type: str, raw: bytes) -> dict[str, Any]:
        message = BytesParser(policy=default_policy).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        data, name = b"", "upload.jsonl"
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                name = part.get_filename() or name
        return self._new_file(data, name)

    def _answer(self, body: Any) -> tuple[int, Any]:
        reply = self._take(body)
        if reply is None:
            out = self.answer(body) if self.answer is not None else example_for(self.schema_of(body))
            reply = out if isinstance(out, Reply) else Reply(text=out if isinstance(out, str) else json.dumps(out))
        if reply.status == 200:
            return 200, self.success(body, reply.text or "")
        return reply.status, self.error_body(reply.status, reply.text or "error")

    def _create(self, body: Any) -> dict[str, Any]:
        text = self.files[body["input_file_id"]].decode()
        lines, keys = [], []
        for line in text.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            with self._block:
                self.batched.append(item["body"])
            keys.append(item["custom_id"])
            status, payload = self._answer(item["body"])
            lines.append({"id": f"batch_req_{next(self._ids)}", "custom_id": item["custom_id"],
                          "response": {"status_code": status, "request_id": f"req_{next(self._ids)}",
                                       "body": payload}, "error": None})
        job = FakeOpenAIBatch(f"batch_{next(self._ids)}", body["input_file_id"], keys, lines, int(time.time()),
                              self._expire > 0, metadata=dict(body.get("metadata") or {}))
        self._expire = max(0, self._expire - 1)
        self.jobs[job.id] = job
        return self._batch_json(job, "validating")

    def _status(self, job: FakeOpenAIBatch) -> str:
        phase = job_phase(job.polls, self.pending_polls, self.running_polls, cancelled=job.cancelled,
                          expire=job.expire)
        return {"pending": "validating", "running": "in_progress", "done": "completed"}.get(phase, phase)

    def _list(self, query: dict[str, list[str]]) -> dict[str, Any]:
        jobs = list(reversed(self.jobs.values()))
        page, more = cursor_page(jobs, [j.id for j in jobs], (query.get("after") or [""])[0],
                                 int((query.get("limit") or ["20"])[0]))
        data = []
        for job in page:
            status = self._status(job)
            if status in ("completed", "expired"):
                self._finish(job, status)
            data.append(self._batch_json(job, status))
        return {"object": "list", "data": data, "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None, "has_more": more}

    def _finish(self, job: FakeOpenAIBatch, status: str) -> None:
        if job.output_file_id is not None or job.error_file_id is not None:
            return
        if status == "expired":
            ok: list[dict[str, Any]] = []
            bad = [{"id": ln["id"], "custom_id": ln["custom_id"], "response": None,
                    "error": {"code": "batch_expired", "message": "This request could not be executed before the "
                                                                  "completion window expired."}} for ln in job.lines]
        else:
            ok = [ln for ln in job.lines if ln["response"]["status_code"] == 200]
            bad = [ln for ln in job.lines if ln["response"]["status_code"] != 200]
        if ok:
            job.output_file_id = self._new_file("".join(json.dumps(x) + "\n" for x in ok).encode(), "out.jsonl")["id"]
        if bad:
            job.error_file_id = self._new_file("".join(json.dumps(x) + "\n" for x in bad).encode(), "err.jsonl")["id"]

    def _get(self, job_id: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        job.polls += 1
        status = self._status(job)
        if status in ("completed", "expired"):
            self._finish(job, status)
        return self._batch_json(job, status)

    def _batch_json(self, job: FakeOpenAIBatch, status: str) -> dict[str, Any]:
        finished = status in ("completed", "expired")
        failed = sum(ln["response"]["status_code"] != 200 for ln in job.lines) if status == "completed" else 0
        return {"id": job.id, "object": "batch", "endpoint": "/v1/chat/completions", "errors": None,
                "input_file_id": job.input_file_id, "completion_window": "24h", "status": status,
                "output_file_id": job.output_file_id, "error_file_id": job.error_file_id,
                "created_at": job.created, "metadata": job.metadata,
                "request_counts": {"total": len(job.lines),
                                   "completed": len(job.lines) - failed if status == "completed" else 0,
                                   "failed": failed if finished else 0}}


__all__ = ["FakeOpenAIBatch", "OpenAIBatchServer"]
