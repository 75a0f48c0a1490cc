"""emotion2vec+ for affectproxy: ``ap.get_evaluator("emotion2vec", model="iic/emotion2vec_plus_large")``.

The public names are re-exported lazily so that importing the entry-point module stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CheckpointError", "Emotion2vecEvaluator", "ModelNotFoundError"]


def __getattr__(name: str) -> Any:
    if name == "Emotion2vecEvaluator":
        from affectproxy_emotion2vec.evaluator import Emotion2vecEvaluator

        return Emotion2vecEvaluator
    if name == "CheckpointError":
        from affectproxy_emotion2vec.checkpoint import CheckpointError

        return CheckpointError
    if name == "ModelNotFoundError":
        from affectproxy_emotion2vec.locate import ModelNotFoundError

        return ModelNotFoundError
    raise AttributeError(f"module 'affectproxy_emotion2vec' has no attribute {name!r}")
