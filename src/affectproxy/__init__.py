"""affectproxy: do different ways of reading emotion from speech agree, segment by segment?

Import is cheap: no plugin loading, no I/O, no torch/funasr/transformers/google-genai. Plugins load on first
registry use.

Examples:
    >>> import affectproxy as ap
    >>> ap.Dimension("arousal").high
    1.0
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from affectproxy._version import __version__
from affectproxy.errors import (
    AffectProxyError,
    AudioError,
    EvaluatorOutputError,
    InvalidSegmentError,
    MissingDependencyError,
    PluginError,
    ScoreFileError,
    SegmentFileError,
    StoreError,
    StudyError,
    UnknownEvaluatorError,
)
from affectproxy.evaluator import CheckResult, Evaluator, EvaluatorSpec
from affectproxy.hookspecs import hookimpl
from affectproxy.model import Dimension, EmotionEstimate, Recording, Segment

if TYPE_CHECKING:
    from affectproxy import circumplex, compare, testing
    from affectproxy.audit import audit
    from affectproxy.engine import evaluate
    from affectproxy.llm.estimate import estimate
    from affectproxy.registry import get_evaluator, list_evaluators
    from affectproxy.results import Results, open_results
    from affectproxy.segment_files import load_segments

_LAZY = {
    "audit": ("affectproxy.audit", "audit"),
    "evaluate": ("affectproxy.engine", "evaluate"),
    "estimate": ("affectproxy.llm.estimate", "estimate"),
    "get_evaluator": ("affectproxy.registry", "get_evaluator"),
    "list_evaluators": ("affectproxy.registry", "list_evaluators"),
    "Results": ("affectproxy.results", "Results"),
    "open_results": ("affectproxy.results", "open_results"),
    "load_segments": ("affectproxy.segment_files", "load_segments"),
    "circumplex": ("affectproxy.circumplex", None),
    "compare": ("affectproxy.compare", None),
    "testing": ("affectproxy.testing", None),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'affectproxy' has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


__all__ = [
    "AffectProxyError",
    "AudioError",
    "CheckResult",
    "Dimension",
    "EmotionEstimate",
    "Evaluator",
    "EvaluatorOutputError",
    "EvaluatorSpec",
    "InvalidSegmentError",
    "MissingDependencyError",
    "PluginError",
    "Recording",
    "Results",
    "ScoreFileError",
    "Segment",
    "SegmentFileError",
    "StoreError",
    "StudyError",
    "UnknownEvaluatorError",
    "__version__",
    "audit",
    "circumplex",
    "compare",
    "estimate",
    "evaluate",
    "get_evaluator",
    "hookimpl",
    "list_evaluators",
    "load_segments",
    "open_results",
    "testing",
]
