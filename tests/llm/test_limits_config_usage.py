"""Limits (sliding windows, concurrency, pauses), the config reader, and the usage summary."""

from __future__ import annotations

import math
import threading
import time

import pytest

from affectproxy.llm import LLMConfig, LLMConfigError
from affectproxy.llm.limits import Limiter
from affectproxy.llm.types import Price
from affectproxy.llm.usage import summarize, totals


def _hammer(lim: Limiter, n: int, tokens: float = 0.0, hold: float = 0.0) -> list[float]:
    starts: list[float] = []
    lock = threading.Lock()

    def one() -> None:
        with lim.slot(tokens):
            with lock:
                starts.append(time.monotonic())
            time.sleep(hold)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(starts)


def test_requests_per_window_is_a_sliding_window() -> None:
    lim = Limiter(max_in_flight=100, rpm=4, window=0.3)
    starts = _hammer(lim, 10)
    # no 0.3 s window holds more than 4 starts; 10 starts need at least two full windows
    for i in range(len(starts) - 4):
        assert starts[i + 4] - starts[i] >= 0.3 - 1e-3
    assert starts[-1] - starts[0] >= 0.6 - 1e-3


def test_tokens_per_window() -> None:
    lim = Limiter(max_in_flight=100, tpm=1000, window=0.3)
    starts = _hammer(lim, 6, tokens=400)  # two fit in a window (800 <= 1000), a third does not
    for i in range(len(starts) - 2):
        assert starts[i + 2] - starts[i] >= 0.3 - 1e-3


def test_settle_gives_back_unused_tokens() -> None:
    lim = Limiter(max_in_flight=100, tpm=1000, window=5.0)
    with lim.slot(900) as grant:
        grant.settle(100)
    t0 = time.monotonic()
    with lim.slot(800):
        pass
    assert time.monotonic() - t0 < 0.5


def test_a_request_larger_than_the_budget_still_runs_when_alone() -> None:
    lim = Limiter(tpm=100, window=5.0)
    t0 = time.monotonic()
    with lim.slot(5000):
        pass
    assert time.monotonic() - t0 < 0.5


def test_concurrency_cap() -> None:
    lim = Limiter(max_in_flight=3)
    seen = []
    lock = threading.Lock()

    def one() -> None:
        with lim.slot():
            with lock:
                seen.append(lim.in_flight)
            time.sleep(0.03)

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(seen) == 3 and lim.in_flight == 0


def test_pause_holds_every_thread() -> None:
    lim = Limiter()
    lim.pause(0.3)
    starts = _hammer(lim, 3)
    t_pause = starts[0]
    assert all(s >= t_pause for s in starts)
    lim2 = Limiter()
    t0 = time.monotonic()
    lim2.pause(0.3)
    assert min(_hammer(lim2, 3)) - t0 >= 0.3 - 1e-3


def test_config_reads_both_shapes_and_rejects_unknown_keys() -> None:
    cfg = LLMConfig.from_mapping({"max_in_flight": 32, "gemini": {"rpm": 60, "tpm": 1e6, "timeout": 30,
                                                                   "prices": {"gemini-x": {"input": 0.1,
                                                                                           "output": 0.4}}}})
    assert cfg.max_in_flight == 32 and cfg.provider("gemini").timeout == 30.0
    assert cfg.provider("gemini").prices["gemini-x"] == Price({"text": 0.1}, 0.4)
    assert cfg.provider("openai").rpm is None
    with pytest.raises(LLMConfigError, match=r"'max_in_fligt'.*did you mean 'max_in_flight'"):
        LLMConfig.from_mapping({"gemini": {"max_in_fligt": 4}})
    with pytest.raises(LLMConfigError, match=r"'max_inflight'.*did you mean 'max_in_flight'"):
        LLMConfig.from_mapping({"max_inflight": 4})
    with pytest.raises(LLMConfigError, match=r"'strict'; a provider's own option goes in options"):
        LLMConfig.from_mapping({"openai": {"strict": False}})
    assert LLMConfig.from_mapping({"openai": {"options": {"strict": False}}}).provider("openai").provider_options() == {
        "strict": False}
    with pytest.raises(LLMConfigError, match="rpm must be > 0"):
        LLMConfig.from_mapping({"gemini": {"rpm": 0}})
    with pytest.raises(LLMConfigError, match="unknown field 'ouput'"):
        LLMConfig.from_mapping({"gemini": {"prices": {"m": {"ouput": 1}}}})


def _row(**kw: object) -> dict[str, object]:
    row = dict(evaluator="g", provider="gemini", model="m", model_version="m-1", cached=0, status="ok",
               input_tokens={"audio": 100, "text": 10}, output_tokens=5, thinking_tokens=2, cached_tokens=0,
               cost=0.5, latency=1.0)
    row.update(kw)
    return row


def test_usage_summary_by_hand() -> None:
    rows = [
        _row(),
        _row(status="invalid", cost=0.25, latency=3.0, model_version="m-2"),
        _row(status="error", input_tokens={}, output_tokens=0, cost=0.0),
        _row(cached=1, input_tokens={}, output_tokens=None, cost=0.0),
        _row(evaluator="trust", provider="openai", model="o", input_tokens={"text": 7}, cost=None),
    ]
    frame = summarize(rows).set_index("evaluator")
    g = frame.loc["g"]
    assert (g["calls"], g["ok"], g["invalid"], g["errors"], g["cache_hits"]) == (2, 1, 1, 1, 1)
    assert (g["in_audio"], g["in_text"], g["output_tokens"], g["thinking_tokens"]) == (200, 20, 10, 4)
    assert g["cost"] == pytest.approx(0.75) and g["mean_latency"] == pytest.approx(2.0)
    assert g["model_versions"] == "m-1,m-2"
    t = frame.loc["trust"]
    assert math.isnan(float(t["cost"])) and t["cost_unknown"] == 1 and t["in_text"] == 7 and t["in_audio"] == 0
    tot = totals(rows)
    assert tot["cost"] is None and tot["known_cost"] == pytest.approx(0.75)
    assert tot["input_tokens"] == {"audio": 200, "text": 27} and tot["calls"] == 3 and tot["cache_hits"] == 1
