"""The LLM layer against a scripted provider: cache, retries, repairs, blocks, cost, call log, notes."""

from __future__ import annotations

import itertools
import json
import math
import time
import warnings

import pytest
from llm_scripted import PRICE, SCHEMA, Vendor, answer, request

from affectproxy.errors import (
    AuthenticationError,
    RateLimitError,
    ServiceError,
    ServiceTimeoutError,
    ServiceUnavailableError,
)
from affectproxy.llm import LLMConfig, LLMLayer, LLMNote, ProviderConfig
from affectproxy.llm.validate import BlockedError, InvalidAnswerError
from affectproxy.store import Store

FAST = {"scripted": {"backoff": 0.01, "backoff_max": 0.02, "jitter": False}}


def layer(store: Store | None = None, **table: object) -> LLMLayer:
    return LLMLayer(store, config=LLMConfig.from_mapping({"scripted": {**FAST["scripted"], **table}}))


def test_answer_is_validated_costed_logged_and_cached(vendor: Vendor) -> None:
    store = Store(None)
    with layer(store) as lay:
        [a] = lay.run([request()], evaluator="rater")
    assert a.ok and a.data == {"valence": 0.25} and not a.cached
    # 320 audio tokens at $2/M + 100 text at $0.5/M + 20 output at $4/M, computed by hand
    expected = (320 * 2.0 + 100 * 0.5 + 20 * 4.0) / 1e6
    assert a.cost == pytest.approx(expected)
    assert a.usage is not None and dict(a.usage.input_tokens) == {"audio": 320, "text": 100}
    [row] = store.calls()
    assert row["status"] == "ok" and row["cached"] == 0 and row["segment_ids"] == ["s1"]
    assert row["cost"] == pytest.approx(expected) and row["input_tokens"] == {"audio": 320, "text": 100}
    assert row["model_version"] == "scripted-001" and row["evaluator"] == "rater"
    assert row["cache_key"] == request().cache_key()
    assert json.loads(store.cache_get(request().cache_key()) or b"{}")["text"] == '{"valence": 0.25}'
    assert vendor.provider.closed
    assert vendor.provider.timeouts == [120.0]  # the documented default timeout is passed on


def test_cache_prevents_a_second_paid_call(vendor: Vendor) -> None:
    store = Store(None)
    with layer(store) as lay:
        lay.run([request()], evaluator="rater")
    with layer(store) as lay:
        [a] = lay.run([request()], evaluator="rater")
    assert a.cached and a.data == {"valence": 0.25} and a.cost == 0.0
    assert len(vendor.sent) == 1
    rows = store.calls()
    assert [r["cached"] for r in rows] == [0, 1]


def test_repeat_is_asked_and_cached_apart(vendor: Vendor) -> None:
    store = Store(None)
    with layer(store) as lay:
        lay.run([request(repeat=0), request(repeat=1)], evaluator="rater")
        lay.run([request(repeat=1)], evaluator="rater")
    assert len(vendor.sent) == 2
    assert request(repeat=0).cache_key() == request().cache_key()


def test_rate_limit_honours_retry_after_then_succeeds(vendor: Vendor) -> None:
    def behaviour(req, n):
        if n == 0:
            raise RateLimitError("429 quota", retry_after=0.4)
        return answer()

    vendor.behaviour = behaviour
    store = Store(None)
    started = time.monotonic()
    with layer(store, backoff=0.0) as lay:
        [a] = lay.run([request()], evaluator="rater")
    assert a.ok
    assert time.monotonic() - started >= 0.4
    assert [r["status"] for r in store.calls()] == ["error", "ok"]
    assert store.calls()[0]["cost"] == 0.0


def test_server_errors_until_give_up(vendor: Vendor) -> None:
    def behaviour(req, n):
        raise ServiceUnavailableError("HTTP 500 from the service")

    vendor.behaviour = behaviour
    store = Store(None)
    with layer(store, max_retries=2) as lay:
        [a] = lay.run([request("seg-7")], evaluator="rater")
    assert not a.ok and "seg-7" in a.error and "after 3 attempts" in a.error and "500" in a.error
    assert isinstance(a.exception, ServiceUnavailableError) and str(a.exception) == a.error
    assert len(vendor.sent) == 3
    assert store.cache_get(request("seg-7").cache_key()) is None
    assert [r["status"] for r in store.calls()] == ["error"] * 3


def test_backoff_doubles_without_retry_after(vendor: Vendor) -> None:
    times: list[float] = []

    def behaviour(req, n):
        times.append(time.monotonic())
        if n < 3:
            raise ServiceTimeoutError("no answer within 1 s")
        return answer()

    vendor.behaviour = behaviour
    with layer(backoff=0.1, backoff_max=10) as lay:
        [a] = lay.run([request()], evaluator="rater")
    assert a.ok
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # 0.1, 0.2, 0.4 s (lower bounds are exact; upper bounds leave room for a loaded machine)
    assert 0.1 <= gaps[0] < 0.3 and 0.2 <= gaps[1] < 0.45 and 0.4 <= gaps[2] < 0.75


