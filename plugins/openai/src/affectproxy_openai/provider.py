"""The ``openai`` provider: one chat-completions call per :class:`~affectproxy.llm.types.LLMRequest`.

Works with any server that speaks the OpenAI chat-completions API (OpenAI, Mistral, vLLM, Ollama): set
``base_url`` (or ``OPENAI_BASE_URL``). The SDK's own retries are off (``max_retries=0``); the LLM layer retries.
The ``openai`` package is imported on first use, never at import of this module.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Mapping
from typing import Any

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

#: What this provider sends (file parts are not supported by chat completions).
CAN_SEND = frozenset({"system", "schema", "temperature", "seed", "max_output_tokens", "audio"})

_AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/mpeg": "mp3",
                  "audio/mp3": "mp3"}
_OPENAI_URL = "https://api.openai.com/v1"
#: Sent as the key to a custom base_url when no key is set (local vLLM/Ollama servers need none).
LOCAL_PLACEHOLDER_KEY = "no-key-needed"


def strict_compatible(schema: Any) -> bool:
    """Whether OpenAI's strict structured-output mode accepts ``schema``: every object lists all its properties
    as required and forbids additional ones.

    Examples:
        >>> strict_compatible({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
        ...                    "additionalProperties": False})
        True
        >>> strict_compatible({"type": "object", "properties": {"a": {"type": "integer"}}})
        False
    """
    if isinstance(schema, Mapping):
        if schema.get("type") == "object" or "properties" in schema:
            props = schema.get("properties", {})
            if schema.get("additionalProperties") is not False or set(schema.get("required", ())) != set(props):
                return False
        return all(strict_compatible(v) for v in schema.values())
    if isinstance(schema, (list, tuple)):
        return all(strict_compatible(v) for v in schema)
    return True


class OpenAIProvider(BatchViaModule):
    """Calls ``chat.completions.create`` with the official SDK.

    Args:
        api_key: the key; default ``OPENAI_API_KEY``. With a custom ``base_url`` and no key, a placeholder is
            sent (local servers need none). Never stored, logged or put into a message.
        base_url: the API root (``http://localhost:8000/v1`` for vLLM); default ``OPENAI_BASE_URL``, then OpenAI.
        strict: send the JSON schema in strict mode: True, False, or None (default) for strict exactly when the
            schema allows it (see :func:`strict_compatible`).
        max_tokens_param: the body field that carries ``max_output_tokens`` (``"max_completion_tokens"``, the
            current name; some older servers want ``"max_tokens"``).
        organization, project: passed to the client.
        keep_files: accepted for uniformity with providers that upload files; this one uploads nothing.
        name: the provider name this instance answers to.
    """

    batch_module = "affectproxy_openai.batch"  # batch jobs at half price (affectproxy.llm.batchmode)
    #: A batch holds up to 50,000 requests in an input file of up to 200 MB (platform.openai.com/docs/guides/batch).
    batch_max_requests = 50_000
    batch_max_bytes = 200_000_000

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None, strict: bool | None = None,
                 max_tokens_param: str = "max_completion_tokens", organization: str | None = None,
                 project: str | None = None, keep_files: bool = False, name: str = "openai") -> None:
        self.name = name
        self.can_send = CAN_SEND
        self._api_key = api_key
        self._base_url = base_url
        self.strict = strict
        self.max_tokens_param = max_tokens_param
        self._organization = organization
        self._project = project
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIProvider(name={self.name!r}, base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        return self._base_url or os.environ.get("OPENAI_BASE_URL") or _OPENAI_URL

    def _key(self) -> str:
        key = self._api_key or os.environ.get("OPENAI_API_KEY")
        if key:
            return key
        if self.base_url.rstrip("/") != _OPENAI_URL:
            return LOCAL_PLACEHOLDER_KEY
        raise AuthenticationError(
            "No OpenAI API key: set OPENAI_API_KEY in the environment, or give llm={'openai': {'api_key': ...}} "
            "(or a base_url for a local OpenAI-compatible server)."
        )

    def client(self) -> Any:
        """The SDK client (built once, thread-safe; retries off)."""
        with self._lock:
            if self._client is None:
                import openai

                self._client = openai.OpenAI(api_key=self._key(), base_url=self.base_url, max_retries=0,
                                             organization=self._organization, project=self._project)
            return self._client

    def close(self) -> None:
        """Close the SDK client's connections (a later call opens a new client)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- request ---------------------------------------------------------------------------------------------
    def _content(self, request: LLMRequest) -> str | list[dict[str, Any]]:
        if all(p.kind == "text" for p in request.parts):
            return "\n\n".join(p.text for p in request.parts)
        content: list[dict[str, Any]] = []
        for part in request.parts:
            if part.kind == "text":
                content.append({"type": "text", "text": part.text})
            elif part.kind == "audio":
                fmt = _AUDIO_FORMATS.get(part.mime_type.lower())
                if fmt is None:
                    raise ServiceError(
                        f"Request {request.tag or request.segment_ids}: the openai provider sends audio as wav or "
                        f"mp3, got {part.mime_type!r}; encode the audio with format='wav'."
                    )
                content.append({"type": "input_audio",
                                "input_audio": {"data": base64.b64encode(part.data).decode("ascii"), "format": fmt}})
            else:
                raise ServiceError(
                    f"Request {request.tag or request.segment_ids}: the openai provider cannot send uploaded files "
                    f"({part.uri or part.mime_type}); send the audio inline instead."
                )
        return content

    def body(self, request: LLMRequest) -> dict[str, Any]:
        """The keyword arguments for ``chat.completions.create`` (without timeout)."""
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": self._content(request)})
        kwargs: dict[str, Any] = {"model": request.model, "messages": messages}
        if request.schema is not None:
            schema = dict(request.schema)
            strict = strict_compatible(schema) if self.strict is None else self.strict
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "answer", "schema": schema, "strict": strict}}
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.max_output_tokens is not None:
            kwargs[self.max_tokens_param] = request.max_output_tokens
        if request.options:
            kwargs["extra_body"] = dict(request.options)
        return kwargs

    # -- call ------------------------------------------------------------------------------------------------
    def generate(self, request: LLMRequest, *, timeout: float) -> ProviderResponse:
        """One call; raises the affectproxy.errors service errors, never retries."""
        import openai

        client = self.client()
        where = f"{self.name} model {request.model!r}"
        try:
            response = client.chat.completions.create(**self.body(request), timeout=timeout)
        except openai.APIStatusError as exc:
            raise self._status_error(exc, where) from None
        except openai.APITimeoutError:
            raise ServiceTimeoutError(f"{where}: no answer within {timeout:g} s; raise the layer's timeout.") from None
        except openai.APIConnectionError as exc:
            raise ServiceUnavailableError(
                f"{where}: cannot connect to {self.base_url} ({scrub(str(exc.__cause__ or exc), self._api_key)})."
            ) from None
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise ServiceUnavailableError(
                f"{where}: malformed response body from {self.base_url} ({scrub(str(exc), self._api_key)[:120]})."
            ) from None
        return self._read(response, where)

    def _status_error(self, exc: Any, where: str) -> ServiceError:
        status = int(exc.status_code)
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body.get("message") or (body.get("error") or {}).get("message") or exc.message or str(exc)
        message = scrub(str(detail), self._api_key)
        wait = retry_after(exc.response.headers if exc.response is not None else None)
        text = f"{where}: HTTP {status}: {message}"
        if status in (401, 403):
            return AuthenticationError(f"{text}. Check OPENAI_API_KEY (or the api_key provider option).")
        if status == 429:
            return RateLimitError(text, retry_after=wait)
        if status == 408:
            return ServiceTimeoutError(text, retry_after=wait)
        if status >= 500 or status == 409:
            return ServiceUnavailableError(text, retry_after=wait)
        return ServiceError(text, retry_after=wait)

    def _read(self, response: Any, where: str) -> ProviderResponse:
        choices = getattr(response, "choices", None)
        if choices is None:
            raise ServiceError(f"{where}: the server answered 200 without a chat completion "
                               f"({scrub(str(response), self._api_key)[:120]!r}); check base_url.")
        usage = _usage(getattr(response, "usage", None))
        version = str(getattr(response, "model", "") or "")
        if not choices:
            return ProviderResponse("", usage, version, "", blocked="no choices in the answer")
        choice = choices[0]
        finish = str(choice.finish_reason or "").lower()
        finish = {"length": "max_tokens"}.get(finish, finish)
        message = choice.message
        refusal = getattr(message, "refusal", None)
        if refusal:
            return ProviderResponse("", usage, version, finish, blocked=f"refusal: {refusal}")
        if finish == "content_filter":
            return ProviderResponse(message.content or "", usage, version, finish, blocked="content_filter")
        return ProviderResponse(message.content or "", usage, version, finish)


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    prompt = int(usage.prompt_tokens or 0)
    completion = int(usage.completion_tokens or 0)
    pd, cd = usage.prompt_tokens_details, usage.completion_tokens_details
    audio = int(getattr(pd, "audio_tokens", None) or 0)
    cached = int(getattr(pd, "cached_tokens", None) or 0)
    reasoning = int(getattr(cd, "reasoning_tokens", None) or 0)
    tokens = {"text": prompt - audio}
    if audio:
        tokens["audio"] = audio
    return Usage(input_tokens=tokens, output_tokens=completion - reasoning, thinking_tokens=reasoning,
                 cached_tokens=cached)


__all__ = ["CAN_SEND", "LOCAL_PLACEHOLDER_KEY", "OpenAIProvider", "strict_compatible"]
