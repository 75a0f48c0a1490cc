"""Entry-point module: registers the ``openai`` LLM provider. Imports nothing heavy (the SDK loads on first call)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import affectproxy as ap
from affectproxy.llm.types import Provider, ProviderSpec
from affectproxy_openai.prices import PRICES


class ProviderOptionError(ap.AffectProxyError, ValueError):
    """An unknown option for the ``openai`` provider."""


def _make(**options: Any) -> Provider:
    import difflib
    import inspect

    from affectproxy_openai.provider import OpenAIProvider

    valid = [p for p in inspect.signature(OpenAIProvider).parameters if p != "name"]
    for key in options:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ProviderOptionError(f"Unknown openai provider option {key!r}.{hint} Valid: {', '.join(valid)}.")
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
