"""Entry-point module: registers the ``wav2vec2`` evaluator. Imports nothing heavy (no torch, no transformers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import affectproxy as ap


def _make(**options: Any) -> ap.Evaluator:
    from affectproxy_wav2vec2.evaluator import Wav2Vec2Evaluator

    return Wav2Vec2Evaluator(**options)


def check() -> ap.CheckResult:
    """Whether the default model's weights are available locally (no network access)."""
    from affectproxy.hub import fetch_hint
    from affectproxy_wav2vec2.checkpoint import DEFAULT_MODEL, is_cached

    if is_cached(DEFAULT_MODEL):
        return ap.CheckResult(True)
    return ap.CheckResult(
        False,
        f"the default model {DEFAULT_MODEL} is not in the local Hugging Face cache; it downloads on first use "
        f"(~1.3 GB) when this machine is online. {fetch_hint('wav2vec2', DEFAULT_MODEL)}",
    )


@ap.hookimpl
def affectproxy_evaluators() -> Iterator[ap.EvaluatorSpec]:
    yield ap.EvaluatorSpec(
        name="wav2vec2",
        factory=_make,
        summary="wav2vec 2.0 speech emotion (audeering arousal/dominance/valence, or categorical heads)",
        requires=("transformers", "torch"),
        extra="pip install affectproxy-wav2vec2",
        check=check,
    )
