"""A run killed while its batch job's create call is in flight (the provider made the job; its id never reached the
store) leaves an intent (state ``submitting``); the rerun finds that job (Gemini by display name, OpenAI by
metadata, Anthropic by creation time and size, real SDKs against the local servers) and polls it instead of paying
for the requests again. An intent with no job is dropped and its requests are submitted once; a provider that
cannot look jobs up warns once."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
import soundfile as sf

import affectproxy as ap
from affectproxy.llm.providers import registered
from affectproxy.llm.types import LLMRequest, Part, ProviderResponse, ProviderSpec
from affectproxy.store import Store
from affectproxy_anthropic.provider import AnthropicProvider
from affectproxy_anthropic.testing_batch import AnthropicBatchServer
from affectproxy_gemini.provider import GeminiProvider
from affectproxy_gemini.testing import FakeGemini, fake_key
from affectproxy_openai.provider import OpenAIProvider
from affectproxy_openai.testing_batch import OpenAIBatchServer

FAST = {"poll_interval": 0.01}
TEXTS = ["We will build a better country.", "They are lying to you!", "The committee meets on Tuesday."]
#: The child: one batch evaluation (its arguments as JSON), as a user's script would run it.
CHILD = """
import json, sys
import affectproxy as ap
a = json.loads(sys.argv[1])
rec = ap.Recording("speech", a["audio"], speaker="A")
segments = [ap.Segment(f"s{i}", rec, 2.0 * i, 2.0 * i + 1.5, text=t) for i, t in enumerate(a["texts"])]
ap.evaluate(segments, [a["spec"]], store=a["store"], progress=False, batch={"poll_interval": 0.02})
"""


@attrs.define
class Case:
    """One provider's server and an evaluator whose requests all go to it as one job."""

    server: Any
    spec: dict[str, Any]
    evaluator: str
    provider: str
    model: str
    audio: str | None

    def segments(self) -> list[ap.Segment]:
        rec = ap.Recording("speech", self.audio, speaker="A")
        return [ap.Segment(f"s{i}", rec, 2.0 * i, 2.0 * i + 1.5, text=t) for i, t in enumerate(TEXTS)]

    def answered(self) -> int:
        """How many requests the server has answered in batch jobs (each one is billed)."""
        return len(self.server.generate_calls if self.provider == "gemini" else self.server.batched)


@pytest.fixture(params=["gemini", "openai", "anthropic"])
def case(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Case]:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN",
                 "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "gemini":
        monkeypatch.setenv("GEMINI_API_KEY", fake_key())
        path = tmp_path / "speech.wav"
        sf.write(path, (0.1 * np.random.default_rng(1).standard_normal(16000 * 6)).astype("float32"), 16000)
        with FakeGemini() as gem:
            yield Case(gem, {"type": "gemini", "base_url": gem.url}, "gemini", "gemini", "gemini-2.5-flash",
                       str(path))
        return
    key = ("sk-test" if request.param == "openai" else "sk-ant-test") + secrets.token_hex(16)
    monkeypatch.setenv(f"{request.param.upper()}_API_KEY", key)
    server_type = OpenAIBatchServer if request.param == "openai" else AnthropicBatchServer
    model = "gpt-5.2" if request.param == "openai" else "claude-sonnet-4-6"
    with server_type(key=key) as srv:  # TRUST, three advocates per segment on one provider, median supervisor
        yield Case(srv, {"type": "trust", "provider": request.param, "model": model,
                         "provider_options": {"base_url": srv.url}}, "trust", request.param, model, None)


def child(case: Case, store: Path) -> subprocess.Popen[bytes]:
    args = {"audio": case.audio, "texts": TEXTS, "spec": case.spec, "store": str(store)}
    return subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def check_paid_once(case: Case, store: Path, res: ap.Results, job: Any) -> None:
    """Every estimate, from ``job`` (the server's record) alone, each request paid once."""
    assert not res.failures and len(res.estimates) == len(TEXTS)
    per_segment = 1 if case.provider == "gemini" else 3  # Gemini: one request a segment; TRUST: three advocates
    assert len(job.keys) == per_segment * len(TEXTS)
    job_id = getattr(job, "name", None) or job.id
    with Store(store) as db:
        assert [(j["id"], j["state"]) for j in db.batch_jobs()] == [(job_id, "done")]
        paid = [c for c in db.calls() if not c["cached"]]
    assert sorted(c["cache_key"] for c in paid) == sorted(job.keys)  # each request paid exactly once
    assert all(c["batch"] == 1 and c["status"] == "ok" for c in paid)


def test_killed_during_submission_adopts_the_orphan_job(case: Case, tmp_path: Path) -> None:
    store = tmp_path / "study.sqlite"
    case.server.create_delay = 60  # the job is made at once; the answer to the create call waits
    proc = child(case, store)
    deadline = time.monotonic() + 60
    while not case.server.batches and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()  # waits, and closes the pipes
    assert proc.returncode == -signal.SIGKILL, err.decode()
    assert len(case.server.batches) == 1
    with Store(store) as db:  # the id never arrived: only the intent is recorded
        [intent] = db.batch_jobs()
        assert intent["state"] == "submitting" and intent["id"].startswith("pending-")
        assert sorted(intent["request_keys"]) == sorted(case.server.batches[0].keys)
    case.server.create_delay = 0
    res = ap.evaluate(case.segments(), [case.spec], store=store, progress=False, batch=FAST)
    [orphan] = case.server.batches  # the rerun submitted nothing: it adopted the orphan
    assert case.answered() == len(orphan.keys)
    check_paid_once(case, store, res, orphan)


