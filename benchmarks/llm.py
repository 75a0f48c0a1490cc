"""LLM concurrency without stragglers: 400 requests against the local Gemini server, 16 in flight.

Each request's latency is drawn from a log-normal (median 0.2 s, sigma 0.8, fixed seed) and served by
:class:`affectproxy_gemini.testing.FakeGemini` (the real google-genai client, real HTTP on 127.0.0.1). The ideal
wall time with 16 in flight is ``sum(latencies) / 16 + max(latencies)`` (a greedy schedule's bound); the flowing
approaches must stay within 10% of it. Three ways are timed:

- ``engine``: ``ap.evaluate`` with the gemini evaluator in segment mode (audio read and FLAC-encoded per segment,
  each result committed as it arrives), the LLM layer deciding how many requests are in flight;
- ``layer``: 16 threads taking requests from a queue and calling ``LLMLayer.run`` one request at a time;
- ``batch-at-a-time``: ``LLMLayer.run`` on chunks of 16 requests, each chunk waiting for its slowest member (the
  approach the layer replaces).

Usage::

    python benchmarks/llm.py            # prints the table
    python benchmarks/llm.py --record   # also writes it under "## llm" in benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
N, IN_FLIGHT, MEDIAN, SIGMA, SEED = 400, 16, 0.2, 0.8, 20261129
SECTION = "## llm"


def latencies() -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return MEDIAN * np.exp(SIGMA * rng.standard_normal(N))


def serve() -> None:
    """Child process: run the local server with the benchmark's latencies; print its URL; stop on stdin EOF."""
    from affectproxy_gemini.testing import FakeGemini

    lat = latencies()

    def latency(call: Any) -> float:
        found = re.search(r"request (\d+)\b", call.text)
        return float(lat[int(found.group(1))]) if found else 0.0

    srv = FakeGemini(latency=latency).start()
    print(srv.url, flush=True)
    sys.stdin.read()
    srv.stop()


def server() -> tuple[subprocess.Popen[str], str]:
    """The server in its own process, so that its work does not share this process's GIL (a real API is
    remote)."""
    child = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None
    return child, child.stdout.readline().strip()


def requests(n: int) -> list[Any]:
    from affectproxy.llm import LLMRequest, Part

    schema = {"type": "object", "properties": {"valence": {"type": "number"}}, "required": ["valence"]}
    return [LLMRequest("gemini", "gemini-2.5-flash", [Part("text", text=f"Rate request {i} please.")],
                       schema=schema, segment_ids=(f"s{i}",)) for i in range(n)]


