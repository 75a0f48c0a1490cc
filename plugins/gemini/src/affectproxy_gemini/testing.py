"""A local stand-in for the Gemini API: an HTTP server on 127.0.0.1 that speaks enough of the REST API for the
real google-genai client (no mock of the SDK), with scripted misbehaviour and a record of every request.

It serves, under both ``/v1/`` and ``/v1beta/``: ``models/{model}:generateContent``, ``models/{model}:countTokens``,
the resumable upload (``/upload/{version}/files``), ``files/{id}`` (GET polls: ``PROCESSING`` for the first
``processing_polls`` looks, then ``ACTIVE``), file deletion, and batch jobs (``models/{model}:batchGenerateContent``,
``batches/{id}``: see :mod:`affectproxy_gemini._batchserver`). Usage follows the vendor's rules: 32 tokens per
second of audio (the duration read from the FLAC/WAV bytes), text estimated at one token per 4 characters, and
per-modality prompt token details.

Answers come from ``responder(call)`` (default: a minimal instance of the request's response schema), unless a
scripted behaviour is queued with :meth:`FakeGemini.script` (used one per generateContent call, in order):
:class:`Reply`, :class:`RateLimit` (429 with Retry-After), :class:`ServerError` (5xx), :class:`Slow` (answers
late: client timeouts), :class:`Blocked` (a safety block), :class:`Refuse` (400/401/403). A responder may also
return a behaviour.

Example::

    from google import genai
    from affectproxy_gemini.testing import FakeGemini, RateLimit, Reply, fake_key

    with FakeGemini() as server:
        server.script(RateLimit(retry_after=1), Reply('{"valence": 0.2}'))
        client = genai.Client(api_key=fake_key(), http_options={"base_url": server.url, "api_version": "v1beta"})
        ...
        [call] = server.generate_calls          # what was sent: system, texts, audio (decoded), schema, config
        assert call.audio[0].seconds == 2.0

Other helpers reuse it (the TRUST evaluator, the corpus audit, cost estimates): construct it with a ``responder``
that reads :class:`GenerateCall` and returns the answer's text (or a dict, or a behaviour).
"""

from __future__ import annotations

import base64
import collections
import io
import itertools
import json
import math
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import attrs

from affectproxy_gemini._batchserver import BatchEndpoints

AUDIO_TOKENS_PER_SECOND = 32
BLOCK_REASONS = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "OTHER")


def fake_key() -> str:
    """A random API-key-shaped string built at run time (never commit a key, not even a fake one)."""
    return "AIza" + secrets.token_urlsafe(26)


# -- behaviours ------------------------------------------------------------------------------------------------
@attrs.frozen
class Reply:
    """Answer with ``text`` (or ``data`` as JSON). ``finish`` is the candidate's finishReason."""

    text: str | None = None
    data: Any = None
    finish: str = "STOP"
    thoughts: int = 0
    model_version: str | None = None


@attrs.frozen
class RateLimit:
    """HTTP 429 RESOURCE_EXHAUSTED, with ``Retry-After: retry_after`` seconds when given, and a RetryInfo
    ``retryDelay`` of ``retry_delay`` seconds in the body when given (as Google sends it)."""

    retry_after: float | None = 1.0
    message: str = "Resource has been exhausted (e.g. check quota)."
    retry_delay: float | None = None


@attrs.frozen
class ServerError:
    """HTTP ``status`` (5xx) with a Google error body."""

    status: int = 500
    message: str = "An internal error has occurred."


@attrs.frozen
class Refuse:
    """A 4xx refusal (400 INVALID_ARGUMENT, 401, 403 PERMISSION_DENIED)."""

    status: int = 400
    message: str = "Request contains an invalid argument."


@attrs.frozen
class Slow:
    """Wait ``seconds`` before answering (with ``then``, or the responder)."""

    seconds: float
    then: Any = None


@attrs.frozen
class Blocked:
    """A safety block: ``prompt=True`` gives no candidates and a promptFeedback.blockReason; otherwise a
    candidate with finishReason ``reason`` and no content."""

    reason: str = "SAFETY"
    prompt: bool = False


