"""The ``gemini`` LLM provider: one :class:`~affectproxy.llm.types.LLMRequest` -> one generateContent call through
google-genai, nothing more (the layer owns retries, limits, validation, the cache and cost).

- The SDK's own retries stay off (it ignores Retry-After); errors map to the ServiceError family: 429 ->
  RateLimitError with the Retry-After header (or the body's RetryInfo delay), 5xx and dropped connections ->
  ServiceUnavailableError, timeouts -> ServiceTimeoutError, 401/403 and an invalid key -> AuthenticationError,
  any other 4xx -> ServiceError with Google's message. The key never appears in a message.
- Audio parts up to ``inline_limit`` bytes go inline (base64); larger ones are uploaded through the Files API
  (resumable upload, polled until ACTIVE), reused while they live (one upload per distinct audio), and deleted
  at :meth:`GeminiProvider.close` unless ``keep_files``.
- ``api_version`` defaults to ``v1beta``: a public google-genai issue reports ``v1`` rejecting
  ``systemInstruction``, ``responseMimeType`` and ``thinkingConfig``, all of which we send.
"""

from __future__ import annotations

import io
import os
import re
import threading
import time
from typing import Any

from affectproxy.errors import (
    AuthenticationError,
    RateLimitError,
    ServiceError,
    ServiceTimeoutError,
    ServiceUnavailableError,
)
from affectproxy.llm.batchmode import BatchViaModule, request_bytes
from affectproxy.llm.types import REQUEST_OPTIONS, LLMRequest, Part, ProviderResponse, Usage

DEFAULT_API_VERSION = "v1beta"
#: Raw bytes above which audio is uploaded instead of sent inline (inline requests are limited to 20 MB, and
#: base64 makes them a third larger).
INLINE_LIMIT = 14 * 1024 * 1024
#: Uploaded files live 48 h; reuse one for at most this long.
FILE_REUSE_SECONDS = 46 * 3600
KEY_VARIABLES = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
BASE_URL_VARIABLE = "GOOGLE_GEMINI_BASE_URL"
_BLOCKING = {"safety", "recitation", "blocklist", "prohibited_content", "spii", "image_safety", "language"}


_WARM = threading.Lock()
_warmed = False


def _warm_types(types: Any) -> None:
    """Build the SDK's pydantic models once, on one thread.

    google-genai's models finish building their validators on first use (about 2 s of CPU here); 16 threads
    making their first request at once would each do it, all together.
    """
    global _warmed
    with _WARM:
        if _warmed:
            return
        types.GenerateContentConfig(
            system_instruction="x", response_mime_type="application/json", response_json_schema={"type": "object"},
            temperature=0.0, seed=0, max_output_tokens=1, thinking_config=types.ThinkingConfig(thinking_budget=0),
            http_options=types.HttpOptions(timeout=1000),
        )
        types.Content(role="user", parts=[types.Part(text="x"), types.Part(inline_data=types.Blob(data=b"x",
                                                                                                   mime_type="a/b")),
                                          types.Part(file_data=types.FileData(file_uri="x", mime_type="a/b"))])
        types.GenerateContentResponse.model_validate({
            "candidates": [{"content": {"parts": [{"text": "x"}], "role": "model"}, "finish_reason": "STOP"}],
            "usage_metadata": {"prompt_token_count": 1, "prompt_tokens_details": [{"modality": "TEXT",
                                                                                   "token_count": 1}]},
        })
        _warmed = True


def find_key(api_key: str | None = None) -> str | None:
    """The key to use: the argument, then GOOGLE_API_KEY, then GEMINI_API_KEY (the SDK's order)."""
    if api_key:
        return api_key
    for name in KEY_VARIABLES:
        if os.environ.get(name):
            return os.environ[name]
    return None


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is not None:
        value = headers.get("retry-after")
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                pass
    details = getattr(exc, "details", None)
    try:
        for item in (details or {}).get("error", {}).get("details", []) or []:
            delay = item.get("retryDelay")
            if isinstance(delay, str) and delay.endswith("s"):
                return max(0.0, float(delay[:-1]))
    except (AttributeError, TypeError, ValueError):
        pass
    return None