def test_a_long_retry_after_fails_at_once(vendor: Vendor) -> None:
    def behaviour(req, n):
        raise RateLimitError("daily quota", retry_after=86400)

    vendor.behaviour = behaviour
    with layer(max_wait=60) as lay:
        [a] = lay.run([request()], evaluator="rater")
    assert "86400" in a.error and "max_wait" in a.error and len(vendor.sent) == 1


def test_a_refusal_is_not_retried(vendor: Vendor) -> None:
    def behaviour(req, n):
        raise ServiceError("HTTP 400: the audio format is not supported")

    vendor.behaviour = behaviour
    with layer() as lay:
        [a] = lay.run([request()], evaluator="rater")
    assert "audio format" in a.error and len(vendor.sent) == 1


def test_malformed_json_is_repaired_with_the_error_sent_back(vendor: Vendor) -> None:
    vendor.behaviour = lambda req, n: answer('{"valence": 0.3,' if n == 0 else '{"valence": 0.3}')
    store = Store(None)
    with layer(store) as lay:
        [a] = lay.run([request()], evaluator="rater")
    assert a.ok and a.data == {"valence": 0.3}
    first, second = vendor.sent
    repair = second.parts[-1].text
    assert "not valid JSON" in repair and '{"valence": 0.3,' in repair
    assert second.parts[:-1] == first.parts and second.schema == SCHEMA and second.system == first.system
    assert [r["status"] for r in store.calls()] == ["invalid", "ok"]
    one = (320 * 2.0 + 100 * 0.5 + 20 * 4.0) / 1e6
    assert a.cost == pytest.approx(2 * one)  # both attempts were paid
    assert a.usage is not None and a.usage.input_tokens["audio"] == 640
    # the repaired answer is cached under the original request's key
    assert store.cache_get(request().cache_key()) is not None


def test_schema_violation_fails_after_the_repairs(vendor: Vendor) -> None:
    vendor.behaviour = lambda req, n: answer('{"valence": 3.0}')
    store = Store(None)
    with layer(store, repairs=2) as lay:
        [a] = lay.run([request("seg-9")], evaluator="rater")
    assert not a.ok and "seg-9" in a.error and "maximum" in a.error and "2 repair" in a.error
    assert isinstance(a.exception, InvalidAnswerError) and str(a.exception) == a.error
    assert len(vendor.sent) == 3
    assert store.cache_get(request("seg-9").cache_key()) is None  # invalid answers are never cached
    # a rerun asks again (paid and counted)
    vendor.behaviour = lambda req, n: answer('{"valence": 0.5}')
    with layer(store) as lay:
        [b] = lay.run([request("seg-9")], evaluator="rater")
    assert b.ok and not b.cached and len(vendor.sent) == 4


def test_safety_block_is_a_failure_with_the_reason(vendor: Vendor) -> None:
    vendor.behaviour = lambda req, n: answer("", blocked="safety: HARM_CATEGORY_HARASSMENT", output=0)
    store = Store(None)
    with layer(store) as lay:
        [a] = lay.run([request("seg-3")], evaluator="rater")
    assert not a.ok and "seg-3" in a.error and "HARASSMENT" in a.error
    assert isinstance(a.exception, BlockedError) and str(a.exception) == a.error
    assert len(vendor.sent) == 1
    [row] = store.calls()
    assert row["status"] == "blocked" and row["cost"] == pytest.approx((320 * 2.0 + 100 * 0.5) / 1e6)


def test_authentication_error_is_raised_and_stops_the_provider(vendor: Vendor) -> None:
    def behaviour(req, n):
        raise AuthenticationError("HTTP 401: the key was refused; set GEMINI_API_KEY")

    vendor.behaviour = behaviour
    with layer() as lay:
        with pytest.raises(AuthenticationError):
            lay.run([request("a"), request("b"), request("c")], evaluator="rater")
        with pytest.raises(AuthenticationError):
            lay.run([request("d")], evaluator="rater")
    assert len(vendor.sent) <= 3 and all(r.segment_ids != ("d",) for r in vendor.sent)


def test_unknown_price_costs_unknown_but_counts_tokens(vendor: Vendor) -> None:
    store = Store(None)
    with layer(store) as lay:
        [a] = lay.run([request(model="unpriced-model")], evaluator="rater")
        frame = lay.usage()
    assert a.ok and a.cost is None
    assert math.isnan(frame["cost"].iloc[0]) and frame["cost_unknown"].iloc[0] == 1
    assert frame["in_audio"].iloc[0] == 320
    assert store.calls()[0]["cost"] is None


def test_price_override(vendor: Vendor) -> None:
    with layer(prices={"unpriced-model": {"input": {"text": 1.0}, "output": 10.0}}) as lay:
        [a] = lay.run([request(model="unpriced-model-001")], evaluator="rater")
    # a versioned id matches its model; audio falls back to the text price: (320 + 100) * 1 + 20 * 10
    assert a.cost == pytest.approx((420 * 1.0 + 20 * 10.0) / 1e6)


