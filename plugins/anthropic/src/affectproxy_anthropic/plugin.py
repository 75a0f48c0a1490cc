"""Entry-point module: registers the ``anthropic`` LLM provider. Imports nothing heavy (the SDK loads on first
call)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import affectproxy as ap
from affectproxy.llm.types import Provider, ProviderSpec
from affectproxy_anthropic.prices import PRICES


class ProviderOptionError(ap.AffectProxyError, ValueError):
    """An unknown option for the ``anthropic`` provider."""


def _make(**options: Any) -> Provider:
    import difflib
    import inspect

    from affectproxy_anthropic.provider import AnthropicProvider

    valid = [p for p in inspect.signature(AnthropicProvider).parameters if p != "name"]
    for key in options:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ProviderOptionError(f"Unknown anthropic provider option {key!r}.{hint} Valid: {', '.join(valid)}.")
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
