"""A local OpenAI chat-completions server for tests: point the real ``openai`` SDK (or the ``openai`` provider,
``base_url=server.url``) at it.

Examples:
    >>> from affectproxy_openai.testing import OpenAITestServer
    >>> import openai
    >>> with OpenAITestServer(lambda body: {"pathos": 1}) as server:
    ...     client = openai.OpenAI(api_key="test", base_url=server.url, max_retries=0)
    ...     out = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    >>> out.choices[0].message.content, out.model, server.requests[0].path
    ('{"pathos": 1}', 'm-2026-01-01', '/v1/chat/completions')
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from affectproxy.llm.testserver import Recorded, Reply, ScriptedServer, example_for, words

_ids = itertools.count(1)


class OpenAITestServer(ScriptedServer):
    """Speaks ``POST /v1/chat/completions``; answers with a chat completion carrying the scripted text.

    Args:
        answer: body -> answer text, JSON value or :class:`Reply`; default: a minimal value of the request's
            ``response_format`` schema.
        key: when set, the ``Authorization: Bearer`` header must carry it (else 401).
        version_suffix: appended to the requested model id to form the reported model version.
        cached_tokens: reported as ``prompt_tokens_details.cached_tokens``.

    Attributes:
        url: the base URL to give the SDK (``http://127.0.0.1:<port>/v1``).
        requests: every :class:`Recorded` request.
    """

    path = "/chat/completions"

    def __init__(self, answer: Any = None, *, key: str | None = None, version_suffix: str = "-2026-01-01",
                 cached_tokens: int = 0) -> None:
        super().__init__(answer, key=key)
        self.version_suffix = version_suffix
        self.cached_tokens = cached_tokens

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def authorised(self, headers: Mapping[str, str]) -> bool:
        return headers.get("authorization") == f"Bearer {self.key}"

    def schema_of(self, body: Any) -> Any:
        fmt = (body or {}).get("response_format") or {}
        return (fmt.get("json_schema") or {}).get("schema")

    def success(self, body: Any, text: str) -> Any:
        prompt = words((body or {}).get("messages"))
        completion = max(1, len(text.split()))
        return {
            "id": f"chatcmpl-{next(_ids)}",
            "object": "chat.completion",
            "created": 1_790_000_000,
            "model": f"{(body or {}).get('model', 'model')}{self.version_suffix}",
            "system_fingerprint": "fp_test",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text, "refusal": None}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                      "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0}},
        }

    def error_body(self, status: int, message: str) -> Any:
        kind = {429: "rate_limit_exceeded", 401: "invalid_api_key"}.get(status, "server_error")
        return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


def system_text(body: Any) -> str:
    """The system message of a recorded chat-completions body."""
    return "\n".join(m["content"] for m in (body or {}).get("messages", []) if m.get("role") == "system")


def user_text(body: Any) -> str:
    """The text of the user message(s) of a recorded chat-completions body."""
    out = []
    for m in (body or {}).get("messages", []):
        if m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, str):
            out.append(content)
        else:
            out += [p.get("text", "") for p in content if p.get("type") == "text"]
    return "\n".join(out)


__all__ = ["OpenAITestServer", "Recorded", "Reply", "example_for", "system_text", "user_text"]
