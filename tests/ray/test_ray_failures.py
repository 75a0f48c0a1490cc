"""A worker process killed mid-run loses nothing it wrote; the run finishes, and a rerun computes nothing: shown
from the evaluator's own call log (one line per segment computed, with the worker's process id)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

from affectproxy.cluster.engine import evaluate_on_ray
from affectproxy.cluster.testing import Tone, read_log


def test_a_killed_worker_loses_nothing_and_the_rerun_recomputes_nothing(ray_cluster, synthetic,
                                                                        tmp_path: Path) -> None:
    segs = synthetic[:30]
    log = tmp_path / "tone.log"
    tone = Tone(log=str(log), delay=0.1)
    killed: dict[str, int] = {}

    def kill_a_worker() -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            calls = read_log(log)
            if len(calls) >= 8:
                killed["pid"] = calls[-1]["pid"]
                killed["logged"] = len(calls)
                os.kill(killed["pid"], signal.SIGKILL)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_worker)
    killer.start()
    res = evaluate_on_ray(segs, [tone], store=tmp_path / "k.sqlite", progress=False, batch_size=1)
    killer.join()
    assert killed and killed["logged"] < len(segs)  # killed mid-run
    assert res.summary[0].new == len(segs) and res.failures == []
    calls = read_log(log)
    counts = Counter(c["segment"] for c in calls)
    assert set(counts) == {s.id for s in segs}
    again = {sid for sid, n in counts.items() if n > 1}
    by_killed = {c["segment"] for c in calls if c["pid"] == killed["pid"]}
    saved_from_killed = {e.segment_id for e in res.estimates if e.raw["pid"] == killed["pid"]}
    assert saved_from_killed  # it had finished work before it died ...
    assert not (again & saved_from_killed)  # ... which was kept, not recomputed
    assert again <= by_killed and len(again) <= 2  # only what it was computing (two tasks in flight per actor)
    assert all(n <= 2 for n in counts.values())
    rerun = evaluate_on_ray(segs, [tone], store=tmp_path / "k.sqlite", progress=False, batch_size=1)
    assert rerun.summary[0].new == 0 and rerun.summary[0].already_done == len(segs)
    assert len(read_log(log)) == len(calls)  # nothing recomputed
