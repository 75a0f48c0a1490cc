"""Cutting batch jobs to the providers' limits: sizes counted at least as large as what an SDK sends, order kept,
every request in exactly one job or refused, and the options checked."""

from __future__ import annotations

import base64
import itertools
import json

import pytest

from affectproxy.errors import AffectProxyError
from affectproxy.llm.batchmode import REQUEST_OVERHEAD, BatchOptions, request_bytes, split_jobs
from affectproxy.llm.types import LLMRequest, Part


def req(i: int, audio: int = 3000, text: str = "Rede über Gerechtigkeit") -> LLMRequest:
    return LLMRequest("p", "m", [Part("text", text=f"{text} {i}"),
                                 Part("audio", data=bytes(audio + i), mime_type="audio/flac", seconds=1.0)],
                      system="Sie bewerten Reden.", schema={"type": "object"}, segment_ids=(f"s{i}",))


def test_request_bytes_is_at_least_the_json_an_sdk_would_send() -> None:
    r = req(7)
    body = json.dumps({"system": r.system, "contents": [{"text": r.parts[0].text},
                                                        {"data": base64.b64encode(r.parts[1].data).decode()}],
                       "schema": dict(r.schema or {})}, ensure_ascii=True)
    assert len(body) <= request_bytes(r) <= len(body) + REQUEST_OVERHEAD
    # audio over the inline limit is a file reference, not its bytes
    assert request_bytes(r, inline_limit=100) < 3000 < request_bytes(r)


def test_jobs_keep_order_respect_both_limits_and_hold_every_request_once() -> None:
    reqs = [req(i, audio=1000 * (i % 5)) for i in range(40)] + [req(99, audio=60_000)]
    jobs, too_big = split_jobs(reqs, request_bytes, max_requests=7, max_bytes=20_000)
    assert too_big == [reqs[-1]]
    assert [r for job in jobs for r in job] == reqs[:-1]  # in order, each once
    assert all(len(job) <= 7 and sum(map(request_bytes, job)) <= 20_000 for job in jobs)
    # greedy: no job could have taken the next job's first request
    for a, b in itertools.pairwise(jobs):
        assert len(a) == 7 or sum(map(request_bytes, a)) + request_bytes(b[0]) > 20_000
    assert split_jobs(reqs, request_bytes, max_requests=None, max_bytes=None) == ([reqs], [])


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_job_limit_options_must_be_whole_numbers(bad: object) -> None:
    with pytest.raises(AffectProxyError, match="give a whole number of at least 1"):
        BatchOptions.of({"max_requests_per_job": bad})
    assert BatchOptions.of({"max_bytes_per_job": 10}).max_bytes_per_job == 10  # type: ignore[union-attr]
    with pytest.raises(AffectProxyError, match=r"Unknown batch option\(s\) \['max_job'\]: use poll_interval"):
        BatchOptions.of({"max_job": 3})
