"""The LLM layer's nouns: what an LLM evaluator asks (:class:`LLMRequest`), what a provider answers
(:class:`ProviderResponse`), and what the layer hands back (:class:`LLMAnswer`); the provider contract.

Providers (plugins, registered through ``affectproxy_llm_providers``) only turn one request into text plus usage.
Everything around that (concurrency and rate limits, retries honouring Retry-After, timeouts, JSON-schema
validation with repair retries, the response cache, cost accounting, the call log) belongs to the layer
(:mod:`affectproxy.llm.layer`) and is written once for every provider.

LLM evaluators do not call the network: they turn segments into requests and answers into estimates::

    class MyRater:
        name = "myrater"; dimensions = (ap.Dimension("valence"),); sample_rate = 16000; min_duration = 0.2
        def fingerprint(self): ...
        def requests(self, segments, context) -> list[LLMRequest]: ...
        def read(self, segments, answers) -> list[EmotionEstimate | Exception] | FollowUp: ...

The engine runs the requests through the layer (online, as provider batch jobs, as dry-run estimates, or on a
cluster) without the evaluator knowing which.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import attrs

from affectproxy.evaluator import CheckResult
from affectproxy.hashing import canonical_json

if TYPE_CHECKING:
    import numpy as np

    from affectproxy.model import EmotionEstimate, Segment

PartKind = Literal["text", "audio", "file"]

#: Request options a provider may or may not be able to send (see :attr:`Provider.can_send`).
REQUEST_OPTIONS = ("system", "schema", "temperature", "seed", "max_output_tokens", "audio", "file")


def _parts(value: Iterable[Part]) -> tuple[Part, ...]:
    return tuple(value)


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _requests(value: Iterable[LLMRequest]) -> tuple[LLMRequest, ...]:
    return tuple(value)


@attrs.frozen
class Part:
    """One piece of a request's content.

    Attributes:
        kind: ``"text"``, ``"audio"`` (encoded bytes sent inline) or ``"file"`` (an uploaded file's URI).
        text: the text of a text part.
        data: the encoded bytes of an audio part (e.g. FLAC or WAV), never base64.
        mime_type: the MIME type of ``data`` or of the uploaded file (``"audio/flac"``).
        uri: an uploaded file's URI (``kind="file"``).
        seconds: the audio's duration (for token estimates; audio costs tokens per second).
        sha256: hash of ``data`` (or of the uploaded file's bytes); set automatically for audio parts. The cache
            key uses it instead of the bytes, and a file part's URI (which changes per upload) is left out.
    """

    kind: PartKind
    text: str = ""
    data: bytes = attrs.field(default=b"", repr=lambda b: f"<{len(b)} bytes>")
    mime_type: str = ""
    uri: str = ""
    seconds: float = 0.0
    sha256: str = ""

    def __attrs_post_init__(self) -> None:
        if self.kind == "audio" and self.data and not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())

    def key(self) -> dict[str, Any]:
        """What identifies this part's content in a cache key (bytes by hash, no upload URI)."""
        if self.kind == "text":
            return {"text": self.text}
        return {"kind": self.kind, "sha256": self.sha256, "mime_type": self.mime_type}


@attrs.frozen
class LLMRequest:
    """One call to a model, as an LLM evaluator asks for it.

    Attributes:
        provider: the registered provider name (``"gemini"``, ``"openai"``, ``"anthropic"``, ...).
        model: the provider's model id (``"gemini-2.5-flash"``).
        parts: the user content, in order (text, audio bytes, uploaded files).
        system: the system prompt (instructions), kept apart from untrusted content.
        schema: the JSON schema the answer must satisfy; the layer validates every answer against it.
        temperature, seed, max_output_tokens: sent when the provider can send them (see ``can_send``).
        options: provider-specific options that change the answer (``{"thinking_budget": 0}``); part of the cache
            key. Never put a key here.
        provider_options: how to reach the provider (``{"base_url": ..., "api_version": ...}``); selects a provider
            instance, not part of the cache key. Never put a key here either (keys come from the environment or
            the provider's own options given to the layer).
        segment_ids: the segments this request is about (for the call log and failure messages).
        tag: a short label (``"segment"``, ``"advocate:legitimising"``, ``"supervisor"``) for the call log.
        prompt_version: a hash of the prompt file(s) the request was built from (part of the cache key).
        expected_output_tokens: the evaluator's estimate of the answer's length (for dry runs and budgets).
        repeat: which repetition of the same question this is (``0`` for the first); asking k times with
            ``repeat=0..k-1`` gives k independently paid and cached answers (test-retest reliability). Part of the
            cache key only when non-zero, so keys of single answers do not change.
    """

    provider: str
    model: str
    parts: tuple[Part, ...] = attrs.field(converter=_parts)
    system: str = ""
    schema: Mapping[str, Any] | None = attrs.field(default=None, eq=False)
    temperature: float | None = None
    seed: int | None = None
    max_output_tokens: int | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict, eq=False)
    provider_options: Mapping[str, Any] = attrs.field(factory=dict, eq=False)
    segment_ids: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    tag: str = ""
    prompt_version: str = ""
    expected_output_tokens: int = 256
    repeat: int = 0

    def cache_key(self) -> str:
        """A stable hash of everything that determines the answer: provider, model, prompt version, system
        prompt, schema, each part's content (audio by hash), temperature, seed, output limit and options."""
        parts = {
            "provider": self.provider,
            "model": self.model,
            "prompt_version": self.prompt_version,
            "system": self.system,
            "schema": self.schema,
            "parts": [p.key() for p in self.parts],
            "temperature": self.temperature,
            "seed": self.seed,
            "max_output_tokens": self.max_output_tokens,
            "options": dict(self.options),
        }
        if self.repeat:
            parts["repeat"] = self.repeat
        return hashlib.sha256(canonical_json(parts).encode()).hexdigest()


@attrs.frozen
class Usage:
    """Tokens one call used, in the layer's terms.

    Attributes:
        input_tokens: modality (``"text"``, ``"audio"``, ``"image"``, ...) -> prompt tokens; a provider that does
            not split by modality reports everything under ``"text"``.
        output_tokens: answer tokens, excluding thinking.
        thinking_tokens: reasoning tokens billed as output.
        cached_tokens: prompt tokens served from the provider's context cache (billed at the cached rate).
    """

    input_tokens: Mapping[str, int] = attrs.field(factory=dict)
    output_tokens: int = 0
    thinking_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_input(self) -> int:
        return sum(self.input_tokens.values())


@attrs.frozen
class ProviderResponse:
    """What a provider returns for one call.

    Attributes:
        text: the answer's text (JSON when a schema was given); empty when blocked.
        usage: tokens used.
        model_version: the model version the API reports (``"gemini-2.5-flash-001"``), or "".
        finish_reason: the API's finish reason, normalised to lower case (``"stop"``, ``"max_tokens"``,
            ``"safety"``, ...).
        blocked: why there is no answer (a safety block, no candidates), or "" for an answer.
    """

    text: str
    usage: Usage = attrs.field(factory=Usage)
    model_version: str = ""
    finish_reason: str = ""
    blocked: str = ""


@attrs.frozen
class LLMAnswer:
    """What the layer hands an evaluator back for one request.

    Attributes:
        request: the request.
        data: the schema-validated JSON answer; None when the call failed.
        text: the final answer's raw text.
        error: why there is no valid answer (spent retries, a safety block, an invalid answer after repairs), or "".
        cached: True when served from the response cache (nothing paid now).
        usage: tokens of every attempt for this request (repairs included); None when cached.
        cost: USD of every attempt, None when the price is unknown (0.0 when cached).
        model_version: the model version the API reported.
        exception: the exception behind ``error`` (a :class:`~affectproxy.errors.ServiceError` subclass, or
            :class:`~affectproxy.llm.validate.InvalidAnswerError` / :class:`~affectproxy.llm.validate.BlockedError`),
            for evaluators that return it as the segment's failure; None for an answer.
    """

    request: LLMRequest
    data: Any = None
    text: str = ""
    error: str = ""
    cached: bool = False
    usage: Usage | None = None
    cost: float | None = None
    model_version: str = ""
    exception: BaseException | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def ok(self) -> bool:
        return not self.error


@attrs.frozen
class FollowUp:
    """A further round of requests that depends on the first round's answers (e.g. a supervisor reading the
    advocates' arguments). ``read`` receives that round's answers and returns estimates or another FollowUp."""

    requests: tuple[LLMRequest, ...] = attrs.field(converter=_requests)
    read: Callable[[Sequence[LLMAnswer]], Sequence[EmotionEstimate | BaseException] | FollowUp]


class RequestContext(Protocol):
    """What the core gives an LLM evaluator besides the segments of one call."""

    def neighbours(self, segment: Segment) -> tuple[Segment | None, Segment | None]:
        """The previous and next segment of the same recording (by start time), never across recordings."""
        ...

    def recording_audio(self, recording_id: str) -> np.ndarray:
        """The whole recording's float32 mono audio at the evaluator's ``sample_rate`` (read by the core)."""
        ...


@runtime_checkable
class LLMEvaluator(Protocol):
    """An evaluator whose work is LLM requests (duck-typed; the engine checks for ``requests``)."""

    name: str

    def requests(self, segments: Sequence[Segment], context: RequestContext) -> list[LLMRequest]:
        """The requests for these segments (one or more per segment, or one for a whole group)."""
        ...

    def read(self, segments: Sequence[Segment], answers: Sequence[LLMAnswer]
             ) -> Sequence[EmotionEstimate | BaseException] | FollowUp:
        """One estimate (or the exception that explains its failure) per segment, in order; or a FollowUp."""
        ...


@runtime_checkable
class Provider(Protocol):
    """Turns one :class:`LLMRequest` into a :class:`ProviderResponse`; nothing more.

    Attributes:
        name: the registered provider name.
        can_send: which of :data:`REQUEST_OPTIONS` it can send; the layer notes once when a request sets an
            option the provider cannot send, and records what was actually sent.

    ``generate`` raises :class:`affectproxy.errors.RateLimitError` (with ``retry_after`` from the response),
    :class:`~affectproxy.errors.ServiceUnavailableError` (5xx, connection errors),
    :class:`~affectproxy.errors.ServiceTimeoutError`, :class:`~affectproxy.errors.AuthenticationError`, or
    :class:`~affectproxy.errors.ServiceError` for another refusal (a 400 naming what was wrong); it never retries
    by itself (the SDK's own retries are off) and never puts a key into a message.
    """

    name: str
    can_send: frozenset[str]

    def generate(self, request: LLMRequest, *, timeout: float) -> ProviderResponse: ...


@attrs.frozen
class Price:
    """USD per one million tokens for one model (list prices; ``batch_factor`` for batch jobs).

    Attributes:
        input: modality -> USD per 1M input tokens (``{"text": 0.30, "audio": 1.00}``); ``"text"`` is the
            fallback for modalities not listed.
        output: USD per 1M output tokens (thinking included).
        cached_input: USD per 1M cached input tokens, if the provider bills them apart.
        batch_factor: multiplier for batch jobs (0.5 = half price).
    """

    input: Mapping[str, float]
    output: float
    cached_input: float | None = None
    batch_factor: float = 0.5

    def cost(self, usage: Usage, *, batch: bool = False) -> float:
        """USD for one call's usage."""
        total = 0.0
        cached = usage.cached_tokens
        for modality, n in usage.input_tokens.items():
            total += n * self.input.get(modality, self.input.get("text", 0.0))
        if cached and self.cached_input is not None:
            total -= cached * (self.input.get("text", 0.0) - self.cached_input)
        total += (usage.output_tokens + usage.thinking_tokens) * self.output
        return total / 1e6 * (self.batch_factor if batch else 1.0)


@attrs.frozen
class PriceTable:
    """A provider's dated, sourced list of prices. Models missing from it cost "unknown" (None).

    Attributes:
        prices: model id -> :class:`Price`; a model id also matches its versioned ids (``gemini-2.5-flash-001``,
            ``...@001``: the id followed by ``-`` and a digit, or ``@``), never another model that merely starts
            with it (``gemini-2.5-flash-lite`` is not ``gemini-2.5-flash``).
        date: when the prices were read (ISO date).
        source: where they come from (a URL or document name).
    """

    prices: Mapping[str, Price]
    date: str = ""
    source: str = ""

    def get(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        for name in sorted(self.prices, key=len, reverse=True):
            rest = model[len(name):]
            if model.startswith(name) and (rest.startswith("@") or (rest[:1] == "-" and rest[1:2].isdigit())):
                return self.prices[name]
        return None


def _no_check() -> CheckResult:
    return CheckResult(True)


@attrs.frozen
class ProviderSpec:
    """A plugin's registration of one LLM provider (yielded by ``affectproxy_llm_providers``).

    Args:
        name: the provider name used in requests (``"gemini"``).
        factory: called with provider options (``base_url``, ``api_key``, ``api_version``, ...) to build a
            :class:`Provider`; imports nothing heavy until called.
        requires: import names needed (checked with ``importlib.util.find_spec``).
        extra: what to ``pip install`` when something is missing.
        check: says whether it can run here (a key is set) and if not which variable to set.
        prices: the provider's price table.
        audio_tokens_per_second: how many input tokens one second of audio costs (None: no audio input).
    """

    name: str
    factory: Callable[..., Provider]
    requires: tuple[str, ...] = attrs.field(default=(), converter=lambda v: (v,) if isinstance(v, str) else tuple(v))
    extra: str = ""
    check: Callable[[], CheckResult] = _no_check
    prices: PriceTable = attrs.field(factory=lambda: PriceTable({}))
    audio_tokens_per_second: float | None = None


__all__ = [
    "REQUEST_OPTIONS",
    "FollowUp",
    "LLMAnswer",
    "LLMEvaluator",
    "LLMRequest",
    "Part",
    "Price",
    "PriceTable",
    "Provider",
    "ProviderResponse",
    "ProviderSpec",
    "RequestContext",
    "Usage",
]
