"""Entry-point module: registers the ``prosody`` evaluator. Imports nothing heavy (opensmile loads on first use)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import affectproxy as ap


def _make(**options: Any) -> ap.Evaluator:
    from affectproxy_prosody.evaluator import ProsodyEvaluator

    return ProsodyEvaluator(**options)


@ap.hookimpl
def affectproxy_evaluators() -> Iterator[ap.EvaluatorSpec]:
    yield ap.EvaluatorSpec(
        name="prosody",
        factory=_make,
        summary="openSMILE eGeMAPSv02 prosodic features and a within-speaker arousal index (no weights needed)",
        requires=("opensmile",),
        extra="pip install affectproxy-prosody",
    )
