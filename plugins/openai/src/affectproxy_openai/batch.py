"""OpenAI batch mode (the Batch API: half price, answers within 24 h): the provider side of
:mod:`affectproxy.llm.batchmode`.

The requests are written as JSONL (one ``/v1/chat/completions`` body per line, ``custom_id`` = the request's cache
key), uploaded with ``purpose="batch"``, and submitted with ``batches.create(completion_window="24h")``. Answers are
read from the job's output file, failures (non-200 answers, and requests an expired job never ran) from its error
file; both are matched back by ``custom_id``. The job's metadata carries the token batch mode records before
submitting it (``{"affectproxy_job": token}``); :func:`find` looks a job up by it (``batches.list``) when a run was
killed before the job's id was recorded.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from affectproxy.errors import ServiceError, ServiceUnavailableError
from affectproxy.llm.sdk import scrub
from affectproxy.llm.types import LLMRequest, ProviderResponse

ENDPOINT = "/v1/chat/completions"
#: The Batch API's statuses -> the layer's states.
STATES = {"validating": "pending", "in_progress": "running", "finalizing": "running", "cancelling": "running",
          "completed": "succeeded", "failed": "failed", "expired": "expired", "cancelled": "cancelled"}


def _call(provider: Any, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    import openai

    where = f"{provider.name} batch: {what}"
    try:
        return fn(*args, **kwargs)
    except openai.APIStatusError as exc:
        raise provider._status_error(exc, where) from None
    except openai.APIConnectionError as exc:
        raise ServiceUnavailableError(f"{where}: cannot connect to {provider.base_url} "
                                      f"({scrub(str(exc.__cause__ or exc), provider._api_key)}).") from None


def jsonl(provider: Any, requests: Sequence[LLMRequest]) -> bytes:
    """The batch input file: one chat-completions body per line, keyed by the request's cache key."""
    lines = []
    for r in requests:
        body = provider.body(r)
        body.update(body.pop("extra_body", None) or {})
        lines.append(json.dumps({"custom_id": r.cache_key(), "method": "POST", "url": ENDPOINT, "body": body}))
    return ("\n".join(lines) + "\n").encode()


def submit(provider: Any, requests: Sequence[LLMRequest], *, token: str = "") -> str:
    """Upload the JSONL file and create the job (its metadata carries ``token`` as ``affectproxy_job``); the batch
    id."""
    client = provider.client()
    upload = _call(provider, "uploading the requests", client.files.create,
                   file=("affectproxy-batch.jsonl", jsonl(provider, requests), "application/jsonl"), purpose="batch")
    metadata = {"by": "affectproxy", "affectproxy_job": token} if token else {"by": "affectproxy"}
    job = _call(provider, "creating the job", client.batches.create, input_file_id=upload.id, endpoint=ENDPOINT,
                completion_window="24h", metadata=metadata)
    return str(job.id)


def find(provider: Any, token: str, created_after: float, n_requests: int, exclude: Collection[str] = ()
         ) -> str | None:
    """The id of the job whose metadata carries ``token`` (every page of ``batches.list``), or None."""
    def scan() -> str | None:
        for job in provider.client().batches.list(limit=100):
            if (job.metadata or {}).get("affectproxy_job") == token and job.id not in exclude:
                return str(job.id)
        return None

    return _call(provider, "listing jobs", scan)  # type: ignore[no-any-return]


def poll(provider: Any, job_id: str) -> tuple[str, int, int]:
    """(state, requests finished, total)."""
    job = _call(provider, f"job {job_id}", provider.client().batches.retrieve, job_id)
    counts = job.request_counts
    done = int(counts.completed + counts.failed) if counts is not None else 0
    total = int(counts.total) if counts is not None else 0
    return STATES.get(str(job.status), str(job.status)), done, total


def results(provider: Any, job_id: str) -> dict[str, ProviderResponse | BaseException]:
    """Answers from the output file and failures from the error file, by cache key."""
    from openai.types.chat import ChatCompletion

    client = provider.client()
    job = _call(provider, f"job {job_id}", client.batches.retrieve, job_id)
    out: dict[str, ProviderResponse | BaseException] = {}
    where = f"{provider.name} batch {job_id}"
    for file_id in (job.output_file_id, job.error_file_id):
        if not file_id:
            continue
        text = _call(provider, f"job {job_id} file {file_id}", client.files.content, file_id).text
        for line in text.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key = str(item.get("custom_id", ""))
            response = item.get("response") or {}
            status = int(response.get("status_code") or 0)
            if status == 200:
                out[key] = provider._read(ChatCompletion.model_validate(response.get("body") or {}), where)
                continue
            error = item.get("error") or ((response.get("body") or {}).get("error")) or {}
            message = scrub(str(error.get("message") or "no answer"), provider._api_key)
            out[key] = ServiceError(f"{where}: request failed: HTTP {status or error.get('code', '')}: {message}")
    return out


def cancel(provider: Any, job_id: str) -> None:
    """Cancel the job (answers already made are billed)."""
    _call(provider, f"cancelling job {job_id}", provider.client().batches.cancel, job_id)


__all__ = ["ENDPOINT", "STATES", "cancel", "find", "jsonl", "poll", "results", "submit"]
