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


class ScoreFileError(AffectProxyError, ValueError):
    """A score file (the table evaluator's CSV/Parquet) is missing, unreadable or lacks a needed column."""


class AudioError(AffectProxyError, ValueError):
    """Audio could not be read, or a segment does not fit the audio."""


class EvaluatorOutputError(AffectProxyError, ValueError):
    """An evaluator returned something that breaks the contract (wrong count, NaN, undeclared dimension)."""


class StoreError(AffectProxyError, OSError):
    """The result store cannot be opened or written."""


class StudyError(AffectProxyError, ValueError):
    """A study file is malformed."""


class ServiceError(AffectProxyError):
    """A remote service (an LLM API) failed for reasons that are not about one segment.

    Providers raise these once the LLM layer's retries are spent. The engine never reruns a batch one segment
    at a time for a ServiceError (that would multiply requests to a service already refusing them): the
    batch's segments are recorded as failed and retried on the next run.

    Attributes:
        retry_after: seconds the service asked to wait (a Retry-After header), when it said so.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitError(ServiceError):
    """The service refused the request for a rate or quota limit (HTTP 429)."""


class ServiceUnavailableError(ServiceError):
    """The service failed (HTTP 5xx, connection refused or reset)."""


class ServiceTimeoutError(ServiceError, TimeoutError):
    """The service did not answer within the request timeout."""


class AuthenticationError(ServiceError, PermissionError):
    """The service refused the credentials (HTTP 401/403, key unset): the evaluator stops at once."""


class BudgetExceededError(AffectProxyError):
    """Starting another paid call would exceed the run's budget (``max_cost``)."""


__all__ = [
    "AffectProxyError",
    "AudioError",
    "AuthenticationError",
    "BudgetExceededError",
    "EvaluatorOutputError",
    "InvalidSegmentError",
    "MissingDependencyError",
    "PluginError",
    "RateLimitError",
    "ScoreFileError",
    "SegmentFileError",
    "ServiceError",
    "ServiceTimeoutError",
    "ServiceUnavailableError",
    "StoreError",
    "StudyError",
    "UnknownEvaluatorError",
]