def test_model_version_change_warns_once(vendor: Vendor) -> None:
    vendor.behaviour = lambda req, n: answer(version="scripted-001" if n == 0 else "scripted-002")
    with layer() as lay, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lay.run([request("a")], evaluator="rater")
        lay.run([request("b"), request("c")], evaluator="rater")
    notes = [w for w in caught if issubclass(w.category, LLMNote)]
    assert len(notes) == 1 and "scripted-002" in str(notes[0].message) and "scripted-001" in str(notes[0].message)


def test_model_version_change_across_runs_of_one_store(vendor: Vendor) -> None:
    store = Store(None)
    with layer(store) as lay:
        lay.run([request("a")], evaluator="rater")
    vendor.behaviour = lambda req, n: answer(version="scripted-002")
    with layer(store) as lay, pytest.warns(LLMNote, match="scripted-002"):
        lay.run([request("b")], evaluator="rater")


def test_option_a_provider_cannot_send_is_noted_once(vendor: Vendor) -> None:
    vendor.can_send = frozenset({"system", "schema", "audio"})
    with layer() as lay, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lay.run([request("a", seed=1, temperature=0.0), request("b", seed=1)], evaluator="rater")
    notes = sorted(str(w.message) for w in caught if issubclass(w.category, LLMNote))
    assert len(notes) == 2 and "'seed'" in notes[0] and "'temperature'" in notes[1]


def test_unknown_provider_is_a_failure_naming_it(vendor: Vendor) -> None:
    import attrs

    with layer() as lay:
        [a] = lay.run([attrs.evolve(request(), provider="scriptd")], evaluator="rater")
    assert "scriptd" in a.error and "Did you mean 'scripted'" in a.error


def test_concurrency_limit_and_order(vendor: Vendor) -> None:
    vendor.delay = 0.05
    vendor.behaviour = lambda req, n: answer(json.dumps({"valence": int(req.segment_ids[0]) / 100}))
    with layer(max_in_flight=3) as lay:
        answers = lay.run([request(str(i)) for i in range(12)], evaluator="rater")
    assert [a.data["valence"] for a in answers] == [i / 100 for i in range(12)]
    assert vendor.provider.max_seen == 3


def test_limits_are_shared_across_threads_and_calls(vendor: Vendor) -> None:
    import threading

    vendor.delay = 0.05
    with layer(max_in_flight=2) as lay:
        threads = [threading.Thread(target=lay.run, args=([request(f"t{i}")],), kwargs={"evaluator": "rater"})
                   for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert vendor.provider.max_seen == 2 and len(vendor.sent) == 8


def test_provider_options_select_an_instance_and_keys_stay_out_of_the_store(vendor: Vendor, tmp_path) -> None:
    key = "k-" + "x" * 8 + str(time.time_ns())  # built at run time
    store = Store(tmp_path / "s.db")
    config = LLMConfig.from_mapping({"scripted": {"api_key": key, "base_url": "http://127.0.0.1:1"}})
    assert key not in repr(config)
    with LLMLayer(store, config=config) as lay:
        lay.run([request("a")], evaluator="rater")
        import attrs

        lay.run([attrs.evolve(request("b"), provider_options={"api_version": "v1beta"})], evaluator="rater")
    assert vendor.built[0].options == {"api_key": key, "base_url": "http://127.0.0.1:1"}
    assert vendor.built[1].options["api_version"] == "v1beta" and len(vendor.built) == 2
    store.close()
    for path in tmp_path.iterdir():
        assert key.encode() not in path.read_bytes()


def test_provider_config_defaults_are_documented() -> None:
    cfg = ProviderConfig()
    assert (cfg.max_in_flight, cfg.rpm, cfg.tpm, cfg.timeout, cfg.max_retries, cfg.repairs) == (16, None, None,
                                                                                              120.0, 6, 2)
    assert LLMConfig().max_in_flight == 16
    assert PRICE.cost  # the test price is a real Price


def test_price_table_matches_versions_not_other_models() -> None:
    from affectproxy.llm.types import PriceTable

    table = PriceTable({"gemini-2.5-flash": PRICE})
    assert table.get("gemini-2.5-flash-001") is PRICE and table.get("gemini-2.5-flash@001") is PRICE
    assert table.get("gemini-2.5-flash-lite") is None and table.get("gemini-2.5-flash-preview-05-20") is None


def test_no_call_is_logged_as_paid_without_its_answer_in_the_cache(vendor: Vendor, tmp_path) -> None:
    """The log row of a paid answer and its cache entry are one commit: a crash between two separate commits
    (here the cache write fails, as a kill there would leave it) must not leave an 'ok' row whose answer the cache
    lacks, or the rerun pays for it again."""
    import sqlite3

    path = tmp_path / "study.db"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TRIGGER lost BEFORE INSERT ON cache BEGIN SELECT RAISE(ABORT, 'killed here'); END")
    store = Store(path)
    with layer(store) as lay, pytest.raises(sqlite3.Error, match="killed here"):
        lay.run([request()], evaluator="rater")
    logged_ok = [c["cache_key"] for c in store.calls() if c["status"] == "ok" and not c["cached"]]
    assert all(store.cache_get(k) is not None for k in logged_ok), "a paid answer is logged but not cached"
    store.close()
