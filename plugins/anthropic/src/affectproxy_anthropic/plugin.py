"""Entry-point module: registers the ``anthropic`` LLM provider. Imports nothing heavy (the SDK loads on first
call)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import affectproxy as ap
from affectproxy.llm.providers import check_options
from affectproxy.llm.types import Provider, ProviderSpec
from affectproxy_anthropic.prices import PRICES


def _make(**options: Any) -> Provider:
    from affectproxy_anthropic.provider import AnthropicProvider

    check_options("anthropic", AnthropicProvider, options)
    return AnthropicProvider(**options)


def _check() -> ap.CheckResult:
    if os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_BASE_URL"):
        return ap.CheckResult(True)
    return ap.CheckResult(False, "set ANTHROPIC_API_KEY")


@ap.hookimpl
def affectproxy_llm_providers() -> Iterator[ProviderSpec]:
    yield ProviderSpec(
        name="anthropic",
        factory=_make,
        requires=("anthropic",),
        extra="pip install affectproxy-anthropic",
        check=_check,
        prices=PRICES,
    )
