"""The Ray engine gives the local engine's results, saves them in the same store (and a Parquet dataset), and a
rerun computes nothing that is done."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import affectproxy as ap
from affectproxy.cluster.connect import ClusterError
from affectproxy.cluster.engine import evaluate_on_ray
from affectproxy.cluster.testing import Tone, read_log
from affectproxy.demo import REFERENCE, TARGET, example_dir


def assert_same(a: ap.Results, b: ap.Results, tol: float = 1e-9) -> None:
    """Every estimate of ``a`` is in ``b`` with the same values, categories, labels and arrays."""
    assert [r.name for r in a.evaluators] == [r.name for r in b.evaluators]
    assert [r.fingerprint for r in a.evaluators] == [r.fingerprint for r in b.evaluators]
    left = {(e.evaluator, e.segment_id): e for e in a.estimates}
    right = {(e.evaluator, e.segment_id): e for e in b.estimates}
    assert left.keys() == right.keys() and left
    for key, x in left.items():
        y = right[key]
        assert x.values.keys() == y.values.keys(), key
        for dim, v in x.values.items():
            assert math.isclose(v, y.values[dim], rel_tol=0, abs_tol=tol), (key, dim, v, y.values[dim])
        assert x.categories == y.categories and x.labels == y.labels
        assert x.arrays.keys() == y.arrays.keys()
        for name, arr in x.arrays.items():
            np.testing.assert_allclose(arr, y.arrays[name], rtol=0, atol=tol)
    assert a.failures == b.failures == []


def example() -> tuple[list[ap.Segment], list[object]]:
    data = example_dir()
    segs = ap.load_segments(data / "segments.csv", audio=data / "speech.flac")
    return segs, ["prosody", dict(REFERENCE, path=str(data / "reference.csv"))]


@pytest.mark.filterwarnings("ignore:.*effective sample size")  # 15 segments: the example is small
def test_example_equals_local_and_rerun_skips_done(ray_cluster, tmp_path: Path) -> None:
    segs, evs = example()
    local = ap.evaluate(segs, evs, store=tmp_path / "local.sqlite", progress=False)
    on_ray = ap.evaluate(segs, evs, store=tmp_path / "ray.sqlite", progress=False, engine="ray")
    assert_same(local, on_ray)
    assert [s.line() for s in on_ray.summary] == [s.line() for s in local.summary]
    # the Parquet dataset, partitioned by recording, holds what the store holds
    import pyarrow.dataset as pds

    table = pds.dataset(tmp_path / "ray.parquet" / "prosody", partitioning="hive").to_table().to_pandas()
    assert set(table["recording"]) == {s.recording.id for s in segs}
    assert sorted(table.loc[table["kind"] == "estimate", "segment_id"]) == sorted(s.id for s in segs)
    # Results, compare and report read the same tables
    back = ap.open_results(tmp_path / "ray.sqlite")
    assert back.to_pandas().equals(ap.open_results(tmp_path / "local.sqlite").to_pandas())
    table = ap.compare.correlate(back, method="spearman", target=TARGET)
    assert table.equals(ap.compare.correlate(ap.open_results(tmp_path / "local.sqlite"), method="spearman",
                                             target=TARGET))
    assert len(table) > 0
    again = ap.evaluate(segs, evs, store=tmp_path / "ray.sqlite", progress=False, engine="ray")
    assert [(s.new, s.already_done) for s in again.summary] == [(0, len(segs)), (0, len(segs))]


def test_synthetic_twenty_recordings_equal_local_across_shards(ray_cluster, synthetic, tmp_path: Path) -> None:
    # prosody standardises within speakers, and the speakers span recordings (shards)
    speakers = {}
    for s in synthetic:
        speakers.setdefault(s.speaker, set()).add(s.recording.id)
    assert max(len(r) for r in speakers.values()) > 5
    log = tmp_path / "tone.log"
    evs = [{"type": "prosody"}, Tone(log=str(log))]
    local = ap.evaluate(synthetic, [{"type": "prosody"}, Tone()], store=tmp_path / "local.sqlite", progress=False)
    on_ray = evaluate_on_ray(synthetic, evs, store=tmp_path / "ray.sqlite", progress=False, batch_size=4)
    assert_same(local, on_ray)
    calls = read_log(log)
    assert sorted(c["segment"] for c in calls) == sorted(s.id for s in synthetic)  # each computed once
    assert len({c["pid"] for c in calls}) == 2  # on both workers
    again = evaluate_on_ray(synthetic, evs, store=tmp_path / "ray.sqlite", progress=False)
    assert [s.new for s in again.summary] == [0, 0]
    assert len(read_log(log)) == len(calls)  # nothing recomputed


def test_results_written_to_parquet_but_not_saved_are_imported_not_recomputed(ray_cluster, synthetic,
                                                                               tmp_path: Path) -> None:
    log = tmp_path / "tone.log"
    first = evaluate_on_ray(synthetic, [Tone(log=str(log))], store=tmp_path / "a.sqlite", progress=False)
    # a driver that died after the workers wrote their files: a fresh store, the same dataset
    shutil.copytree(tmp_path / "a.parquet", tmp_path / "b.parquet")
    second = evaluate_on_ray(synthetic, [Tone(log=str(log))], store=tmp_path / "b.sqlite", progress=False)
    assert len(read_log(log)) == len(synthetic)
    assert second.summary[0].new == 0 and second.summary[0].already_done == len(synthetic)
    assert_same(first, second)


def test_cli_runs_a_study_on_ray(ray_cluster, tmp_path: Path) -> None:
    from affectproxy.cli import main

    study = Path(__file__).parents[2] / "examples" / "study.toml"
    out = CliRunner().invoke(main, ["run", str(study), "--engine", "ray", "--store", str(tmp_path / "s.sqlite"),
                                    "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "prosody: 15 new, 0 already done, 0 failed" in out.output
    assert len(ap.open_results(tmp_path / "s.sqlite").estimates) == 30


def test_a_node_that_cannot_read_the_audio_is_named(ray_cluster, tmp_path: Path) -> None:
    rec = ap.Recording("gone", str(tmp_path / "missing.flac"))
    segs = [ap.Segment("g1", rec, 0, 1)]
    with pytest.raises(ClusterError, match=r"node 127\.0\.0\.1 .*cannot read 1 of 1 audio files.*missing\.flac"):
        ap.evaluate(segs, [Tone()], store=tmp_path / "x.sqlite", progress=False, engine="ray")
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ClusterError, match="cannot write the output location"):
        evaluate_on_ray([], [Tone()], store=tmp_path / "y.sqlite", output=tmp_path / "file" / "out", progress=False)


def test_an_evaluator_that_differs_on_the_worker_is_refused() -> None:
    from affectproxy.cluster.workers import rebuild
    from affectproxy.errors import AffectProxyError
    from affectproxy.planning import Recipe

    recipe = Recipe("table", {"path": str(example_dir() / "reference.csv"), "name": "ref"}, "0" * 16)
    with pytest.raises(AffectProxyError, match="fingerprint"):
        rebuild(recipe.to_json(), None, recipe.fingerprint)


def test_a_pool_larger_than_the_cluster_is_refused_not_left_waiting(ray_cluster, synthetic, tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match=r"5 actors with cpus=1 need 5 CPUs; the cluster has 2"):
        evaluate_on_ray(synthetic, [Tone()], store=tmp_path / "big.sqlite", progress=False,
                        resources={"tone": {"actors": 5, "num_cpus": 1}})