class GeminiProvider(BatchViaModule):
    """Calls Gemini models through google-genai (Developer API).

    Args:
        api_key: the key; default GOOGLE_API_KEY, then GEMINI_API_KEY. Never stored or logged.
        base_url: another endpoint; default GOOGLE_GEMINI_BASE_URL, else Google's.
        api_version: the REST version (default ``v1beta``; see the module docstring).
        keep_files: keep uploaded audio files at :meth:`close` (default: delete them).
        inline_limit: audio bytes above which audio is uploaded (default 14 MiB).
        file_wait: seconds to wait for an upload to become ACTIVE (default 300).

    Raises:
        AuthenticationError: no key was found (the message names the variables to set).
    """

    batch_module = "affectproxy_gemini.batch"  # batch jobs at half price (affectproxy.llm.batchmode)
    #: Inlined batch requests must stay under 20 MB per job (ai.google.dev/gemini-api/docs/batch-mode).
    batch_max_bytes = 20_000_000

    name = "gemini"
    can_send = frozenset(REQUEST_OPTIONS)

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None,
                 api_version: str | None = None, keep_files: bool = False, inline_limit: int = INLINE_LIMIT,
                 file_wait: float = 300.0) -> None:
        key = find_key(api_key)
        if not key:
            raise AuthenticationError(
                "No Gemini API key: set GEMINI_API_KEY (or GOOGLE_API_KEY) in the environment, or pass api_key "
                "to the llm options. Get one at https://aistudio.google.com/apikey."
            )
        from google.genai import types

        _warm_types(types)
        self._types = types
        self._key = key
        self.base_url = base_url or os.environ.get(BASE_URL_VARIABLE) or None
        self.api_version = api_version or DEFAULT_API_VERSION
        self.keep_files = bool(keep_files)
        self.inline_limit = int(inline_limit)
        self.file_wait = float(file_wait)
        self._sdk: Any = None  # the genai.Client, built on first use and closed by close()
        self._files: dict[str, tuple[str, str, float]] = {}  # sha256 -> (name, uri, uploaded at)
        self._file_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    @property
    def _client(self) -> Any:
        """The SDK client (built on first use; after :meth:`close`, a new one)."""
        with self._lock:
            if self._sdk is None:
                from google import genai

                self._sdk = genai.Client(
                    api_key=self._key, vertexai=False,
                    http_options=self._types.HttpOptions(base_url=self.base_url, api_version=self.api_version,
                                                         retry_options=None),
                )
            return self._sdk

    def __repr__(self) -> str:
        return f"GeminiProvider(base_url={self.base_url!r}, api_version={self.api_version!r})"

    # -- errors ----------------------------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "<key>") if self._key else text

    def _map(self, exc: BaseException, what: str) -> BaseException:
        from google.genai import errors

        if isinstance(exc, ServiceError):
            return exc
        if isinstance(exc, errors.APIError):
            code = int(exc.code or 0)
            message = self._scrub(f"{what}: HTTP {code} {exc.status or ''}: {exc.message or ''}".strip())
            invalid_key = code == 400 and ("API_KEY_INVALID" in str(exc.details) or "API key not valid" in str(exc))
            if (code in (401, 403) and "File" not in (exc.message or "")) or invalid_key:
                return AuthenticationError(message + ". Check GEMINI_API_KEY / GOOGLE_API_KEY.")
            if code == 429:
                return RateLimitError(message, retry_after=_retry_after(exc))
            if code == 408:
                return ServiceTimeoutError(message)
            if code >= 500:
                return ServiceUnavailableError(message, retry_after=_retry_after(exc))
            return ServiceError(message)
        name = type(exc).__name__
        module = type(exc).__module__
        if "Timeout" in name or isinstance(exc, TimeoutError):
            return ServiceTimeoutError(self._scrub(f"{what}: no answer in time ({name})"))
        if module.startswith(("httpx", "httpcore", "h11")) or isinstance(exc, ConnectionError):
            return ServiceUnavailableError(self._scrub(f"{what}: connection failed ({name}: {exc})"))
        return ServiceError(self._scrub(f"{what}: {name}: {exc}"))

    # -- files -----------------------------------------------------------------------------------------------
    def upload(self, data: bytes, mime_type: str, sha256: str, *, timeout: float) -> tuple[str, str]:
        """Upload audio once per content hash (reused while it lives) and wait until ACTIVE; (name, uri)."""
        with self._lock:
            lock = self._file_locks.setdefault(sha256, threading.Lock())
        with lock:
            known = self._files.get(sha256)
            if known is not None and time.time() - known[2] < FILE_REUSE_SECONDS:
                return known[0], known[1]
            types = self._types
            try:
                file = self._client.files.upload(
                    file=io.BytesIO(data),
                    config=types.UploadFileConfig(mime_type=mime_type, display_name=f"affectproxy-{sha256[:16]}",
                                                  http_options=types.HttpOptions(timeout=int(timeout * 1000))),
                )
                deadline = time.monotonic() + self.file_wait
                pause = 0.05
                while str(getattr(file.state, "value", file.state)) != "ACTIVE":
                    state = str(getattr(file.state, "value", file.state))
                    if state == "FAILED":
                        raise ServiceError(f"Gemini could not process the uploaded audio {file.name}: "
                                           f"{getattr(file, 'error', '')}")
                    if time.monotonic() > deadline:
                        raise ServiceTimeoutError(f"The uploaded audio {file.name} was not ACTIVE after "
                                                  f"{self.file_wait:.0f} s.")
                    time.sleep(pause)
                    pause = min(pause * 2, 5.0)
                    file = self._client.files.get(name=str(file.name))
            except Exception as exc:
                raise self._map(exc, "Gemini file upload") from None
            entry = (str(file.name), str(file.uri), time.time())
            self._files[sha256] = entry
            return entry[0], entry[1]

    def batch_request_bytes(self, request: LLMRequest) -> int:
        """A request's share of a job's 20 MB: audio over ``inline_limit`` is uploaded, so it adds only its URI."""
        return request_bytes(request, self.inline_limit)

    def close(self) -> None:
        """Delete the files this provider uploaded (unless ``keep_files``), then close the SDK client's
        connections (a later call opens a new client)."""
        with self._lock:
            files = list(self._files.values())
            self._files.clear()
        try:
            for name, _, _ in [] if self.keep_files else files:
                try:
                    self._client.files.delete(name=name)
                except Exception as exc:
                    raise self._map(exc, f"deleting the uploaded file {name}") from None
        finally:
            with self._lock:
                sdk, self._sdk = self._sdk, None
            if sdk is not None:
                sdk.close()

    # -- one call --------------------------------------------------------------------------------------------
    def _part(self, part: Part, timeout: float) -> Any:
        types = self._types
        if part.kind == "text":
            return types.Part(text=part.text)
        if part.kind == "file":
            return types.Part(file_data=types.FileData(file_uri=part.uri, mime_type=part.mime_type or None))
        if len(part.data) > self.inline_limit:
            _, uri = self.upload(part.data, part.mime_type, part.sha256, timeout=timeout)
            return types.Part(file_data=types.FileData(file_uri=uri, mime_type=part.mime_type))
        return types.Part(inline_data=types.Blob(data=part.data, mime_type=part.mime_type))

    def config(self, request: LLMRequest, timeout: float) -> Any:
        """The GenerateContentConfig sent for ``request``."""
        types = self._types
        options = dict(request.options)
        thinking = options.pop("thinking_budget", None)
        if options:
            raise ServiceError(f"The gemini provider does not know the request option(s) {sorted(options)}; "
                               "it takes thinking_budget.")
        return types.GenerateContentConfig(
            system_instruction=request.system or None,
            response_mime_type="application/json" if request.schema is not None else None,
            response_json_schema=dict(request.schema) if request.schema is not None else None,
            temperature=request.temperature,
            seed=request.seed,
            max_output_tokens=request.max_output_tokens,
            thinking_config=None if thinking is None else types.ThinkingConfig(thinking_budget=int(thinking)),
            http_options=types.HttpOptions(timeout=max(1, int(timeout * 1000))),
        )

    def generate(self, request: LLMRequest, *, timeout: float) -> ProviderResponse:
        """One generateContent call (see the module docstring for the error mapping)."""
        types = self._types
        what = f"Gemini {request.model}"
        try:
            parts = [self._part(p, timeout) for p in request.parts]
            response = self._client.models.generate_content(
                model=request.model, contents=[types.Content(role="user", parts=parts)],
                config=self.config(request, timeout),
            )
        except Exception as exc:
            raise self._map(exc, what) from None
        return read_response(response)

    def count_tokens(self, request: LLMRequest, *, timeout: float = 60.0) -> int:
        """The API's count of the request's prompt tokens (countTokens; the Developer API's count takes no system
        instruction, so the system prompt is counted as one more text part, first)."""
        types = self._types
        system = [Part("text", text=request.system)] if request.system else []
        try:
            parts = [self._part(p, timeout) for p in (*system, *request.parts)]
            result = self._client.models.count_tokens(model=request.model,
                                                      contents=[types.Content(role="user", parts=parts)])
        except Exception as exc:
            raise self._map(exc, f"Gemini {request.model} countTokens") from None
        return int(result.total_tokens or 0)


