"""The cluster engine's parts that need no cluster: sharding by recording, the Parquet round trip, options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import affectproxy as ap
from affectproxy.cluster.engine import Resources, shard
from affectproxy.cluster.outputs import decode, files_of, read_rows, rows_of, write_rows
from affectproxy.errors import AffectProxyError
from affectproxy.planning import Task
from affectproxy.store import Failure


def segments() -> list[ap.Segment]:
    a, b = ap.Recording("a/1"), ap.Recording("b")
    return [ap.Segment(f"{r.id}-{i}", r, i, i + 1) for r in (a, b) for i in range(3)] + [ap.Segment("a-late", a, 9, 10)]


def test_shard_cuts_loose_tasks_by_recording_and_keeps_groups_whole() -> None:
    segs = segments()
    loose = [Task("x", "batch", segs[:4]), Task("x", "batch", segs[4:])]
    group = Task("x", "batch", segs, grouped=True)
    out = shard([*loose, group], 2)
    assert group in out
    cut = [t for t in out if not t.grouped]
    assert all(len({s.recording.id for s in t.segments}) == 1 and len(t.segments) <= 2 for t in cut)
    assert sorted(s.id for t in cut for s in t.segments) == sorted(s.id for s in segs)
    assert [s.id for t in cut if t.segments[0].recording.id == "a/1" for s in t.segments] == [
        "a/1-0", "a/1-1", "a/1-2", "a-late"]  # run order kept within a recording


def test_parquet_round_trip_is_exact_and_partitioned_by_recording(tmp_path: Path) -> None:
    segs = segments()
    by_id = {s.id: s for s in segs}
    est = ap.EmotionEstimate(segs[0].id, "m", {"arousal": 0.1 + 0.2, "valence": -1 / 3}, {"joy": 2 / 7, "sad": 5 / 7},
                             0.9, "because", {"k": [1, 2.5]}, {"emb": np.arange(5, dtype=np.float32) / 3},
                             labels={"emotion": "joy"})
    fail = Failure(segs[3].id, "m", "fp0123456789abcdef", "AudioError", "segment 'b-0': bad audio")
    rows = rows_of("fp0123456789abcdef", by_id, [est], [fail], {segs[4].id: {"f0": [1 / 3, None]}}, "t1")
    files = write_rows(tmp_path, "fp0123456789abcdef", rows)
    assert sorted(Path(f).parent.name for f in files) == ["recording=a%2F1", "recording=b"]
    (tmp_path / "recording=b" / "fp0123456789-dead.tmp").write_bytes(b"half a file from a killed worker")
    found = files_of(tmp_path, "fp0123456789abcdef")
    assert sorted(map(str, found)) == sorted(files)
    estimates, failures, measures = decode(read_rows(found, "fp0123456789abcdef"))
    [back] = estimates
    assert back.values == est.values and back.categories == est.categories and back.labels == est.labels
    assert back.raw == est.raw and back.rationale == "because" and back.confidence == 0.9
    np.testing.assert_array_equal(back.arrays["emb"], est.arrays["emb"])
    assert back.arrays["emb"].dtype == np.float32
    assert failures == [fail] and measures == {segs[4].id: {"f0": [1 / 3, None]}}


def test_unknown_ray_options_are_refused_with_the_valid_ones() -> None:
    assert Resources.from_mapping("e2v", {"num_gpus": 1, "actors": 2}).num_gpus == 1
    with pytest.raises(AffectProxyError, match=r"'e2v': unknown ray option 'gpus'; use actors, num_cpus, num_gpus"):
        Resources.from_mapping("e2v", {"gpus": 1})


def test_an_evaluator_asked_to_run_on_cuda_reserves_a_gpu_by_default() -> None:
    from affectproxy.cluster.engine import _wants_cuda
    from affectproxy.cluster.testing import Tone
    from affectproxy.planning import Recipe

    assert _wants_cuda(Tone(), Recipe("emotion2vec", {"device": "cuda:1"}))
    assert not _wants_cuda(Tone(), Recipe("emotion2vec", {"device": "cpu"}))
    assert not _wants_cuda(Tone(), None)


def test_import_affectproxy_loads_neither_ray_nor_the_cluster_engine() -> None:
    import subprocess
    import sys

    code = ("import sys, affectproxy; "
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith(('ray.', 'affectproxy.cluster'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
