"""Entry-point module: registers the ``gemini`` evaluator and the ``gemini`` LLM provider.

Imports nothing heavy: google-genai loads when a provider is built.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from importlib import resources
from typing import Any

import affectproxy as ap
from affectproxy.llm.types import Price, PriceTable, ProviderSpec

EXTRA = "pip install affectproxy-gemini"
KEY_HINT = "set GEMINI_API_KEY (or GOOGLE_API_KEY) to a Gemini API key (https://aistudio.google.com/apikey)"


def prices() -> PriceTable:
    """The shipped, dated and sourced price table (prices.toml in this package)."""
    data = tomllib.loads(resources.files("affectproxy_gemini").joinpath("prices.toml").read_text("utf-8"))
    table = {
        model: Price(input=dict(p["input"]), output=float(p["output"]), cached_input=p.get("cached_input"),
                     batch_factor=float(p.get("batch_factor", 0.5)))
        for model, p in data["models"].items()
    }
    return PriceTable(table, date=str(data["date"]), source=str(data["source"]))


def check_key() -> ap.CheckResult:
    """Whether a Gemini key is set in the environment."""
    from affectproxy_gemini.provider import find_key

    return ap.CheckResult(True) if find_key() else ap.CheckResult(False, f"no API key: {KEY_HINT}")


def _evaluator(**options: Any) -> ap.Evaluator:
    from affectproxy_gemini.evaluator import GeminiEvaluator

    return GeminiEvaluator(**options)


def _provider(**options: Any) -> Any:
    from affectproxy_gemini.provider import make_provider

    return make_provider(**options)


@ap.hookimpl
def affectproxy_evaluators() -> Iterator[ap.EvaluatorSpec]:
    yield ap.EvaluatorSpec(
        name="gemini",
        factory=_evaluator,
        summary="Gemini hears each segment (or the whole speech) with its transcript: arousal, valence, emotion "
                "word, rhetorical function",
        requires=("google.genai", "jsonschema"),
        extra=EXTRA,
        check=check_key,
    )


@ap.hookimpl
def affectproxy_llm_providers() -> Iterator[ProviderSpec]:
    yield ProviderSpec(
        name="gemini",
        factory=_provider,
        requires=("google.genai",),
        extra=EXTRA,
        check=check_key,
        prices=prices(),
        audio_tokens_per_second=32,
    )
