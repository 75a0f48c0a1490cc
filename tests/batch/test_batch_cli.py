"""``affectproxy run study.toml --batch``: a run killed while its job is polled resumes the same job on rerun,
without a second submission (as the local Gemini server recorded it); a provider without batch mode is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import affectproxy as ap
from affectproxy.llm.providers import registered
from affectproxy.llm.types import LLMRequest, ProviderResponse, ProviderSpec
from affectproxy.store import Store
from affectproxy_gemini.testing import FakeGemini


def study(folder: Path, url: str, n: int = 6) -> Path:
    import numpy as np
    import soundfile as sf

    sf.write(folder / "speech.wav", (0.1 * np.random.default_rng(1).standard_normal(16000 * 2 * n)).astype("float32"),
             16000)
    (folder / "segments.csv").write_text("id,start,end,text\n" + "".join(
        f"s{i},{2 * i},{2 * i + 1.5},Sentence number {i}.\n" for i in range(n)))
    path = folder / "study.toml"
    path.write_text(f"""
[study]
name = "batch"
segments = "segments.csv"
audio = "speech.wav"
store = "study.sqlite"

[[evaluators]]
type = "gemini"
base_url = "{url}"
""")
    return path


def cli(path: Path, key: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, GEMINI_API_KEY=key, NO_PROXY="127.0.0.1", AFFECTPROXY_BATCH_POLL_SECONDS="0.02")
    return subprocess.Popen([sys.executable, "-m", "affectproxy", "run", str(path), "--batch", "--no-progress"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_killed_while_polling_resumes_the_same_job(server: FakeGemini, key: str, tmp_path: Path) -> None:
    path = study(tmp_path, server.url)
    server.batch_pending_polls = 10**6  # the job stays pending until the test lets it finish
    child = cli(path, key)
    deadline = time.monotonic() + 60
    while server.count("batch_get") < 3 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.communicate()  # waits, and closes the pipes
    assert child.returncode == -signal.SIGKILL and server.count("batch") == 1
    with Store(tmp_path / "study.sqlite") as db:
        [job] = db.batch_jobs()
        assert job["state"] == "submitted" and job["id"] == server.batches[0].name
        assert not db.estimates(db.evaluators()[0].fingerprint)
    server.batch_pending_polls = 0
    again = cli(path, key)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()
    assert "gemini: 6 new, 0 already done, 0 failed" in out.decode()
    assert server.count("batch") == 1  # the rerun submitted nothing: it collected the recorded job
    with Store(tmp_path / "study.sqlite") as db:
        assert len(db.estimates(db.evaluators()[0].fingerprint)) == 6
        paid = [c for c in db.calls() if not c["cached"]]
        assert [j["state"] for j in db.batch_jobs()] == ["done"]
    assert len(paid) == 6 and all(c["batch"] == 1 and c["status"] == "ok" for c in paid)
    for p in tmp_path.rglob("*"):
        assert not p.is_file() or key.encode() not in p.read_bytes(), p


class _Echo:
    name = "echo"
    can_send = frozenset({"system", "schema"})

    def generate(self, request: LLMRequest, *, timeout: float) -> ProviderResponse:
        return ProviderResponse('{"valence": 0.0}')


class _EchoPlugin:
    @ap.hookimpl
    def affectproxy_llm_providers(self) -> Any:
        yield ProviderSpec(name="echo", factory=lambda **options: _Echo())


def test_provider_without_batch_mode_is_refused(tmp_path: Path, text_rater: Any) -> None:
    rec = ap.Recording("r")
    segs = [ap.Segment("a", rec, 0, 1, text="x"), ap.Segment("b", rec, 1, 2, text="y")]
    with registered(_EchoPlugin(), "echo-plugin"):
        with pytest.raises(ap.AffectProxyError, match="LLM provider 'echo' has no batch mode: run 'rater' without"):
            ap.evaluate(segs, [text_rater("echo", "echo-1")], store=tmp_path / "s.db", progress=False, batch=True)
        res = ap.evaluate(segs, [text_rater("echo", "echo-1")], store=tmp_path / "s.db", progress=False)  # online works
    assert len(res.estimates) == 2


def test_the_study_files_batch_table_sets_the_options(server: FakeGemini, key: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from affectproxy.cli import main

    path = study(tmp_path, server.url)
    path.write_text(path.read_text() + "\n[batch]\npoll_interval = 0.01\nmax_requests_per_job = 4\n")
    out = CliRunner().invoke(main, ["run", str(path), "--batch", "--no-progress"])
    assert out.exit_code == 0, out.output
    assert [len(j.keys) for j in server.batches] == [4, 2]
