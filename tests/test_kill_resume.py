"""A study run killed with SIGKILL mid-way, then rerun: nothing lost, no finished segment computed twice.

The evaluator is a real plugin distribution found through its entry point by the child ``affectproxy run``; it
logs every call (process id and segment ids) to a file, so the proof comes from the evaluator's own call log.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

PLUGIN = """
import os, time
import affectproxy as ap

class SlowLog:
    sample_rate = None
    min_duration = 0.0
    batch_size = 1
    def __init__(self, log, name="slowlog", delay=0.15):
        self.name, self.log, self.delay = name, log, delay
        self.dimensions = (ap.Dimension("arousal"),)
    def fingerprint(self):
        return {"evaluator": "slowlog", "version": 1}
    def evaluate(self, segments):
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()} " + " ".join(s.id for s in segments) + "\\n")
        time.sleep(self.delay)
        return [ap.EmotionEstimate(s.id, self.name, {"arousal": (int(s.id[1:]) % 7) / 7}) for s in segments]

@ap.hookimpl
def affectproxy_evaluators():
    yield ap.EvaluatorSpec("slowlog", SlowLog, "logs its calls")
"""


def _done(store: Path) -> set[str]:
    if not store.exists():
        return set()
    with sqlite3.connect(store) as db:
        try:
            return {r[0] for r in db.execute("SELECT segment_id FROM estimates")}
        except sqlite3.OperationalError:
            return set()


@pytest.mark.parametrize("batch_size", [1, 3])
def test_sigkill_then_rerun_loses_nothing_and_repeats_nothing(tmp_path: Path, make_distribution,
                                                              batch_size: int) -> None:
    site = make_distribution(tmp_path / "site", "affectproxy-slowlog", {"slowlog": "slowlog_plugin"},
                             {"slowlog_plugin": PLUGIN})
    n = 30
    (tmp_path / "segments.csv").write_text("id,start,end,text\n" + "".join(
        f"s{i},{i},{i + 1},Satz {i}\n" for i in range(n)))
    log, store = tmp_path / "calls.log", tmp_path / "study.sqlite"
    (tmp_path / "study.toml").write_text(f"""
[study]
name = "kill"
segments = "segments.csv"
store = "study.sqlite"

[[evaluators]]
type = "slowlog"
log = "{log}"
""")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "affectproxy.cli", "run", str(tmp_path / "study.toml"), "--no-progress",
           "--batch-size", str(batch_size)]
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(_done(store)) < 5 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.communicate()  # waits, and closes the pipes
    assert child.returncode == -signal.SIGKILL
    before = _done(store)
    assert 5 <= len(before) < n, before

    first_pid = {line.split()[0] for line in log.read_text().splitlines()}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    calls = [line.split() for line in log.read_text().splitlines()]
    rerun = [ids for pid, *ids in calls if pid not in first_pid]
    rerun_ids = [i for ids in rerun for i in ids]
    assert not set(rerun_ids) & before, "a segment finished before the kill was computed again"
    assert len(rerun_ids) == len(set(rerun_ids))
    assert before | set(rerun_ids) == {f"s{i}" for i in range(n)}
    assert _done(store) == {f"s{i}" for i in range(n)}


def test_ctrl_c_says_how_to_resume(tmp_path: Path, make_distribution) -> None:
    site = make_distribution(tmp_path / "site", "affectproxy-slowlog", {"slowlog": "slowlog_plugin"},
                             {"slowlog_plugin": PLUGIN})
    (tmp_path / "segments.csv").write_text("id,start,end\n" + "".join(f"s{i},{i},{i + 1}\n" for i in range(50)))
    (tmp_path / "study.toml").write_text(f'[study]\nsegments = "segments.csv"\nstore = "s.sqlite"\n'
                                         f'[[evaluators]]\ntype = "slowlog"\nlog = "{tmp_path / "log"}"\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    child = subprocess.Popen([sys.executable, "-m", "affectproxy.cli", "run", str(tmp_path / "study.toml"),
                              "--no-progress"], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(_done(tmp_path / "s.sqlite")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert "Interrupted. Every finished estimate is in the store" in err and "Traceback" not in err
    assert len(_done(tmp_path / "s.sqlite")) >= 2


GROUP_PLUGIN = """
import os, time
import affectproxy as ap

class GroupLog:
    sample_rate = None
    min_duration = 0.0
    batch_size = 2
    group_by = "speaker"
    def __init__(self, log, name="grouplog"):
        self.name, self.log = name, log
        self.dimensions = (ap.Dimension("arousal_z"),)
    def fingerprint(self):
        return {"evaluator": "grouplog", "version": 1}
    def measure(self, segments):
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()} " + " ".join(s.id for s in segments) + "\\n")
        time.sleep(0.1)
        return [{"x": int(s.id[1:]) % 5} for s in segments]
    def combine(self, segments, measures):
        mean = sum(m["x"] for m in measures) / len(measures)
        return [ap.EmotionEstimate(s.id, self.name, {"arousal_z": m["x"] - mean}) for s, m in zip(segments, measures)]
    def evaluate(self, segments):
        return self.combine(segments, self.measure(segments))

@ap.hookimpl
def affectproxy_evaluators():
    yield ap.EvaluatorSpec("grouplog", GroupLog, "a group-wise evaluator that logs its per-segment step")
"""


def _measured(store: Path) -> set[str]:
    if not store.exists():
        return set()
    with sqlite3.connect(store) as db:
        try:
            return {r[0] for r in db.execute("SELECT segment_id FROM partials")}
        except sqlite3.OperationalError:
            return set()


def test_sigint_inside_one_large_group_keeps_every_measured_segment(tmp_path: Path, make_distribution) -> None:
    """SIGINT partway through one speaker's 40 segments: the rerun measures only the rest (from the
    evaluator's own call log), then standardises the whole group."""
    site = make_distribution(tmp_path / "site", "affectproxy-grouplog", {"grouplog": "grouplog_plugin"},
                             {"grouplog_plugin": GROUP_PLUGIN})
    n = 40
    (tmp_path / "segments.csv").write_text("id,start,end,speaker\n" + "".join(
        f"s{i},{i},{i + 1},A\n" for i in range(n)))
    log, store = tmp_path / "calls.log", tmp_path / "s.sqlite"
    (tmp_path / "study.toml").write_text(f'[study]\nsegments = "segments.csv"\nstore = "s.sqlite"\n'
                                         f'[[evaluators]]\ntype = "grouplog"\nlog = "{log}"\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "affectproxy.cli", "run", str(tmp_path / "study.toml"), "--no-progress"]
    child = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(_measured(store)) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    before = _measured(store)
    assert 6 <= len(before) < n and _done(store) == set()
    first_pid = {line.split()[0] for line in log.read_text().splitlines()}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rerun_ids = [i for pid, *ids in (line.split() for line in log.read_text().splitlines()) if pid not in first_pid
                 for i in ids]
    assert not set(rerun_ids) & before, "a segment measured before the interrupt was measured again"
    assert before | set(rerun_ids) == {f"s{i}" for i in range(n)}
    with sqlite3.connect(store) as db:
        values = [r[0] for r in db.execute("SELECT \"values\" FROM estimates")]
    assert len(values) == n