def run_layer(url: str, *, batch: bool) -> float:
    from affectproxy.llm import LLMConfig, LLMLayer

    reqs = requests(N)
    config = LLMConfig.from_mapping({"max_in_flight": IN_FLIGHT, "gemini": {"base_url": url,
                                                                          "max_in_flight": IN_FLIGHT}})
    with LLMLayer(None, config=config) as layer:
        layer.provider_for(reqs[0])  # build the client before timing (the engine run pays it, once)
        start = time.perf_counter()
        if batch:
            for i in range(0, N, IN_FLIGHT):
                answers = layer.run(reqs[i:i + IN_FLIGHT], evaluator="bench")
                assert all(a.ok for a in answers), answers[0].error
        else:
            todo: queue.Queue[Any] = queue.Queue()
            for r in reqs:
                todo.put(r)
            errors: list[str] = []

            def worker() -> None:
                while True:
                    try:
                        r = todo.get_nowait()
                    except queue.Empty:
                        return
                    [a] = layer.run([r], evaluator="bench")
                    if not a.ok:
                        errors.append(a.error)

            threads = [threading.Thread(target=worker) for _ in range(IN_FLIGHT)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors, errors[0]
        return time.perf_counter() - start


def warm(url: str) -> None:
    """One request through a throwaway layer: imports google-genai and lets it build its pydantic models (once
    per process), so that the timings below measure the flow of requests, not the start-up."""
    from affectproxy.llm import LLMConfig, LLMLayer

    with LLMLayer(None, config=LLMConfig.from_mapping({"gemini": {"base_url": url}})) as layer:
        [a] = layer.run([requests(1)[0]], evaluator="warm-up")
        assert a.ok, a.error


def run_engine(url: str) -> float:
    import affectproxy as ap

    with tempfile.TemporaryDirectory() as tmp:
        rate = 16000
        rng = np.random.default_rng(1)
        path = Path(tmp) / "speech.wav"
        sf.write(path, (0.1 * rng.standard_normal(rate * N // 2)).astype(np.float32), rate)
        rec = ap.Recording("speech", str(path))
        segs = [ap.Segment(f"s{i:03d}", rec, 0.5 * i, 0.5 * i + 0.45, text=f"request {i}") for i in range(N)]
        start = time.perf_counter()
        res = ap.evaluate(segs, [{"type": "gemini", "base_url": url}], store=Path(tmp) / "bench.db",
                          progress=False, llm={"max_in_flight": IN_FLIGHT, "gemini": {"max_in_flight": IN_FLIGHT}})
        took = time.perf_counter() - start
        assert len(res.estimates) == N, res.failures[:1]
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="write the table into benchmarks/RESULTS.md")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    os.environ.setdefault("GEMINI_API_KEY", "AIza" + "bench" * 7)  # the local server accepts any key
    for name in ("GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ.pop(name, None)
    os.environ["NO_PROXY"] = "127.0.0.1"
    lat = latencies()
    ideal = float(lat.sum() / IN_FLIGHT + lat.max())
    bound = float(max(lat.sum() / IN_FLIGHT, lat.max()))  # no schedule with 16 in flight can beat this
    batch_ideal = float(sum(lat[i:i + IN_FLIGHT].max() for i in range(0, N, IN_FLIGHT)))
    child, url = server()
    try:
        started = time.perf_counter()
        warm(url)
        startup = time.perf_counter() - started
        rows = [("engine (ap.evaluate, segment mode)", run_engine(url)),
                ("layer, 16 threads pulling from a queue", run_layer(url, batch=False)),
                ("batch-at-a-time (chunks of 16)", run_layer(url, batch=True))]
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}. Command: `python benchmarks/llm.py --record`. {N} requests, latencies "
        f"log-normal (median {MEDIAN} s, sigma {SIGMA}, seed {SEED}): sum {lat.sum():.1f} s, max {lat.max():.2f} s; "
        f"{IN_FLIGHT} in flight; the server runs in its own process. Ideal = sum / {IN_FLIGHT} + max = "
        f"{ideal:.2f} s; batch-at-a-time can at best reach the sum of each chunk's slowest = {batch_ideal:.2f} s. "
        "One warm-up request first (importing "
        f"google-genai and its one-time model building: {startup:.1f} s) is not counted; each timed run still "
        f"builds its own client. The ideal is the issue's target (a greedy schedule's upper bound), so a good "
        f"run can beat it; no schedule can beat the lower bound max(sum / {IN_FLIGHT}, max) = {bound:.2f} s. "
        f"Load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end of the run.",
        "",
        "| approach | wall s | x ideal | x lower bound |",
        "|---|---|---|---|",
        *[f"| {name} | {took:.2f} | {took / ideal:.3f} | {took / bound:.3f} |" for name, took in rows],
    ]
    table = "\n".join(lines)
    print(table)
    if args.record:
        results = HERE / "RESULTS.md"
        text = results.read_text(encoding="utf-8") if results.exists() else "# Benchmark results\n"
        block = f"{SECTION}\n\n{table}\n"
        if SECTION in text:
            head, _, rest = text.partition(SECTION)
            nxt = rest.find("\n## ")
            text = head + block + (rest[nxt:] if nxt >= 0 else "")
        else:
            text = text.rstrip("\n") + "\n\n" + block
        results.write_text(text, encoding="utf-8")
    ok = all(took <= 1.1 * ideal for name, took in rows[:2])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
