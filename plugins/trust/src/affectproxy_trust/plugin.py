"""Entry-point module: registers the ``trust`` evaluator. Imports no LLM SDK (providers load on first call)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import affectproxy as ap


def _make(**options: Any) -> Any:
    from affectproxy_trust.evaluator import TrustEvaluator

    return TrustEvaluator(**options)


def _check() -> ap.CheckResult:
    """Whether the default panel can run here (an instance checks its own panel: ``TrustEvaluator.check``)."""
    from affectproxy_trust.evaluator import TrustEvaluator

    return TrustEvaluator().check()


@ap.hookimpl
def affectproxy_evaluators() -> Iterator[ap.EvaluatorSpec]:
    yield ap.EvaluatorSpec(
        name="trust",
        factory=_make,
        summary="TRUST advocate ensemble: advocate LLMs with adversarial roles score Pathos (-2..+2); "
        "a supervisor aggregates (median, mean or an LLM)",
        extra="pip install affectproxy-trust affectproxy-gemini affectproxy-openai affectproxy-anthropic",
        check=_check,
    )