def Malformed(text: str = '{"arousal": 0.5, "valence":') -> Reply:
    """An answer that is not valid JSON."""
    return Reply(text=text)


# -- what was sent ---------------------------------------------------------------------------------------------
@attrs.frozen
class Audio:
    """An audio part of a request: inline bytes (decoded from base64) or an uploaded file's bytes."""

    mime_type: str
    data: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    seconds: float
    file: str = ""  # the file name (files/...) for an uploaded file, "" when inline


@attrs.frozen
class Call:
    """One HTTP request as received."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    time: float = 0.0

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def api_key(self) -> str:
        return self.headers.get("x-goog-api-key", "") or (self.query.get("key") or [""])[0]


@attrs.frozen
class GenerateCall:
    """A generateContent (or countTokens) request, parsed. Texts and audio are in the order sent."""

    model: str
    api_version: str
    system: str
    texts: tuple[str, ...]
    audio: tuple[Audio, ...]
    schema: Any
    config: Mapping[str, Any]  # generationConfig, keys in camelCase whatever the SDK sent
    raw: Any = attrs.field(repr=False)
    call: Call = attrs.field(repr=False)

    @property
    def text(self) -> str:
        """Every text part joined by newlines."""
        return "\n".join(self.texts)


@attrs.define
class StoredFile:
    name: str
    mime_type: str
    data: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    display_name: str = ""
    polls: int = 0
    created: float = 0.0


def _get(d: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for n in names:
        if n in d:
            return d[n]
    return default


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _b64(data: str) -> bytes:
    data = data.replace("-", "+").replace("_", "/")
    return base64.b64decode(data + "=" * (-len(data) % 4))


def audio_seconds(data: bytes) -> float:
    """The duration of FLAC/WAV/OGG bytes (soundfile), or 0.0 when they cannot be read."""
    try:
        import soundfile as sf

        info = sf.info(io.BytesIO(data))
        return float(info.frames) / float(info.samplerate)
    except Exception:
        return 0.0


def text_tokens(text: str) -> int:
    """The server's token estimate for text: one token per 4 characters, rounded up."""
    return math.ceil(len(text) / 4)


