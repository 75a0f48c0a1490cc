"""Entry-point module: registers the ``emotion2vec`` evaluator. Imports nothing heavy (no torch, no funasr)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import affectproxy as ap
from affectproxy.evaluator import CheckResult
from affectproxy_emotion2vec.locate import DEFAULT_MODEL, fetch_hint, find_cached


def _make(**options: Any) -> ap.Evaluator:
    from affectproxy_emotion2vec.evaluator import Emotion2vecEvaluator

    return Emotion2vecEvaluator(**options)


def check() -> CheckResult:
    """Whether the default model's weights are on this machine (ModelScope or Hugging Face cache).

    A local directory passed as ``model=DIR`` needs no cache; this check only looks for the default hub id.
    """
    for hub in ("ms", "hf"):
        found = find_cached(DEFAULT_MODEL, hub)
        if found is not None:
            return CheckResult(True, f"weights of {DEFAULT_MODEL} found in {found.directory}")
    return CheckResult(
        False,
        f"weights of {DEFAULT_MODEL} are not in the ModelScope or Hugging Face cache; they are downloaded on first "
        f"use when this machine is online, or pass model='DIR' with a local copy. {fetch_hint(DEFAULT_MODEL)}",
    )


@ap.hookimpl
def affectproxy_evaluators() -> Iterator[ap.EvaluatorSpec]:
    yield ap.EvaluatorSpec(
        name="emotion2vec",
        factory=_make,
        summary="emotion2vec+ speech emotion classes (9) -> arousal/valence via a circumplex table (funasr)",
        requires=("funasr", "torch"),
        extra="pip install affectproxy-emotion2vec",
        check=check,
    )
