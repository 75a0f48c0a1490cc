"""A local Anthropic messages-API server for tests: point the real ``anthropic`` SDK (or the ``anthropic``
provider, ``base_url=server.url``) at it.

Examples:
    >>> from affectproxy_anthropic.testing import AnthropicTestServer
    >>> import anthropic
    >>> with AnthropicTestServer(lambda body: {"pathos": -1}) as server:
    ...     client = anthropic.Anthropic(api_key="test", base_url=server.url, max_retries=0)
    ...     out = client.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    >>> out.content[0].text, out.model, server.requests[0].path
    ('{"pathos": -1}', 'm-20260101', '/v1/messages')
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlparse

from affectproxy.llm.testserver import Recorded, Reply, ScriptedServer, example_for, words

_ids = itertools.count(1)
#: The token-counting route (``client.messages.count_tokens``); messages are ``POST /v1/messages``.
COUNT_PATH = "/v1/messages/count_tokens"


class AnthropicTestServer(ScriptedServer):
    """Speaks ``POST /v1/messages``; answers with a message carrying the scripted text (or, when the request
    forces a tool, a ``tool_use`` block whose input is the scripted JSON). ``POST /v1/messages/count_tokens``
    answers ``{"input_tokens": n}`` by the rule the messages' ``usage`` follows (:func:`input_tokens`), so a dry
    run's count equals what the run is then charged.

    Args:
        answer: body -> answer text, JSON value or :class:`Reply`; default: a minimal value of the request's
            ``output_config.format`` (or forced tool's) schema.
        key: when set, the key must arrive as ``x-api-key`` or ``Authorization: Bearer`` (else 401).
        version_suffix: appended to the requested model id to form the reported model version.
        cache_read_tokens: reported as ``usage.cache_read_input_tokens``.

    Attributes:
        url: the base URL to give the SDK (``http://127.0.0.1:<port>``).
        requests: every :class:`Recorded` request.
    """

    path = "/v1/messages"

    def __init__(self, answer: Any = None, *, key: str | None = None, version_suffix: str = "-20260101",
                 cache_read_tokens: int = 0) -> None:
        super().__init__(answer, key=key)
        self.version_suffix = version_suffix
        self.cache_read_tokens = cache_read_tokens

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def authorised(self, headers: Mapping[str, str]) -> bool:
        return self.key in (headers.get("x-api-key"), headers.get("authorization", "").removeprefix("Bearer "))

    @staticmethod
    def _tool(body: Any) -> Mapping[str, Any] | None:
        choice = (body or {}).get("tool_choice") or {}
        if choice.get("type") != "tool":
            return None
        return next((t for t in body.get("tools", []) if t.get("name") == choice.get("name")), None)

    def schema_of(self, body: Any) -> Any:
        tool = self._tool(body)
        if tool is not None:
            return tool.get("input_schema")
        return (((body or {}).get("output_config") or {}).get("format") or {}).get("schema")

    def _respond(self, handler: BaseHTTPRequestHandler) -> None:
        if urlparse(handler.path).path.rstrip("/").endswith(COUNT_PATH):
            self._count(handler)
        else:
            super()._respond(handler)

    def _count(self, handler: BaseHTTPRequestHandler) -> None:
        """``POST /v1/messages/count_tokens``: ``{"input_tokens": n}`` by :func:`input_tokens`, the rule of the
        messages' ``usage``; recorded, key-checked and scripted (errors, delays, raw bodies) as messages are."""
        length = int(handler.headers.get("Content-Length") or 0)
        try:
            body = json.loads(handler.rfile.read(length)) if length else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append(Recorded(handler.path, headers, body))
        if self.key is not None and not self.authorised(headers):
            self._send(handler, 401, self.error_body(401, "Incorrect API key provided: sk-abc1********wxyz."))
            return
        reply = self._take(body) or Reply()
        time.sleep(reply.delay)
        if reply.raw is not None:
            self._send(handler, reply.status, reply.raw, reply.headers)
        elif reply.status == 200:
            self._send(handler, 200, {"input_tokens": input_tokens(body)}, reply.headers)
        else:
            self._send(handler, reply.status, self.error_body(reply.status, reply.text or "error"), reply.headers)

    def success(self, body: Any, text: str) -> Any:
        prompt = input_tokens(body)
        tool = self._tool(body)
        if tool is not None:
            content: list[dict[str, Any]] = [{"type": "tool_use", "id": f"toolu_{next(_ids)}", "name": tool["name"],
                                              "input": json.loads(text)}]
            stop = "tool_use"
        else:
            content, stop = [{"type": "text", "text": text}], "end_turn"
        return {
            "id": f"msg_{next(_ids)}",
            "type": "message",
            "role": "assistant",
            "model": f"{(body or {}).get('model', 'model')}{self.version_suffix}",
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt - self.cache_read_tokens, "output_tokens": max(1, len(text.split())),
                      "cache_read_input_tokens": self.cache_read_tokens, "cache_creation_input_tokens": 0},
        }

    def error_body(self, status: int, message: str) -> Any:
        kind = {429: "rate_limit_error", 401: "authentication_error", 529: "overloaded_error",
                400: "invalid_request_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}


def input_tokens(body: Any) -> int:
    """The server's count of a messages body's input tokens: the words of its messages and system prompt (its
    ``usage`` reports these, cache reads included, and ``count_tokens`` answers them)."""
    return words((body or {}).get("messages")) + words({"system": (body or {}).get("system", "")})


def system_text(body: Any) -> str:
    """The system prompt of a recorded messages body."""
    system = (body or {}).get("system", "")
    return system if isinstance(system, str) else "\n".join(b.get("text", "") for b in system)


def user_text(body: Any) -> str:
    """The text of the user message(s) of a recorded messages body."""
    out = []
    for m in (body or {}).get("messages", []):
        if m.get("role") != "user":
            continue
        content = m.get("content")
        out += [content] if isinstance(content, str) else [p.get("text", "") for p in content]
    return "\n".join(out)


__all__ = ["COUNT_PATH", "AnthropicTestServer", "Recorded", "Reply", "example_for", "input_tokens", "system_text",
           "user_text"]