def test_intent_without_a_job_is_dropped(case: Case, tmp_path: Path) -> None:
    ap.evaluate(case.segments(), [case.spec], store=tmp_path / "other.sqlite", progress=False, batch=FAST)
    [other] = case.server.batches  # another study's job: not this intent's
    store = tmp_path / "study.sqlite"
    with Store(store) as db:  # killed before the create call reached the provider
        db.put_batch_job("pending-" + secrets.token_hex(16), provider=case.provider, model=case.model,
                         evaluator=case.evaluator, keys=["a", "b", "c"], state="submitting")
    res = ap.evaluate(case.segments(), [case.spec], store=store, progress=False, batch=FAST)
    assert case.server.batches[0] is other and len(case.server.batches) == 2  # submitted once, nothing adopted
    assert case.answered() == 2 * len(other.keys)
    check_paid_once(case, store, res, case.server.batches[1])


def test_list_endpoints_page_as_the_sdks_read_them(case: Case) -> None:
    provider: Any = {"gemini": GeminiProvider, "openai": OpenAIProvider, "anthropic": AnthropicProvider}[
        case.provider](base_url=case.server.url)
    ask = [LLMRequest(case.provider, case.model, [Part("text", text=f"q{i}")], schema={"type": "object"})
           for i in range(2)]
    ids = [provider.submit_batch(ask[:n], token=f"pending-{i}") for i, n in enumerate((1, 2, 1))]
    if case.provider == "gemini":
        listed = [j.name for j in provider._client.batches.list(config={"page_size": 2})]
        pages = sum(c.method == "GET" and c.path.endswith("/batches") for c in case.server.calls)
    else:
        sdk = provider.client().batches if case.provider == "openai" else provider.client().messages.batches
        listed = [j.id for j in sdk.list(limit=2)]
        pages = sum(m == "GET" and p.endswith("/batches") for m, p in case.server.batch_calls)
    assert listed == ids[::-1] and pages == 2  # newest first, two pages of two
    if case.provider != "anthropic":  # found by the token it carries
        assert provider.find_batch("pending-1", created_after=0, n_requests=2) == ids[1]
        assert provider.find_batch("pending-1", created_after=0, n_requests=2, exclude={ids[1]}) is None
        assert provider.find_batch("pending-9", created_after=0, n_requests=2) is None


def test_anthropic_find_takes_the_earliest_unrecorded_batch_of_that_size(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-ant-test" + secrets.token_hex(16)
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    with AnthropicBatchServer(key=key) as srv:
        provider = AnthropicProvider(base_url=srv.url)
        ask = [LLMRequest("anthropic", "claude-sonnet-4-6", [Part("text", text=f"q{i}")], schema={"type": "object"})
               for i in range(3)]
        ids = [provider.submit_batch(ask[:n]) for n in (3, 3, 2, 3, 3)]
        srv.jobs[ids[0]].created -= 3600  # made an hour before the intent
        since = time.time() - 5
        assert provider.find_batch("pending-x", created_after=since, n_requests=3, exclude={ids[1]}) == ids[3]
        assert provider.find_batch("pending-x", created_after=since, n_requests=2, exclude=()) == ids[2]
        assert provider.find_batch("pending-x", created_after=since, n_requests=1, exclude=()) is None
        assert srv.batch_calls.count(("GET", "/v1/messages/batches")) == 3  # one page each


# -- a provider with batch mode but no way to look jobs up ----------------------------------------------------------
class _Jobs:
    """A batch provider without ``find_batch``: every job answers at once."""

    name = "jobs"
    can_send = frozenset({"system", "schema"})

    def __init__(self) -> None:
        self.submitted: list[list[str]] = []

    def generate(self, request: LLMRequest, *, timeout: float) -> ProviderResponse:
        raise AssertionError("batch mode makes no online call")

    def submit_batch(self, requests: list[LLMRequest]) -> str:
        self.submitted.append([r.cache_key() for r in requests])
        return f"job{len(self.submitted)}"

    def poll_batch(self, job_id: str) -> tuple[str, int, int]:
        return "succeeded", 0, 0

    def batch_results(self, job_id: str) -> dict[str, ProviderResponse | BaseException]:
        return {k: ProviderResponse('{"valence": 0.5}') for k in self.submitted[int(job_id[3:]) - 1]}


def test_provider_that_cannot_look_jobs_up_warns_once(tmp_path: Path, text_rater: Any) -> None:
    provider = _Jobs()

    class Plugin:
        @ap.hookimpl
        def affectproxy_llm_providers(self) -> Any:
            yield ProviderSpec(name="jobs", factory=lambda **options: provider)

    rec = ap.Recording("r")
    segs = [ap.Segment("a", rec, 0, 1, text="x"), ap.Segment("b", rec, 1, 2, text="y")]
    store = tmp_path / "s.db"
    with Store(store) as db:
        db.put_batch_job("pending-1", provider="jobs", model="jobs-1", evaluator="rater", keys=["k1", "k2"],
                         state="submitting")
    with registered(Plugin(), "jobs-plugin"):
        with pytest.warns(UserWarning, match=r"jobs/jobs-1: a batch job of 2 requests may have been submitted at "
                                             r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d without its id .* check the "
                                             "provider's console"):
            res = ap.evaluate(segs, [text_rater("jobs", "jobs-1")], store=store, progress=False, batch=FAST)
        assert len(res.estimates) == 2 and len(provider.submitted) == 1
        with Store(store) as db:
            assert [(j["id"], j["state"]) for j in db.batch_jobs()] == [("job1", "done")]