def example_answer(schema: Any) -> Any:
    """A small instance of a JSON schema (midpoints of numeric ranges, the first enum value, every property)."""
    if not isinstance(schema, Mapping):
        return "ok"
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return example_answer(schema[key][0])
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {k: example_answer(v) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [example_answer(schema.get("items", {})) for _ in range(max(1, int(schema.get("minItems", 1))))]
    if kind in ("number", "integer"):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        value = (lo + hi) / 2 if lo is not None and hi is not None else (lo if lo is not None else hi or 0)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "neutral"


Responder = Callable[[GenerateCall], Any]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class FakeGemini(BatchEndpoints):
    """The local Gemini server (see the module docstring).

    Args:
        responder: ``call -> answer``; the answer is a str (the text), any other JSON value (sent as JSON), or a
            behaviour. Default: :func:`example_answer` of the request's schema.
        model_version: the ``modelVersion`` reported (default: the requested model id + ``"-001"``).
        processing_polls: how many ``files.get`` looks see ``PROCESSING`` before ``ACTIVE``.
        latency: seconds (or ``call -> seconds``) every generateContent waits before answering.
        api_key: when set, requests with another key get 400 API_KEY_INVALID (as the real API answers).
        thoughts: thinking tokens reported per answer.
    """

    def __init__(self, responder: Responder | None = None, *, model_version: str | None = None,
                 processing_polls: int = 1, latency: float | Callable[[GenerateCall], float] = 0.0,
                 api_key: str | None = None, thoughts: int = 0) -> None:
        self.responder = responder
        self.model_version = model_version
        self.processing_polls = processing_polls
        self.latency = latency
        self.api_key = api_key
        self.thoughts = thoughts
        self.calls: list[Call] = []
        self.generate_calls: list[GenerateCall] = []
        self.files: dict[str, StoredFile] = {}
        self.deleted: list[str] = []
        self._script: collections.deque[Any] = collections.deque()
        self._uploads: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ------------------------------------------------------------------------------------------
    def start(self) -> FakeGemini:
        """Listen on a free port of 127.0.0.1 (in a background thread)."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="fake-gemini")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:PORT``) to give the client."""
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- scripting and inspection ----------------------------------------------------------------------------
    def script(self, *behaviours: Any) -> None:
        """Queue behaviours for the next generateContent calls (one each, in order)."""
        with self._lock:
            self._script.extend(behaviours)

    def count(self, kind: str) -> int:
        """How many requests of a kind were received: ``"generate"``, ``"count"``, ``"upload"``, ``"get"``,
        ``"delete"``, ``"batch"`` (job created), ``"batch_get"``, ``"batch_cancel"``."""
        return sum(1 for c in self.calls if _kind(c) == kind)

    def reset(self) -> None:
        """Forget recorded calls (files stay)."""
        with self._lock:
            self.calls.clear()
            self.generate_calls.clear()

    # -- request handling ------------------------------------------------------------------------------------
    def _parse(self, call: Call, model: str, version: str) -> GenerateCall:
        body = call.json or {}
        if "generateContentRequest" in body:  # countTokens wraps a request
            body = body["generateContentRequest"]
        texts: list[str] = []
        audio: list[Audio] = []
        for content in _get(body, "contents", default=[]) or []:
            for part in _get(content, "parts", default=[]) or []:
                if "text" in part:
                    texts.append(part["text"])
                inline = _get(part, "inlineData", "inline_data")
                if inline:
                    data = _b64(_get(inline, "data", default=""))
                    audio.append(Audio(_get(inline, "mimeType", "mime_type", default=""), data, audio_seconds(data)))
                ref = _get(part, "fileData", "file_data")
                if ref:
                    audio.append(self._file_audio(_get(ref, "fileUri", "file_uri", default=""),
                                                  _get(ref, "mimeType", "mime_type", default="")))
        system = _get(body, "systemInstruction", "system_instruction", default=None) or {}
        system_text = "\n".join(p.get("text", "") for p in _get(system, "parts", default=[]) or [])
        raw_config = _get(body, "generationConfig", "generation_config", default={}) or {}
        config = {_camel(k): ({_camel(a): b for a, b in v.items()} if k in ("thinkingConfig", "thinking_config")
                              else v) for k, v in raw_config.items()}
        schema = _get(config, "responseJsonSchema", "responseSchema")
        return GenerateCall(model, version, system_text, tuple(texts), tuple(audio), schema, config, body, call)

    def _file_audio(self, uri: str, mime: str) -> Audio:
        name = "files/" + uri.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            stored = self.files.get(name)
        if stored is None:
            raise _HTTPError(403, f"You do not have permission to access the File {name} or it may not exist.",
                             "PERMISSION_DENIED")
        if stored.polls < self.processing_polls:
            raise _HTTPError(400, f"The File {name} is not in an ACTIVE state and usage is not allowed.",
                             "FAILED_PRECONDITION")
        return Audio(mime or stored.mime_type, stored.data, audio_seconds(stored.data), file=name)

    def _usage(self, call: GenerateCall, answer: str, thoughts: int) -> dict[str, Any]:
        text = text_tokens(call.system + "".join(call.texts))
        audio = sum(round(a.seconds * AUDIO_TOKENS_PER_SECOND) for a in call.audio)
        details = [{"modality": "TEXT", "tokenCount": text}]
        if call.audio:
            details.append({"modality": "AUDIO", "tokenCount": audio})
        out = text_tokens(answer)
        usage: dict[str, Any] = {"promptTokenCount": text + audio, "candidatesTokenCount": out,
                                 "totalTokenCount": text + audio + out + thoughts, "promptTokensDetails": details}
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        return usage

    def _generate(self, call: Call, model: str, version: str) -> tuple[int, dict[str, str], Any]:
        parsed = self._parse(call, model, version)
        with self._lock:
            self.generate_calls.append(parsed)
            behaviour = self._script.popleft() if self._script else None
        wait = self.latency(parsed) if callable(self.latency) else self.latency
        if wait:
            time.sleep(wait)
        if behaviour is None:
            behaviour = self.responder(parsed) if self.responder else Reply(data=example_answer(parsed.schema))
        while isinstance(behaviour, Slow):
            time.sleep(behaviour.seconds)
            behaviour = behaviour.then if behaviour.then is not None else (
                self.responder(parsed) if self.responder else Reply(data=example_answer(parsed.schema)))
        if isinstance(behaviour, RateLimit):
            headers = {} if behaviour.retry_after is None else {"Retry-After": f"{behaviour.retry_after:g}"}
            body = _error(429, behaviour.message, "RESOURCE_EXHAUSTED")
            if behaviour.retry_delay is not None:
                body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                             "retryDelay": f"{behaviour.retry_delay:g}s"}]
            return 429, headers, body
        if isinstance(behaviour, ServerError):
            status = {500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}.get(behaviour.status, "UNKNOWN")
            return behaviour.status, {}, _error(behaviour.status, behaviour.message, status)
        if isinstance(behaviour, Refuse):
            status = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                      404: "NOT_FOUND"}.get(behaviour.status, "FAILED_PRECONDITION")
            return behaviour.status, {}, _error(behaviour.status, behaviour.message, status)
        version_name = self.model_version or f"{model}-001"
        if isinstance(behaviour, Blocked):
            usage = self._usage(parsed, "", 0)
            if behaviour.prompt:
                return 200, {}, {"promptFeedback": {"blockReason": behaviour.reason}, "usageMetadata": usage,
                                 "modelVersion": version_name}
            return 200, {}, {"candidates": [{"finishReason": behaviour.reason, "index": 0,
                                             "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT",
                                                                "probability": "HIGH", "blocked": True}]}],
                             "usageMetadata": usage, "modelVersion": version_name}
        if not isinstance(behaviour, Reply):
            behaviour = Reply(text=behaviour) if isinstance(behaviour, str) else Reply(data=behaviour)
        text = behaviour.text if behaviour.text is not None else json.dumps(behaviour.data)
        thoughts = behaviour.thoughts or self.thoughts
        return 200, {}, {
            "candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                            "finishReason": behaviour.finish, "index": 0}],
            "usageMetadata": self._usage(parsed, text, thoughts),
            "modelVersion": behaviour.model_version or version_name,
            "responseId": f"fake-{next(self._ids)}",
        }

    def _count_tokens(self, call: Call, model: str, version: str) -> tuple[int, dict[str, str], Any]:
        parsed = self._parse(call, model, version)
        usage = self._usage(parsed, "", 0)
        return 200, {}, {"totalTokens": usage["promptTokenCount"], "promptTokensDetails": usage["promptTokensDetails"]}

    def _file_json(self, f: StoredFile, version: str, state: str) -> dict[str, Any]:
        return {"name": f.name, "displayName": f.display_name, "mimeType": f.mime_type,
                "sizeBytes": str(len(f.data)), "createTime": _iso(f.created), "updateTime": _iso(f.created),
                "expirationTime": _iso(f.created + 48 * 3600), "uri": f"{self.url}/{version}/{f.name}",
                "state": state, "source": "UPLOADED"}

    def _upload_start(self, call: Call, version: str) -> tuple[int, dict[str, str], Any]:
        meta = (call.json or {}).get("file", {}) or {}
        session = secrets.token_hex(8)
        with self._lock:
            self._uploads[session] = {"version": version, "data": bytearray(),
                                      "mime": call.headers.get("x-goog-upload-header-content-type")
                                      or _get(meta, "mimeType", "mime_type", default=""),
                                      "display": _get(meta, "displayName", "display_name", default="")}
        return 200, {"X-Goog-Upload-URL": f"{self.url}/upload-session/{session}",
                     "X-Goog-Upload-Status": "active"}, {}

    def _upload_chunk(self, call: Call, session: str) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            up = self._uploads.get(session)
            if up is None:
                return 404, {}, _error(404, "No such upload session.", "NOT_FOUND")
            up["data"] += call.body
            command = call.headers.get("x-goog-upload-command", "")
            if "finalize" not in command:
                return 200, {"X-Goog-Upload-Status": "active"}, {}
            del self._uploads[session]
            name = f"files/{secrets.token_hex(6)}"
            stored = StoredFile(name, up["mime"], bytes(up["data"]), up["display"], 0, time.time())
            self.files[name] = stored
        return 200, {"X-Goog-Upload-Status": "final"}, {"file": self._file_json(stored, up["version"], "PROCESSING")}

    def _file_get(self, name: str, version: str) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            stored = self.files.get(name)
            if stored is None:
                return 403, {}, _error(403, f"You do not have permission to access the File {name} or it may not "
                                            "exist.", "PERMISSION_DENIED")
            state = "ACTIVE" if stored.polls >= self.processing_polls else "PROCESSING"
            stored.polls += 1
        return 200, {}, self._file_json(stored, version, state)

    def _file_delete(self, name: str) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            if self.files.pop(name, None) is None:
                return 403, {}, _error(403, f"File {name} does not exist.", "PERMISSION_DENIED")
            self.deleted.append(name)
        return 200, {}, {}

    def handle(self, call: Call) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.calls.append(call)
        if call.path.startswith("/upload-session/"):
            return self._upload_chunk(call, call.path.rsplit("/", 1)[-1])
        if self.api_key is not None and call.api_key != self.api_key:
            return 400, {}, _error(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT",
                                   reason="API_KEY_INVALID")
        parts = call.path.strip("/").split("/")
        try:
            if parts[0] == "upload" and len(parts) == 3 and parts[2] == "files" and call.method == "POST":
                return self._upload_start(call, parts[1])
            if parts[0] not in ("v1", "v1beta", "v1alpha"):
                return 404, {}, _error(404, f"Unknown path {call.path}.", "NOT_FOUND")
            version = parts[0]
            batch = self._batch_route(call, parts, version)  # batch jobs: see affectproxy_gemini._batchserver
            if batch is not None:
                return batch
            if len(parts) == 3 and parts[1] == "models" and call.method == "POST":
                model, _, method = parts[2].partition(":")
                if method == "generateContent":
                    return self._generate(call, model, version)
                if method == "countTokens":
                    return self._count_tokens(call, model, version)
            if len(parts) == 3 and parts[1] == "files":
                name = f"files/{parts[2]}"
                if call.method == "GET":
                    return self._file_get(name, version)
                if call.method == "DELETE":
                    return self._file_delete(name)
        except _HTTPError as exc:
            return exc.status, {}, _error(exc.status, exc.message, exc.code)
        return 404, {}, _error(404, f"Unknown path {call.method} {call.path}.", "NOT_FOUND")


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _error(status: int, message: str, code: str, reason: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"code": status, "message": message, "status": code}
    if reason:
        body["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                            "domain": "googleapis.com"}]
    return {"error": body}


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(t))


