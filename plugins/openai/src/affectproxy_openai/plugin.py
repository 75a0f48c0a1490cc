"""Entry-point module: registers the ``openai`` LLM provider. Imports nothing heavy (the SDK loads on first call)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import affectproxy as ap
from affectproxy.llm.providers import check_options
from affectproxy.llm.types import Provider, ProviderSpec
from affectproxy_openai.prices import PRICES


def _make(**options: Any) -> Provider:
    from affectproxy_openai.provider import OpenAIProvider

    check_options("openai", OpenAIProvider, options)
    return OpenAIProvider(**options)


def _check() -> ap.CheckResult:
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return ap.CheckResult(True)
    return ap.CheckResult(False, "set OPENAI_API_KEY (or OPENAI_BASE_URL for a local OpenAI-compatible server)")


@ap.hookimpl
def affectproxy_llm_providers() -> Iterator[ProviderSpec]:
    yield ProviderSpec(
        name="openai",
        factory=_make,
        requires=("openai",),
        extra="pip install affectproxy-openai",
        check=_check,
        prices=PRICES,
    )
