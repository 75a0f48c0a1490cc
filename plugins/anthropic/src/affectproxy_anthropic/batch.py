"""Anthropic batch mode (Message Batches: half price, answers within 24 h): the provider side of
:mod:`affectproxy.llm.batchmode`.

``messages.batches.create(requests=[{"custom_id": <cache key>, "params": <messages.create body>}])``, polled with
``messages.batches.retrieve`` (``in_progress`` -> ``ended``), answers from ``messages.batches.results`` (JSONL; one
``succeeded`` / ``errored`` / ``canceled`` / ``expired`` result per request, matched back by ``custom_id``).

A message batch has no name or metadata: when a run was killed before a batch's id was recorded, :func:`find` takes
the earliest batch (``messages.batches.list``, newest first) created since the run's intent with as many requests and
an id not recorded yet. Adopting a wrong batch costs waiting, never money: answers are matched by cache key.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from affectproxy.errors import ServiceError, ServiceUnavailableError
from affectproxy.llm.sdk import scrub
from affectproxy.llm.types import LLMRequest, ProviderResponse

#: processing_status -> the layer's states (an ended batch may hold expired or errored results: per request).
STATES = {"in_progress": "running", "canceling": "running", "ended": "succeeded"}
#: Seconds a batch's ``created_at`` may precede the intent recorded before it (clocks differ).
SKEW = 60.0


def _call(provider: Any, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    import anthropic

    where = f"{provider.name} batch: {what}"
    try:
        return fn(*args, **kwargs)
    except anthropic.APIStatusError as exc:
        raise provider._status_error(exc, where) from None
    except anthropic.APIConnectionError as exc:
        raise ServiceUnavailableError(f"{where}: cannot connect to {provider.base_url} "
                                      f"({scrub(str(exc.__cause__ or exc), provider._api_key)}).") from None


def params(provider: Any, request: LLMRequest) -> dict[str, Any]:
    """One request's ``params``: the messages.create body (provider options merged in)."""
    body = provider.body(request)
    body.update(body.pop("extra_body", None) or {})
    return body


def submit(provider: Any, requests: Sequence[LLMRequest], *, token: str = "") -> str:
    """Create one message batch; its id (``token`` is not sent: a message batch has no name or metadata)."""
    batch = _call(provider, "creating the batch", provider.client().messages.batches.create,
                  requests=[{"custom_id": r.cache_key(), "params": params(provider, r)} for r in requests])
    return str(batch.id)


def find(provider: Any, token: str, created_after: float, n_requests: int, exclude: Collection[str] = ()
         ) -> str | None:
    """The earliest batch created at or after ``created_after`` (less a minute for clock skew) with ``n_requests``
    requests and an id not in ``exclude``, or None (``token`` is unused: batches carry no name)."""
    def scan() -> str | None:
        found = None
        for batch in provider.client().messages.batches.list(limit=100):  # newest first
            if batch.created_at.timestamp() < created_after - SKEW:
                break
            c = batch.request_counts
            if c.processing + c.succeeded + c.errored + c.canceled + c.expired == n_requests \
                    and batch.id not in exclude:
                found = str(batch.id)
        return found

    return _call(provider, "listing batches", scan)  # type: ignore[no-any-return]


def poll(provider: Any, job_id: str) -> tuple[str, int, int]:
    """(state, requests finished, total)."""
    batch = _call(provider, f"batch {job_id}", provider.client().messages.batches.retrieve, job_id)
    c = batch.request_counts
    done = int(c.succeeded + c.errored + c.canceled + c.expired)
    return STATES.get(str(batch.processing_status), str(batch.processing_status)), done, done + int(c.processing)


def results(provider: Any, job_id: str) -> dict[str, ProviderResponse | BaseException]:
    """Each request's message, or the error / expiry / cancellation that explains its absence, by cache key."""
    client = provider.client()
    where = f"{provider.name} batch {job_id}"
    batch = _call(provider, f"batch {job_id}", client.messages.batches.retrieve, job_id)
    if not batch.results_url:
        return {}
    out: dict[str, ProviderResponse | BaseException] = {}
    for item in _call(provider, f"batch {job_id} results", client.messages.batches.results, job_id):
        result = item.result
        if result.type == "succeeded":
            out[item.custom_id] = provider._read(result.message, where)
        elif result.type == "errored":
            error = getattr(result.error, "error", None)
            message = scrub(str(getattr(error, "message", "") or result.error), provider._api_key)
            out[item.custom_id] = ServiceError(f"{where}: request failed: {getattr(error, 'type', '')}: {message}")
        else:
            out[item.custom_id] = ServiceError(f"{where}: request {result.type}")
    return out


def cancel(provider: Any, job_id: str) -> None:
    """Cancel the batch."""
    _call(provider, f"cancelling batch {job_id}", provider.client().messages.batches.cancel, job_id)


__all__ = ["SKEW", "STATES", "cancel", "find", "params", "poll", "results", "submit"]