def _kind(call: Call) -> str:
    if call.path.startswith(("/upload/", "/upload-session/")):
        return "upload"
    if call.path.endswith(":generateContent"):
        return "generate"
    if call.path.endswith(":countTokens"):
        return "count"
    if call.path.endswith(":batchGenerateContent"):
        return "batch"
    if "/batches/" in call.path:
        return "batch_get" if call.method == "GET" else "batch_cancel"
    if call.method == "DELETE":
        return "delete"
    return "get" if call.method == "GET" else "other"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeGemini

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlparse(self.path)
        call = Call(self.command, url.path, parse_qs(url.query), {k.lower(): v for k, v in self.headers.items()},
                    body, time.time())
        try:
            status, headers, payload = self.fake.handle(call)
        except Exception as exc:  # a bug in a test's responder: answer 500 with it, never hang the client
            status, headers, payload = 500, {}, _error(500, f"fake server error: {type(exc).__name__}: {exc}",
                                                       "INTERNAL")
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            self.close_connection = True

    do_GET = do_POST = do_DELETE = _serve


__all__ = [
    "AUDIO_TOKENS_PER_SECOND",
    "Audio",
    "Blocked",
    "Call",
    "FakeGemini",
    "GenerateCall",
    "Malformed",
    "RateLimit",
    "Refuse",
    "Reply",
    "ServerError",
    "Slow",
    "StoredFile",
    "audio_seconds",
    "example_answer",
    "fake_key",
    "text_tokens",
]
