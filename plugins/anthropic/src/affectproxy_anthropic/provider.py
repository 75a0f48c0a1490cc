"""The ``anthropic`` provider: one messages-API call per :class:`~affectproxy.llm.types.LLMRequest`.

Structured output goes through ``output_config={"format": {"type": "json_schema", "schema": ...}}`` with the
schema passed through the SDK's own ``transform_schema`` (exactly what ``messages.parse`` sends: unsupported
keywords such as ``minimum``/``maximum`` move into descriptions, so the layer's validation is what enforces
them), or, with ``structured="tool"``, through a forced tool call whose input schema is the request's schema.
``messages.create`` in anthropic 2.10 has no ``temperature``, ``top_p`` or ``seed`` parameter, so this provider
declares that it cannot send them (the layer notes it once). The SDK's own retries are off (``max_retries=0``).
``count_tokens`` asks ``messages.count_tokens`` (free) about the same body, for the dry run's text tokens.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Literal

from affectproxy.errors import (
    AuthenticationError,
    RateLimitError,
    ServiceError,
    ServiceTimeoutError,
    ServiceUnavailableError,
)
from affectproxy.llm.batchmode import BatchViaModule
from affectproxy.llm.sdk import retry_after, scrub
from affectproxy.llm.types import LLMRequest, ProviderResponse, Usage

#: What this provider sends: no temperature or seed (the SDK's messages.create has neither), no audio.
CAN_SEND = frozenset({"system", "schema", "max_output_tokens"})
_ANTHROPIC_URL = "https://api.anthropic.com"
LOCAL_PLACEHOLDER_KEY = "no-key-needed"
_TOOL = "answer"
#: The arguments of messages.create (see ``body``) that messages.count_tokens takes too: it refuses max_tokens,
#: and request options (``extra_body``, e.g. service_tier) do not change what the input is.
_COUNTED = frozenset({"model", "messages", "system", "tools", "tool_choice", "output_config"})


class AnthropicProvider(BatchViaModule):
    """Calls ``messages.create`` with the official SDK.

    Args:
        api_key: the key; default ``ANTHROPIC_API_KEY``. Never stored, logged or put into a message.
        base_url: the API root; default ``ANTHROPIC_BASE_URL``, then Anthropic's.
        structured: ``"output_config"`` (default; JSON-schema output format) or ``"tool"`` (a forced tool call).
        max_tokens: the answer limit sent when a request sets no ``max_output_tokens`` (the API requires one).
        keep_files: accepted for uniformity with providers that upload files; this one uploads nothing.
        name: the provider name this instance answers to.
    """

    batch_module = "affectproxy_anthropic.batch"  # batch jobs at half price (affectproxy.llm.batchmode)
    #: A Message Batch holds up to 100,000 requests or 256 MB, whichever comes first
    #: (docs.anthropic.com/en/docs/build-with-claude/batch-processing).
    batch_max_requests = 100_000
    batch_max_bytes = 256_000_000

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None,
                 structured: Literal["output_config", "tool"] = "output_config", max_tokens: int = 1024,
                 keep_files: bool = False, name: str = "anthropic") -> None:
        if structured not in ("output_config", "tool"):
            raise ValueError(f"anthropic provider option structured must be 'output_config' or 'tool', "
                             f"got {structured!r}.")
        self.name = name
        self.can_send = CAN_SEND
        self._api_key = api_key
        self._base_url = base_url
        self.structured = structured
        self.max_tokens = int(max_tokens)
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AnthropicProvider(name={self.name!r}, base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        return self._base_url or os.environ.get("ANTHROPIC_BASE_URL") or _ANTHROPIC_URL

    def _key(self) -> str:
        key = self._api_key or os.environ.get("ANTHROPIC_API_KEY")
        if key:
            return key
        if self.base_url.rstrip("/") != _ANTHROPIC_URL:
            return LOCAL_PLACEHOLDER_KEY
        raise AuthenticationError(
            "No Anthropic API key: set ANTHROPIC_API_KEY in the environment, or give "
            "llm={'anthropic': {'api_key': ...}}."
        )

    def client(self) -> Any:
        """The SDK client (built once, thread-safe; retries off)."""
        with self._lock:
            if self._client is None:
                import anthropic

                self._client = anthropic.Anthropic(api_key=self._key(), base_url=self.base_url, max_retries=0)
            return self._client

    def body(self, request: LLMRequest) -> dict[str, Any]:
        """The keyword arguments for ``messages.create`` (without timeout)."""
        import anthropic

        content: list[dict[str, Any]] = []
        for part in request.parts:
            if part.kind != "text":
                raise ServiceError(
                    f"Request {request.tag or request.segment_ids}: the anthropic provider sends text only, got a "
                    f"{part.kind} part ({part.mime_type}); use a provider that accepts audio (gemini, openai)."
                )
            content.append({"type": "text", "text": part.text})
        kwargs: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_output_tokens or self.max_tokens,
            "messages": [{"role": "user", "content": content}],
        }
        if request.system:
            kwargs["system"] = request.system
        if request.schema is not None:
            if self.structured == "tool":
                kwargs["tools"] = [{"name": _TOOL, "description": "Give the answer in this structure.",
                                    "input_schema": dict(request.schema)}]
                kwargs["tool_choice"] = {"type": "tool", "name": _TOOL}
            else:
                schema = anthropic.transform_schema(dict(request.schema))
                kwargs["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        if request.options:
            kwargs["extra_body"] = dict(request.options)
        return kwargs

    def generate(self, request: LLMRequest, *, timeout: float) -> ProviderResponse:
        """One call; raises the affectproxy.errors service errors, never retries."""
        where = f"{self.name} model {request.model!r}"
        message = self._send(self.client().messages.create, self.body(request), where, timeout)
        return self._read(message, where)

    def count_tokens(self, request: LLMRequest, *, timeout: float = 60.0) -> int:
        """The API's count of the input tokens :meth:`generate` would send for ``request``
        (``messages.count_tokens``, free of charge): the same messages, system prompt and output format or tool;
        raises the affectproxy.errors service errors, never retries."""
        body = {k: v for k, v in self.body(request).items() if k in _COUNTED}
        where = f"{self.name} model {request.model!r} count_tokens"
        return int(self._send(self.client().messages.count_tokens, body, where, timeout).input_tokens)

    def close(self) -> None:
        """Close the SDK client's connections (a later call opens a new client)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _send(self, method: Any, body: dict[str, Any], where: str, timeout: float) -> Any:
        """``method(**body, timeout=timeout)`` with the SDK's errors mapped to the affectproxy.errors ones."""
        import anthropic

        try:
            return method(**body, timeout=timeout)
        except anthropic.APIStatusError as exc:
            raise self._status_error(exc, where) from None
        except anthropic.APITimeoutError:
            raise ServiceTimeoutError(f"{where}: no answer within {timeout:g} s; raise the layer's timeout.") from None
        except anthropic.APIConnectionError as exc:
            raise ServiceUnavailableError(
                f"{where}: cannot connect to {self.base_url} ({scrub(str(exc.__cause__ or exc), self._api_key)})."
            ) from None
        except (anthropic.APIResponseValidationError, ValueError) as exc:
            raise ServiceUnavailableError(
                f"{where}: malformed response body from {self.base_url} ({scrub(str(exc), self._api_key)[:120]})."
            ) from None

    def _status_error(self, exc: Any, where: str) -> ServiceError:
        status = int(exc.status_code)
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = (body.get("error") or {}).get("message") or body.get("message") or exc.message or str(exc)
        text = f"{where}: HTTP {status}: {scrub(str(detail), self._api_key)}"
        wait = retry_after(exc.response.headers if exc.response is not None else None)
        if status in (401, 403):
            return AuthenticationError(f"{text}. Check ANTHROPIC_API_KEY (or the api_key provider option).")
        if status == 402:
            return AuthenticationError(f"{text}. The account cannot pay for calls; check its billing.")
        if status == 429:
            return RateLimitError(text, retry_after=wait)
        if status == 408:
            return ServiceTimeoutError(text, retry_after=wait)
        if status >= 500 or status == 409:  # 529 = overloaded
            return ServiceUnavailableError(text, retry_after=wait)
        return ServiceError(text, retry_after=wait)

    def _read(self, message: Any, where: str) -> ProviderResponse:
        blocks = getattr(message, "content", None)
        if blocks is None:
            raise ServiceError(f"{where}: the server answered 200 without a message "
                               f"({scrub(str(message), self._api_key)[:120]!r}); check base_url.")
        usage = _usage(getattr(message, "usage", None))
        version = str(getattr(message, "model", "") or "")
        stop = str(getattr(message, "stop_reason", "") or "").lower()
        finish = {"end_turn": "stop", "tool_use": "stop", "stop_sequence": "stop"}.get(stop, stop)
        if self.structured == "tool" and any(getattr(b, "type", "") == "tool_use" for b in blocks):
            tool = next(b for b in blocks if getattr(b, "type", "") == "tool_use")
            text = json.dumps(tool.input, ensure_ascii=False)
        else:
            text = "".join(getattr(b, "text", "") for b in blocks if getattr(b, "type", "") == "text")
        if stop == "refusal":
            return ProviderResponse(text, usage, version, finish, blocked="refusal")
        return ProviderResponse(text, usage, version, finish)


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    fresh = int(usage.input_tokens or 0)
    read = int(getattr(usage, "cache_read_input_tokens", None) or 0)
    written = int(getattr(usage, "cache_creation_input_tokens", None) or 0)
    output = int(usage.output_tokens or 0)
    details = getattr(usage, "output_tokens_details", None)
    thinking = int(getattr(details, "thinking_tokens", None) or 0)
    return Usage(input_tokens={"text": fresh + read + written}, output_tokens=output - thinking,
                 thinking_tokens=thinking, cached_tokens=read)


__all__ = ["CAN_SEND", "LOCAL_PLACEHOLDER_KEY", "AnthropicProvider"]
