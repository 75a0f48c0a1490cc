"""The engine's second shape: executors, per-call saving, service errors, incremental groups, fix-then-retry,
run summaries. Each test names the bug it would catch."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import affectproxy as ap
from affectproxy.cli import main
from affectproxy.engine import RunFailuresWarning
from affectproxy.errors import AuthenticationError, RateLimitError
from affectproxy.executors import ThreadExecutor
from affectproxy.planning import Recipe
from affectproxy.store import Store


class Counting:
    """A real evaluator without audio that logs its calls and can raise chosen errors."""

    sample_rate = None
    min_duration = 0.0

    def __init__(self, name: str = "count", *, batch_size: int = 4, raise_on: dict[str, BaseException] | None = None,
                 group_by: str | None = None) -> None:
        self.name, self.batch_size, self.group_by = name, batch_size, group_by
        self.raise_on = raise_on or {}
        self.dimensions = (ap.Dimension("arousal"),)
        self.calls: list[list[str]] = []
        self._lock = threading.Lock()

    def fingerprint(self) -> dict[str, object]:
        return {"evaluator": "count", "v": 1}

    def evaluate(self, segments):
        with self._lock:
            self.calls.append([s.id for s in segments])
        for s in segments:
            if s.id in self.raise_on:
                raise self.raise_on[s.id]
        return [ap.EmotionEstimate(s.id, self.name, {"arousal": len(s.text) / 100}) for s in segments]


def segs(n: int = 8, speaker=None, rec: str = "talk") -> list[ap.Segment]:
    r = ap.Recording(rec)
    return [ap.Segment(f"s{i + 1}", r, i, i + 1, text="x" * (i + 1),
                       speaker=None if speaker is None else speaker(i)) for i in range(n)]


def test_service_errors_are_not_multiplied_by_one_by_one_reruns() -> None:
    # bug caught: rerunning a batch one segment at a time after a rate limit (N more requests to a refusing API)
    ev = Counting(raise_on={"s2": RateLimitError("429 Too Many Requests", retry_after=30)})
    res = ap.evaluate(segs(8), [ev], progress=False)
    assert ev.calls == [["s1", "s2", "s3", "s4"], ["s5", "s6", "s7", "s8"]]
    assert sorted(f.segment_id for f in res.failures) == ["s1", "s2", "s3", "s4"]
    assert {f.error_type for f in res.failures} == {"RateLimitError"}
    # a segment-level error still gets the one-by-one rerun
    ev2 = Counting(raise_on={"s2": ValueError("bad segment")})
    res2 = ap.evaluate(segs(4), [ev2], progress=False)
    assert ev2.calls == [["s1", "s2", "s3", "s4"], ["s1"], ["s2"], ["s3"], ["s4"]]
    assert [f.segment_id for f in res2.failures] == ["s2"]


def test_an_auth_error_stops_the_evaluator_with_one_message() -> None:
    # bug caught: carrying on with every batch (and recording N identical failures) after the key was refused
    ev = Counting(batch_size=2, raise_on={"s1": AuthenticationError("API key not valid; set GEMINI_API_KEY")})
    with pytest.warns(RunFailuresWarning, match="stopped early: API key not valid"):
        res = ap.evaluate(segs(8), [ev], progress=False)
    assert ev.calls == [["s1", "s2"]]
    assert res.summary[0].stopped.startswith("API key not valid") and res.summary[0].new == 0


def test_results_are_saved_per_completed_call_not_at_a_batch_barrier(tmp_path: Path) -> None:
    # bug caught: waiting for the slowest call of a wave before saving the others
    store = tmp_path / "t.sqlite"
    seen_others = threading.Event()

    class Slow(Counting):
        def evaluate(self, segments):
            if segments[0].id == "s1":  # hold s1 until the others are visible to a separate connection
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    with sqlite3.connect(store) as db:
                        n = db.execute("SELECT COUNT(*) FROM estimates WHERE segment_id != 's1'").fetchone()[0]
                    if n == 5:
                        seen_others.set()
                        break
                    time.sleep(0.02)
            return super().evaluate(segments)

    with ThreadExecutor(3) as pool:
        res = ap.evaluate(segs(6), [Slow(batch_size=1)], store=store, executor=pool, progress=False)
    assert seen_others.is_set()
    assert len(res.estimates) == 6


def test_a_paid_response_not_yet_saved_is_served_from_the_store_cache_on_rerun(tmp_path: Path) -> None:
    # bug caught: a cache that lives in memory (or per process) instead of the store pays twice after a crash
    class Paid(Counting):
        def __init__(self, fail_at: str | None) -> None:
            super().__init__("llm", batch_size=4)
            self.fail_at, self.paid = fail_at, []

        def use_cache(self, cache) -> None:
            self.cache = cache

        def evaluate(self, segments):
            out = []
            for s in segments:
                key = self.cache.key(model="m", text=s.text)
                raw = self.cache.get(key)
                if raw is None:
                    if s.id == self.fail_at:
                        raise RateLimitError("429: quota")  # fails the whole batch: s1, s2 paid, not saved
                    self.paid.append(s.id)
                    raw = str(len(s.text)).encode()
                    self.cache.put(key, raw)
                out.append(ap.EmotionEstimate(s.id, self.name, {"arousal": float(raw) / 100}))
            return out

    store = tmp_path / "p.sqlite"
    first = Paid(fail_at="s3")
    res = ap.evaluate(segs(4), [first], store=store, progress=False)
    assert first.paid == ["s1", "s2"] and res.estimates == []
    second = Paid(fail_at=None)
    res = ap.evaluate(segs(4), [second], store=store, progress=False)
    assert second.paid == ["s3", "s4"]
    assert len(res.estimates) == 4


class Grouped:
    """A group-wise evaluator split into measure (per segment) and combine (per group), logging both."""

    sample_rate = None
    min_duration = 0.0
    group_by = "speaker"

    def __init__(self, *, batch_size: int = 2, fail_measure: set[str] | None = None) -> None:
        self.name, self.batch_size = "grouped", batch_size
        self.dimensions = (ap.Dimension("arousal_z"),)
        self.fail_measure = fail_measure or set()
        self.measured: list[str] = []
        self.combined: list[list[str]] = []

    def fingerprint(self) -> dict[str, object]:
        return {"evaluator": "grouped", "v": 1}

    def measure(self, segments):
        self.measured += [s.id for s in segments]
        if any(s.id in self.fail_measure for s in segments):
            raise ValueError("no voice")
        return [{"len": len(s.text)} for s in segments]

    def combine(self, segments, measures):
        self.combined.append([s.id for s in segments])
        mean = sum(m["len"] for m in measures) / len(measures)
        return [ap.EmotionEstimate(s.id, self.name, {"arousal_z": m["len"] - mean})
                for s, m in zip(segments, measures, strict=True)]

    def evaluate(self, segments):
        return self.combine(segments, self.measure(segments))


def test_incremental_groups_measure_once_and_combine_whole_groups(tmp_path: Path) -> None:
    # bugs caught: recomputing saved per-segment results; combining only the pending members of a group
    store = tmp_path / "g.sqlite"
    speakers = segs(6, speaker=lambda i: "A" if i % 2 == 0 else "B")  # A: s1 s3 s5, B: s2 s4 s6
    first = Grouped(fail_measure={"s3"})
    res = ap.evaluate(speakers, [first], store=store, progress=False)
    assert [f.segment_id for f in res.failures] == ["s3"]
    assert sorted(first.combined) == [["s1", "s5"], ["s2", "s4", "s6"]]
    second = Grouped()
    res = ap.evaluate(speakers, [second], store=store, progress=False)
    assert second.measured == ["s3"]  # nothing measured twice
    assert second.combined == [["s1", "s3", "s5"]]  # the whole group, from saved measures
    values = {e.segment_id: e.values["arousal_z"] for e in res.estimates}
    assert values["s1"] == pytest.approx(1 - 3) and values["s5"] == pytest.approx(5 - 3)
    third = Grouped()
    ap.evaluate(speakers, [third], store=store, progress=False)
    assert third.measured == [] and third.combined == []


def test_legacy_group_rerun_hands_the_whole_group(tmp_path: Path) -> None:
    # bug caught: building groups from the pending segments only
    store = tmp_path / "g.sqlite"
    every = segs(5, speaker=lambda i: "A" if i % 2 == 0 else "B")
    first = Counting(group_by="speaker")
    ap.evaluate(every[:4], [first], store=store, progress=False)
    assert first.calls == [["s1", "s3"], ["s2", "s4"]]
    second = Counting(group_by="speaker")
    ap.evaluate(every, [second], store=store, progress=False)
    assert second.calls == [["s1", "s3", "s5"]]


def test_recipe_rebuilds_an_evaluator_elsewhere_with_the_same_fingerprint(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("segment_id,arousal\ns1,0.5\n")
    ev = ap.get_evaluator("table", path=str(table), name="human")
    fp = Store(None).put_evaluator(ev.name, ev.fingerprint(), ev.dimensions)
    recipe = Recipe.from_json(Recipe("table", {"path": str(table), "name": "human"}, fp).to_json())
    assert recipe.build().fingerprint() == ev.fingerprint()
    table.write_text("segment_id,arousal\ns1,0.7\n")  # other data on "this node"
    with pytest.raises(ap.AffectProxyError, match="rebuilt here has fingerprint"):
        recipe.build()


def test_fix_then_retry_a_segment_with_no_estimates(tmp_path: Path, speech_wav: Path) -> None:
    # bug caught: refusing the corrected times the error message asked for
    store = tmp_path / "fix.sqlite"
    rec = ap.Recording("speech", str(speech_wav))
    bad = [ap.Segment("a1", rec, 0, 1), ap.Segment("a3", rec, 5.5, 9.0)]
    loud = {"type": "loudness"}
    res = ap.evaluate(bad, [loud], store=store, progress=False)
    assert [f.segment_id for f in res.failures] == ["a3"] and "past the end" in res.failures[0].message
    fixed = [bad[0], ap.Segment("a3", rec, 5.0, 6.0)]
    res = ap.evaluate(fixed, [loud], store=store, progress=False)
    assert res.failures == [] and len(res.estimates) == 2
    moved = [ap.Segment("a1", rec, 0.5, 1.5), fixed[1]]
    with pytest.raises(ap.StoreError, match=r"'a1'.*1 stored estimate.*replace_changed=True.*--replace-changed"):
        ap.evaluate(moved, [loud], store=store, progress=False)
    res = ap.evaluate(moved, [loud], store=store, progress=False, replace_changed=True)
    assert res.summary[0].new == 1 and res.summary[0].already_done == 1
    with Store(store) as db:
        assert db.segments(["a1"])[0].start == 0.5


def test_cli_run_summarises_each_evaluator_and_exits_3_on_failures(tmp_path: Path, speech_wav: Path) -> None:
    (tmp_path / "seg.csv").write_text("id,start,end,text\na1,0,1,Ja\na2,1,2,Nein\na3,5.5,9,Zu lang\n")
    (tmp_path / "human.csv").write_text("segment_id,arousal\na1,0.1\na2,0.2\na3,0.3\n")
    (tmp_path / "study.toml").write_text(
        f'[study]\nsegments = "seg.csv"\naudio = "{speech_wav}"\nstore = "s.sqlite"\n\n'
        '[[evaluators]]\ntype = "loudness"\n\n[[evaluators]]\ntype = "table"\nname = "human"\npath = "human.csv"\n'
    )
    runner = CliRunner()
    out = runner.invoke(main, ["run", str(tmp_path / "study.toml"), "--no-progress"])
    assert out.exit_code == 3, out.output
    assert "loudness: 2 new, 0 already done, 1 failed (first: " in out.output
    assert "human: 3 new, 0 already done, 0 failed" in out.output
    assert "affectproxy failures" in out.output and "note: 1 of" not in out.output
    again = runner.invoke(main, ["run", str(tmp_path / "study.toml"), "--no-progress"])
    assert "loudness: 0 new, 2 already done, 1 failed" in again.output and again.exit_code == 3
    listed = runner.invoke(main, ["failures", str(tmp_path / "s.sqlite"), "-o", str(tmp_path / "f.csv")])
    assert listed.exit_code == 0 and "a3" in listed.output and "AudioError" in listed.output
    assert "a3" in (tmp_path / "f.csv").read_text()


def test_one_warning_per_evaluator_with_failures_and_right_plurals() -> None:
    ev = Counting(batch_size=1, raise_on={"s1": ValueError("boom")})
    with pytest.warns(RunFailuresWarning) as caught:
        ap.evaluate(segs(1), [ev], progress=False)
    assert len(caught) == 1 and str(caught[0].message).startswith("1 of 1 segment failed for 'count'; first:")


def test_the_demo_rerun_computes_nothing_new(tmp_path: Path) -> None:
    # bug caught: a rerun that silently recomputes (asserted from the store, not the exit code)
    from affectproxy.demo import run_demo

    run_demo(tmp_path / "d", progress=False, echo=lambda *a, **k: None)
    with sqlite3.connect(tmp_path / "d" / "demo.sqlite") as db:
        before = db.execute("SELECT segment_id, fingerprint, created FROM estimates ORDER BY 1, 2").fetchall()
        partials = db.execute("SELECT COUNT(*), MAX(created) FROM partials").fetchone()
    run_demo(tmp_path / "d", progress=False, echo=lambda *a, **k: None)
    with sqlite3.connect(tmp_path / "d" / "demo.sqlite") as db:
        assert db.execute("SELECT segment_id, fingerprint, created FROM estimates ORDER BY 1, 2").fetchall() == before
        assert db.execute("SELECT COUNT(*), MAX(created) FROM partials").fetchone() == partials
    assert len(before) == 45  # 15 segments x 3 evaluators


def test_the_store_cache_takes_puts_from_many_threads_each_committed_at_once(tmp_path: Path) -> None:
    # bug caught: a sqlite3 connection shared across threads (ProgrammingError) or puts left uncommitted
    from affectproxy.cache import ResponseCache

    store = Store(tmp_path / "c.sqlite")
    cache = ResponseCache(store)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(25):
                key = cache.key(thread=t, i=i)
                cache.put(key, f"{t}-{i}".encode())
                assert cache.get(key) == f"{t}-{i}".encode()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with sqlite3.connect(tmp_path / "c.sqlite") as other:  # another connection sees every put, committed
        assert other.execute("SELECT COUNT(*) FROM cache").fetchone()[0] == 200
    store.close()


def test_evaluate_checks_every_evaluator_before_the_first_segment(tmp_path: Path) -> None:
    # bug caught: an evaluator that cannot run (key unset, weights missing) found only after the others ran
    class NoKey(Counting):
        def check(self):
            return ap.CheckResult(False, "RATER_API_KEY is not set; export it")

    first = Counting()
    with pytest.raises(ap.AffectProxyError, match=r"1 evaluator cannot run here.*nokey: RATER_API_KEY is not set"):
        ap.evaluate(segs(3), [first, NoKey("nokey")], progress=False)
    assert first.calls == []
    with pytest.raises(ap.AffectProxyError, match=r"Evaluator #1 \('loudness'\) rejected its options scale_db"):
        ap.evaluate(segs(3), [{"type": "loudness", "scale_db": -1}], progress=False)


def test_cluster_resources_in_an_evaluator_entry_are_ignored_by_the_local_engine(tmp_path: Path,
                                                                                 speech_wav: Path) -> None:
    # bug caught: a study file written for engine="ray" ({"ray": {...}} per evaluator) fails on one machine
    rec = ap.Recording("speech", str(speech_wav))
    res = ap.evaluate([ap.Segment("a", rec, 0, 1)], [{"type": "loudness", "ray": {"num_cpus": 0.5}}],
                      progress=False)
    assert len(res.estimates) == 1
    (tmp_path / "seg.csv").write_text("id,start,end\na,0,1\n")
    (tmp_path / "study.toml").write_text(f'[study]\nsegments = "seg.csv"\naudio = "{speech_wav}"\n'
                                         '[[evaluators]]\ntype = "loudness"\nray = {num_cpus = 0.5}\n')
    out = CliRunner().invoke(main, ["run", str(tmp_path / "study.toml"), "--no-progress"])
    assert out.exit_code == 0, out.output