def _lower(value: Any) -> str:
    return str(getattr(value, "value", value) or "").lower()


def read_usage(meta: Any) -> Usage:
    """Usage in the layer's terms from ``usage_metadata`` (prompt tokens by modality)."""
    if meta is None:
        return Usage()
    total = int(meta.prompt_token_count or 0)
    by: dict[str, int] = {}
    for d in meta.prompt_tokens_details or []:
        modality = _lower(d.modality) or "text"
        by[modality] = by.get(modality, 0) + int(d.token_count or 0)
    rest = total - sum(by.values())
    if rest > 0:
        by["text"] = by.get("text", 0) + rest
    return Usage(by, int(meta.candidates_token_count or 0), int(meta.thoughts_token_count or 0),
                 int(meta.cached_content_token_count or 0))


def read_response(response: Any) -> ProviderResponse:
    """A ProviderResponse from a GenerateContentResponse: the answer's text (thoughts left out), usage, version,
    the finish reason, and why there is no answer when blocked."""
    usage = read_usage(response.usage_metadata)
    version = str(response.model_version or "")
    candidates = response.candidates or []
    if not candidates:
        feedback = response.prompt_feedback
        reason = _lower(getattr(feedback, "block_reason", None)) if feedback is not None else ""
        why = f"prompt blocked ({reason})" if reason else "no candidates in the answer"
        return ProviderResponse("", usage, version, "", why)
    cand = candidates[0]
    finish = _lower(cand.finish_reason)
    finish = {"max_tokens": "max_tokens", "stop": "stop"}.get(finish, finish)
    texts = [p.text for p in ((cand.content.parts or []) if cand.content else []) if p.text and not p.thought]
    text = "".join(texts)
    blocked = ""
    if finish in _BLOCKING:
        rated = [f"{_lower(r.category)}" for r in (cand.safety_ratings or []) if r.blocked]
        blocked = f"blocked by Gemini ({finish}{': ' + ', '.join(rated) if rated else ''})"
    elif not text:
        blocked = f"empty answer (finish reason {finish or 'none'})"
    return ProviderResponse(text, usage, version, finish, blocked)


_VERSION = re.compile(r"^v\d+(alpha|beta)?$")


def make_provider(**options: Any) -> GeminiProvider:
    """The provider factory registered with the ``gemini`` ProviderSpec."""
    from affectproxy.llm.providers import check_options

    check_options("gemini", GeminiProvider, options)
    version = options.get("api_version")
    if version is not None and not _VERSION.match(str(version)):
        raise ServiceError(f"gemini api_version {version!r} is not a REST version such as 'v1beta' or 'v1'.")
    return GeminiProvider(**options)


__all__ = ["DEFAULT_API_VERSION", "GeminiProvider", "find_key", "make_provider", "read_response", "read_usage"]
