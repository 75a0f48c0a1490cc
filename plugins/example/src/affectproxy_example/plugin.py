"""Entry-point module: registers the evaluator. Imports nothing heavy, so listing evaluators stays fast."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import affectproxy as ap


def _make(**options: Any) -> ap.Evaluator:
    from affectproxy_example.loudness import LoudnessEvaluator  # the heavy part would be imported here

    return LoudnessEvaluator(**options)


@ap.hookimpl
def affectproxy_evaluators() -> Iterator[ap.EvaluatorSpec]:
    yield ap.EvaluatorSpec(
        name="loudness",
        factory=_make,
        summary="RMS level as a crude arousal proxy (example plugin)",
        requires=("numpy",),
        extra="pip install affectproxy-example",
    )
