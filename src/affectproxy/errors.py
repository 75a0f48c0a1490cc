"""The exceptions affectproxy raises.

Every error derives from :class:`AffectProxyError`; specific ones also derive from the matching builtin, so
``except LookupError`` or ``except ValueError`` keep working.  Messages name the thing, the value and the fix.
"""

from __future__ import annotations


class AffectProxyError(Exception):
    """Base class of every error affectproxy raises on purpose."""


class UnknownEvaluatorError(AffectProxyError, LookupError):
    """No evaluator of that name is installed."""


class MissingDependencyError(AffectProxyError, ImportError):
    """An evaluator needs a package that is not installed."""


class PluginError(AffectProxyError):
    """A plugin is broken, or two plugins claim the same evaluator name."""


class InvalidSegmentError(AffectProxyError, ValueError):
    """A segment (or a segment table) is malformed: times, ids, transcript."""


class SegmentFileError(InvalidSegmentError):
    """A segment table could not be read or parsed."""


class AudioError(AffectProxyError, ValueError):
    """Audio could not be read, or a segment does not fit the audio."""


class EvaluatorOutputError(AffectProxyError, ValueError):
    """An evaluator returned something that breaks the contract (wrong count, NaN, undeclared dimension)."""


class StoreError(AffectProxyError, OSError):
    """The result store cannot be opened or written."""


class StudyError(AffectProxyError, ValueError):
    """A study file is malformed."""


__all__ = [
    "AffectProxyError",
    "AudioError",
    "EvaluatorOutputError",
    "InvalidSegmentError",
    "MissingDependencyError",
    "PluginError",
    "SegmentFileError",
    "StoreError",
    "StudyError",
    "UnknownEvaluatorError",
]
