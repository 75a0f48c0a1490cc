"""Gemini batch mode (half price, answers within 24 h); the provider side of :mod:`affectproxy.llm.batchmode`.

One job holds inlined ``GenerateContentRequest`` s (``client.batches.create(model=..., src=[InlinedRequest])``,
REST ``POST models/{model}:batchGenerateContent``), each tagged with ``metadata = {"key": <cache key>}``; the job
is polled with ``client.batches.get`` (REST ``GET batches/{id}``) and its answers are read from
``job.dest.inlined_responses`` (an answer or a per-request error, in any order, matched back by the key).

The job's display name is the token batch mode records before submitting it; :func:`find` looks a job up by that
name (``client.batches.list``, REST ``GET batches``) when a run was killed before the job's name was recorded.

Inlined requests are limited to 20 MB per job: large audio parts are uploaded through the Files API first (as
online), so a job carries only file URIs for them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from affectproxy.errors import ServiceError
from affectproxy.llm.types import LLMRequest, ProviderResponse

#: google-genai's job states -> the layer's (``pending``, ``running``, ``succeeded``, ``failed``, ``cancelled``,
#: ``expired``).
STATES = {
    "JOB_STATE_PENDING": "pending", "JOB_STATE_QUEUED": "pending", "JOB_STATE_UNSPECIFIED": "pending",
    "JOB_STATE_RUNNING": "running", "JOB_STATE_CANCELLING": "running", "JOB_STATE_SUCCEEDED": "succeeded",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "succeeded", "JOB_STATE_FAILED": "failed", "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}


def _state(job: Any) -> str:
    raw = str(getattr(job.state, "value", job.state) or "")
    return STATES.get(raw, raw.lower() or "pending")


def submit(provider: Any, requests: Sequence[LLMRequest], *, timeout: float = 300.0, token: str = "") -> str:
    """Create one batch job for ``requests`` (one model), named ``token`` (default "affectproxy"); the job's name
    (``batches/...``)."""
    types = provider._types
    models = {r.model for r in requests}
    if len(models) != 1:
        raise ServiceError(f"A Gemini batch job serves one model; got {sorted(models)}.")
    inlined = []
    try:
        for r in requests:
            config = provider.config(r, timeout).model_copy(update={"http_options": None})
            parts = [provider._part(p, timeout) for p in r.parts]
            inlined.append(types.InlinedRequest(model=r.model, contents=[types.Content(role="user", parts=parts)],
                                                metadata={"key": r.cache_key()}, config=config))
        job = provider._client.batches.create(model=requests[0].model, src=inlined,
                                              config=types.CreateBatchJobConfig(display_name=token or "affectproxy"))
    except Exception as exc:
        raise provider._map(exc, f"Gemini {requests[0].model} batch submission") from None
    return str(job.name)


def find(provider: Any, token: str, created_after: float, n_requests: int, exclude: Collection[str] = ()
         ) -> str | None:
    """The name of the job whose display name is ``token`` (every page of ``batches.list``), or None."""
    try:
        for job in provider._client.batches.list(config={"page_size": 100}):
            if job.display_name == token and job.name not in exclude:
                return str(job.name)
    except Exception as exc:
        raise provider._map(exc, "Gemini batch jobs list") from None
    return None


def _get(provider: Any, job_id: str) -> Any:
    try:
        return provider._client.batches.get(name=job_id)
    except Exception as exc:
        raise provider._map(exc, f"Gemini batch job {job_id}") from None


def poll(provider: Any, job_id: str) -> tuple[str, int, int]:
    """(state, answers ready, requests in the job); the counts are 0 while Gemini does not report them."""
    job = _get(provider, job_id)
    answers = (job.dest.inlined_responses or []) if job.dest is not None else []
    return _state(job), len(answers), len(answers)


def results(provider: Any, job_id: str) -> dict[str, ProviderResponse | BaseException]:
    """Each answered request's response (or its error), by cache key."""
    from affectproxy_gemini.provider import read_response

    job = _get(provider, job_id)
    out: dict[str, ProviderResponse | BaseException] = {}
    for item in (job.dest.inlined_responses or []) if job.dest is not None else []:
        key = (item.metadata or {}).get("key", "")
        if not key:
            continue
        if item.error is not None or item.response is None:
            err = item.error
            code = getattr(err, "code", None)
            out[key] = ServiceError(provider._scrub(f"Gemini batch job {job_id}: request failed: HTTP {code}: "
                                                    f"{getattr(err, 'message', '') or 'no answer'}"))
        else:
            out[key] = read_response(item.response)
    return out


def cancel(provider: Any, job_id: str) -> None:
    """Ask Gemini to cancel the job (answers already made are still billed)."""
    try:
        provider._client.batches.cancel(name=job_id)
    except Exception as exc:
        raise provider._map(exc, f"Gemini batch job {job_id} cancel") from None


__all__ = ["STATES", "cancel", "find", "poll", "results", "submit"]
