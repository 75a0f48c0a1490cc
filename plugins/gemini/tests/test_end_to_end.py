"""ap.evaluate with the gemini evaluator: the engine, the layer, the real SDK and the local server together.

Covers the cache preventing a second paid call, a run killed with SIGKILL halfway that resumes paying nothing
twice, usage and cost summed correctly, and no key in any file the run wrote.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import affectproxy as ap
from affectproxy.llm.usage import totals
from affectproxy.store import Store
from affectproxy_gemini.testing import FakeGemini

N = 12


def write_speech(folder: Path, n: int = N) -> list[ap.Segment]:
    rate = 16000
    rng = np.random.default_rng(5)
    audio = (0.2 * rng.standard_normal(rate * 2 * n)).astype(np.float32)
    path = folder / "speech.wav"
    sf.write(path, audio, rate)
    rec = ap.Recording("speech", str(path))
    return [ap.Segment(f"s{i:02d}", rec, 2.0 * i, 2.0 * i + 1.5, text=f"Sentence number {i}.") for i in range(n)]


def every_file_bytes(folder: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in folder.rglob("*") if p.is_file()]


@pytest.mark.parametrize("mode", ["segment", "speech"])
def test_evaluate_then_rerun_pays_nothing_twice(server, key, tmp_path, mode) -> None:
    segs = write_speech(tmp_path)
    store = tmp_path / "study.db"
    spec = {"type": "gemini", "mode": mode, "base_url": server.url}
    res = ap.evaluate(segs, [spec], store=store, progress=False)
    assert len(res.estimates) == N and not res.failures
    assert set(res.labels()["field"]) == {"emotion", "rhetoric"}
    paid = server.count("generate")
    assert paid == (N if mode == "segment" else 1)
    # lose the stored estimates (as a crash between the paid answer and the commit would): the rerun asks the
    # layer again, and every answer comes from the cache
    with sqlite3.connect(store) as db:
        db.execute("DELETE FROM estimates")
    res2 = ap.evaluate(segs, [spec], store=store, progress=False)
    assert len(res2.estimates) == N and server.count("generate") == paid
    with Store(store) as db:
        calls = db.calls()
    assert sum(c["cached"] for c in calls) == paid and sum(1 for c in calls if not c["cached"]) == paid
    # usage and cost summed correctly: recompute every paid call from what the server received
    t = totals(calls)
    audio_tokens = sum(round(a.seconds * 32) for c in server.generate_calls for a in c.audio)
    text_tokens = sum(-(-len(c.system + "".join(c.texts)) // 4) for c in server.generate_calls)
    assert t["input_tokens"] == {"audio": audio_tokens, "text": text_tokens}
    cost = (audio_tokens * 1.00 + text_tokens * 0.30 + t["output_tokens"] * 2.50) / 1e6
    assert t["cost"] == pytest.approx(cost)
    for path, data in every_file_bytes(tmp_path):
        assert key.encode() not in data, path


def test_a_key_given_in_the_llm_settings_passes_the_preflight(server, tmp_path) -> None:
    from affectproxy_gemini.testing import fake_key

    key = fake_key()  # not in the environment: only in llm=
    segs = write_speech(tmp_path, 2)
    res = ap.evaluate(segs, [{"type": "gemini", "base_url": server.url}], store=tmp_path / "s.db", progress=False,
                      llm={"gemini": {"api_key": key}})
    assert len(res.estimates) == 2 and server.count("generate") == 2
    assert {c.call.api_key for c in server.generate_calls} == {key}
    for path, data in every_file_bytes(tmp_path):
        assert key.encode() not in data, path


def test_no_key_fails_before_any_segment(server, tmp_path) -> None:
    segs = write_speech(tmp_path, 3)
    with pytest.raises(ap.AffectProxyError, match="nothing was started: gemini: no API key: set GEMINI_API_KEY"):
        ap.evaluate(segs, [{"type": "gemini", "base_url": server.url}], store=tmp_path / "s.db", progress=False)
    assert server.calls == []


_CHILD = """
import sys, affectproxy as ap, soundfile
segs = [ap.Segment(f"s{i:02d}", ap.Recording("speech", sys.argv[2]), 2.0 * i, 2.0 * i + 1.5,
                   text=f"Sentence number {i}.") for i in range(int(sys.argv[4]))]
ap.evaluate(segs, [{"type": "gemini", "base_url": sys.argv[3], "mode": "speech", "window": 4.0, "overlap": 1.0}],
            store=sys.argv[1], progress=False, llm={"gemini": {"max_in_flight": 2}})
"""


@pytest.mark.slow
def test_killed_run_resumes_without_paying_twice(key, tmp_path) -> None:
    """Speech mode with 4-second windows: one task per recording, 8 window requests; the estimates are committed
    when every window is answered, so a kill halfway leaves paid answers that only the cache holds."""
    n = 16
    segs = write_speech(tmp_path, n)
    store = tmp_path / "study.db"
    spec = {"type": "gemini", "mode": "speech", "window": 4.0, "overlap": 1.0}
    with FakeGemini(latency=0.3) as server:
        env = dict(os.environ, GEMINI_API_KEY=key, NO_PROXY="127.0.0.1")
        child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_CHILD), str(store), segs[0].recording.path,
                                  server.url, str(n)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while server.count("generate") < 5 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.communicate()  # waits, and closes the pipes
        assert child.returncode == -signal.SIGKILL
        asked_before = server.count("generate")
        assert 5 <= asked_before < 8
        with Store(store) as db:
            assert not db.estimates(db.evaluators()[0].fingerprint)  # nothing committed yet
            paid_before = {c["cache_key"] for c in db.calls() if c["status"] == "ok"}
        assert len(paid_before) >= 2
        res = ap.evaluate(segs, [{**spec, "base_url": server.url}], store=store, progress=False,
                          llm={"gemini": {"max_in_flight": 2}})
        assert len(res.estimates) == n and not res.failures
        with Store(store) as db:
            calls = db.calls()
        paid_ok = [c["cache_key"] for c in calls if c["status"] == "ok" and not c["cached"]]
        assert len(paid_ok) == len(set(paid_ok)) == 8  # every window's answer was paid exactly once
        assert {c["cache_key"] for c in calls if c["cached"]} == paid_before  # served from the cache
        # the rerun asked exactly for the windows whose answers were not saved before the kill
        assert server.count("generate") == asked_before + 8 - len(paid_before)
    for path, data in every_file_bytes(tmp_path):
        assert key.encode() not in data, path
