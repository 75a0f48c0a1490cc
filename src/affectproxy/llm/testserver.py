"""A scripted local JSON-over-HTTP server for provider plugins' tests (stdlib only; 127.0.0.1, TCP_NODELAY).

The OpenAI and Anthropic plugins build their chat-completions and messages servers on it; a third party's provider
can do the same.

Subclasses turn a request body into a success body (:meth:`ScriptedServer.success`) and an error into the API's
error body (:meth:`ScriptedServer.error_body`). Tests queue :class:`Reply` objects (429 with Retry-After, 500,
malformed JSON, a given answer text) that are served before the default answer, optionally only to requests a
predicate picks; every request is recorded.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs


@attrs.frozen
class Reply:
    """One scripted HTTP reply.

    Attributes:
        status: the HTTP status.
        text: for a 200, the answer's text (the model's content); for an error, the error message.
        raw: bytes sent as the body instead (e.g. malformed JSON); overrides ``text``.
        headers: extra response headers (``{"Retry-After": "1"}``).
        delay: seconds to wait before answering (to provoke client timeouts).
    """

    status: int = 200
    text: str | None = None
    raw: bytes | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    delay: float = 0.0


@attrs.frozen
class Recorded:
    """One request the server received: path, headers (lower-case names) and the parsed JSON body."""

    path: str
    headers: Mapping[str, str]
    body: Any


def example_for(schema: Any) -> Any:
    """A minimal value satisfying a simple JSON schema (objects, arrays, enums, numbers, strings, booleans).

    Examples:
        >>> example_for({"type": "object", "properties": {"n": {"type": "integer", "minimum": -2}},
        ...              "required": ["n"]})
        {'n': -2}
    """
    if not isinstance(schema, Mapping):
        return None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {k: example_for(v) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [example_for(schema.get("items", {}))] * int(schema.get("minItems", 0))
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        return int(low) if kind == "integer" else float(low)
    if kind == "string":
        return "x" * int(schema.get("minLength", 1))
    if kind == "boolean":
        return False
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()


class ScriptedServer:
    """Base class: a threaded local server with a reply script and a request log.

    Args:
        answer: called with the parsed request body; returns the answer text (str), a JSON value (dumped to
            text) or a :class:`Reply`. Default: a minimal JSON value satisfying the request's schema.
        key: when set, requests must carry it (else 401, with a masked key echoed as real APIs do).
    """

    path = "/"

    def __init__(self, answer: Callable[[Any], Any] | None = None, *, key: str | None = None) -> None:
        self.answer = answer
        self.key = key
        self.requests: list[Recorded] = []
        self._script: list[list[Any]] = []  # [reply, predicate, times left]
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- script ----------------------------------------------------------------------------------------------
    def script(self, reply: Reply | str, *, when: Callable[[Any], bool] | None = None, times: int = 1) -> None:
        """Serve ``reply`` (a :class:`Reply` or an answer text) to the next ``times`` requests that ``when``
        accepts (default: any), before the default answer."""
        if isinstance(reply, str):
            reply = Reply(text=reply)
        elif not isinstance(reply, Reply):  # another plugin's Reply (duck-typed)
            reply = Reply(reply.status, reply.text, reply.raw, dict(reply.headers), reply.delay)
        with self._lock:
            self._script.append([reply, when, times])

    @staticmethod
    def rate_limited(seconds: float | None = 0.05, *, ms: float | None = None) -> Reply:
        """A 429 with ``Retry-After: seconds`` (and/or ``retry-after-ms``)."""
        headers = {}
        if seconds is not None:
            headers["Retry-After"] = f"{seconds:g}"
        if ms is not None:
            headers["retry-after-ms"] = f"{ms:g}"
        return Reply(429, "Rate limit reached for requests", headers=headers)

    @staticmethod
    def server_error(status: int = 500) -> Reply:
        return Reply(status, "The server had an error while processing your request")

    @staticmethod
    def malformed() -> Reply:
        """A 200 whose body is not JSON at all."""
        return Reply(200, raw=b'{"id": "broken", "choices": [')

    def _take(self, body: Any) -> Reply | None:
        with self._lock:
            for entry in self._script:
                reply, when, times = entry
                if times > 0 and (when is None or when(body)):
                    entry[2] -= 1
                    return reply  # type: ignore[no-any-return]
        return None

    # -- to override -----------------------------------------------------------------------------------------
    def schema_of(self, body: Any) -> Any:
        return None

    def success(self, body: Any, text: str) -> Any:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"message": message, "code": status}}

    def authorised(self, headers: Mapping[str, str]) -> bool:
        return True

    # -- serving ---------------------------------------------------------------------------------------------
    def _respond(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append(Recorded(handler.path, headers, body))
        if not handler.path.rstrip("/").endswith(self.path):
            self._send(handler, 404, self.error_body(404, f"no route {handler.path}"))
            return
        if self.key is not None and not self.authorised(headers):
            self._send(handler, 401, self.error_body(401, "Incorrect API key provided: sk-abc1********wxyz."))
            return
        reply = self._take(body)
        if reply is None:
            out = self.answer(body) if self.answer is not None else example_for(self.schema_of(body))
            reply = out if isinstance(out, Reply) else Reply(text=out if isinstance(out, str) else json.dumps(out))
        if reply.delay:
            time.sleep(reply.delay)
        if reply.raw is not None:
            self._send(handler, reply.status, reply.raw, reply.headers)
        elif reply.status == 200:
            self._send(handler, 200, self.success(body, reply.text or ""), reply.headers)
        else:
            self._send(handler, reply.status, self.error_body(reply.status, reply.text or "error"), reply.headers)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: Any, headers: Mapping[str, str] = {}) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                handler.send_header(k, v)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def start(self) -> ScriptedServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                owner._respond(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("start() the server first")
        return int(self._httpd.server_address[1])

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def job_phase(polls: int, pending: int, running: int, *, cancelled: bool = False, expire: bool = False) -> str:
    """Where a fake batch job stands after ``polls`` looks: ``"cancelled"``; ``"pending"`` for the first ``pending``
    looks, ``"running"`` for the next ``running``; then ``"expired"`` (when ``expire``) or ``"done"``. Each test
    server maps these to its vendor's state names."""
    if cancelled:
        return "cancelled"
    if polls <= pending:
        return "pending"
    if polls <= pending + running:
        return "running"
    return "expired" if expire else "done"


def cursor_page(items: Sequence[Any], ids: Sequence[str], after: str, limit: int) -> tuple[list[Any], bool]:
    """A page of ``items`` (already newest first) after the one whose id is ``after`` (from the start when empty),
    at most ``limit`` long, and whether more follow: the cursor paging of the OpenAI and Anthropic list calls."""
    start = list(ids).index(after) + 1 if after else 0
    page = list(items[start:start + limit])
    return page, start + len(page) < len(items)


def words(value: Any) -> int:
    """A crude token count: the words in every string inside ``value``."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, Mapping):
        return sum(words(v) for k, v in value.items() if k in ("content", "text", "system"))
    if isinstance(value, list):
        return sum(words(v) for v in value)
    return 0
