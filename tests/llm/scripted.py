"""A scripted LLM provider registered through the real hook, for testing the layer's logic on its own.

Loaded by conftest.py as the module ``llm_scripted`` (tests import it by that name).

The provider is a plugin like any other (a test double for a vendor, not a mock of our code): it answers from a
script and records every request it was sent. End-to-end tests with the real google-genai SDK live in
plugins/gemini/tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import affectproxy as ap
from affectproxy.llm.types import LLMRequest, Part, Price, PriceTable, ProviderResponse, ProviderSpec, Usage

SCHEMA = {
    "type": "object",
    "properties": {"valence": {"type": "number", "minimum": -1, "maximum": 1}, "word": {"type": "string"}},
    "required": ["valence"],
    "additionalProperties": False,
}

#: USD per 1M tokens, made up for the tests (not the shipped table)
PRICE = Price(input={"text": 0.5, "audio": 2.0}, output=4.0)

Behaviour = Callable[[LLMRequest, int], ProviderResponse]


def answer(text: str = '{"valence": 0.25}', *, audio: int = 320, text_tokens: int = 100, output: int = 20,
           thinking: int = 0, version: str = "scripted-001", blocked: str = "", finish: str = "stop"
           ) -> ProviderResponse:
    return ProviderResponse(text, Usage({"audio": audio, "text": text_tokens}, output, thinking), version, finish,
                            blocked)


class ScriptedProvider:
    """Answers with ``behaviour(request, n)`` (n counts this provider's calls from 0); records requests."""

    name = "scripted"

    def __init__(self, behaviour: Behaviour, delay: float = 0.0, can_send: frozenset[str] | None = None,
                 **options: Any) -> None:
        self.behaviour = behaviour
        self.delay = delay
        self.can_send = can_send if can_send is not None else frozenset(
            {"system", "schema", "temperature", "seed", "max_output_tokens", "audio", "file"})
        self.options = options
        self.requests: list[LLMRequest] = []
        self.timeouts: list[float] = []
        self.in_flight = 0
        self.max_seen = 0
        self.closed = False
        self._lock = threading.Lock()

    def generate(self, request: LLMRequest, *, timeout: float) -> ProviderResponse:
        with self._lock:
            n = len(self.requests)
            self.requests.append(request)
            self.timeouts.append(timeout)
            self.in_flight += 1
            self.max_seen = max(self.max_seen, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            return self.behaviour(request, n)
        finally:
            with self._lock:
                self.in_flight -= 1

    def close(self) -> None:
        self.closed = True


class Vendor:
    """The plugin: builds ScriptedProviders with the current behaviour and remembers them."""

    def __init__(self) -> None:
        self.behaviour: Behaviour = lambda request, n: answer()
        self.delay = 0.0
        self.can_send: frozenset[str] | None = None
        self.built: list[ScriptedProvider] = []
        self.prices = PriceTable({"scripted-model": PRICE}, date="2026-11-29", source="tests")

    @property
    def provider(self) -> ScriptedProvider:
        """The last provider built (pluggy looks at every attribute of a plugin: this must not raise)."""
        return self.built[-1] if self.built else None  # type: ignore[return-value]

    @property
    def sent(self) -> list[LLMRequest]:
        return [r for p in self.built for r in p.requests]

    @ap.hookimpl
    def affectproxy_llm_providers(self) -> Iterator[ProviderSpec]:
        def factory(**options: Any) -> ScriptedProvider:
            p = ScriptedProvider(self.behaviour, self.delay, self.can_send, **options)
            self.built.append(p)
            return p

        yield ProviderSpec(name="scripted", factory=factory, prices=self.prices, audio_tokens_per_second=32)


def request(segment: str = "s1", text: str = "Rate this.", **kw: Any) -> LLMRequest:
    kw.setdefault("schema", SCHEMA)
    return LLMRequest("scripted", kw.pop("model", "scripted-model"),
                      [Part("text", text=text), Part("audio", data=b"RIFF" + segment.encode(), mime_type="audio/wav",
                                                     seconds=10.0)],
                      system="You rate speech.", segment_ids=(segment,), **kw)
