"""Anthropic batch mode (Message Batches: half price, answers within 24 h): the provider side of
:mod:`affectproxy.llm.batchmode`.

``messages.batches.create(requests=[{"custom_id": <cache key>, "params": <messages.create body>}])``, polled with
``messages.batches.retrieve`` (``in_progress`` -> ``ended``), answers from ``messages.batches.results`` (JSONL; one
``succeeded`` / ``errored`` / ``canceled`` / ``expired`` result per request, matched back by ``custom_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from affectproxy.errors import ServiceError, ServiceUnavailableError
from affectproxy.llm.sdk import scrub
from affectproxy.llm.types import LLMRequest, ProviderResponse

#: processing_status -> the layer's states (an ended batch may hold expired or errored results: per request).
STATES = {"in_progress": "running", "canceling": "running", "ended": "succeeded"}


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


def submit(provider: Any, requests: Sequence[LLMRequest]) -> str:
    """Create one message batch; its id."""
    batch = _call(provider, "creating the batch", provider.client().messages.batches.create,
                  requests=[{"custom_id": r.cache_key(), "params": params(provider, r)} for r in requests])
    return str(batch.id)


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


__all__ = ["STATES", "cancel", "params", "poll", "results", "submit"]
