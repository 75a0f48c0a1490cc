"""Plugin hooks (pluggy project name ``affectproxy``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pluggy

from affectproxy.evaluator import EvaluatorSpec

hookspec = pluggy.HookspecMarker("affectproxy")
hookimpl = pluggy.HookimplMarker("affectproxy")


@hookspec
def affectproxy_evaluators() -> Iterator[EvaluatorSpec]:  # type: ignore[empty-body]
    """Yield one :class:`affectproxy.EvaluatorSpec` per evaluator the plugin provides.

    Keep the module importable without heavy packages: import them inside the factory.

    Example (a whole plugin module, registered under the entry-point group ``affectproxy``)::

        import affectproxy as ap

        @ap.hookimpl
        def affectproxy_evaluators():
            yield ap.EvaluatorSpec(
                name="loudness",
                factory=lambda **options: Loudness(**options),
                summary="RMS level as a crude arousal proxy",
            )
    """
    yield from ()


@hookspec
def affectproxy_llm_providers() -> Iterator[Any]:  # type: ignore[empty-body]
    """Yield LLM provider specs, so LLM evaluators share one way to call a model (structured output, retries,
    rate limits, cache, cost accounting)."""
    yield from ()
