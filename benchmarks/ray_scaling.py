"""Throughput of the Ray engine with 1 and 2 workers, against the local engine, and the per-task overhead.

    python benchmarks/ray_scaling.py                      # prosody, a full-size random wav2vec2, overhead
    python benchmarks/ray_scaling.py --skip-acoustic      # without the acoustic model (no torch needed)

Starts a local Ray (127.0.0.1, as many CPUs as the machine has), writes a synthetic study (voiced tones,
``--recordings`` x 4 segments of ``--seconds`` s) and times, per evaluator, a fresh run of the local engine and of
the Ray engine with 1 and 2 actors (``num_cpus = CPUs / actors`` each, so both use the whole machine). Actors are
started by a warm-up run first, so the times are of steady-state runs (model loading per run included); the actor
start-up is reported apart. The acoustic model is the audeering-shaped wav2vec2 (12 layers, 1024 wide) with random
weights, built by ``benchmarks/acoustic.py``'s builder into ``--cache-dir`` (speed only, not accuracy).

Per-task overhead: the ``Tone`` test evaluator (microseconds per segment) over 200 segments of 0.2 s with one segment
per task, 1 actor: (Ray wall - local wall) / tasks.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run_case(name: str, segs: list[Any], ev: Any, work: Path, cpus: int) -> list[dict[str, Any]]:
    import affectproxy as ap
    from affectproxy.cluster.engine import evaluate_on_ray

    audio = sum(s.duration for s in segs)
    rows = []
    wall, res = timed(lambda: ap.evaluate(segs, [ev], store=work / f"{name}-local.sqlite", progress=False))
    assert not res.failures, res.failures[:1]
    rows.append({"evaluator": name, "engine": "local", "actors": "-", "wall_s": wall, "audio_s_per_s": audio / wall})
    for actors in (1, 2):
        resources = {"actors": actors, "num_cpus": cpus / actors}
        spec = dict(ev, ray=resources) if isinstance(ev, dict) else ev
        res_by_name = None if isinstance(ev, dict) else {ev.name: resources}
        warm, _ = timed(lambda spec=spec, res_by_name=res_by_name, actors=actors: evaluate_on_ray(
            segs[:2], [spec], store=work / f"{name}-warm{actors}.sqlite", progress=False, resources=res_by_name))
        wall, res = timed(lambda spec=spec, res_by_name=res_by_name, actors=actors: evaluate_on_ray(
            segs, [spec], store=work / f"{name}-ray{actors}.sqlite", progress=False, resources=res_by_name))
        assert not res.failures, res.failures[:1]
        rows.append({"evaluator": name, "engine": "ray", "actors": actors, "wall_s": wall,
                     "audio_s_per_s": audio / wall, "warm_up_s": warm})
    return rows


def overhead(work: Path) -> dict[str, float]:
    import affectproxy as ap
    from affectproxy.cluster.engine import evaluate_on_ray
    from affectproxy.cluster.testing import Tone, synthetic_study

    segs = synthetic_study(work / "tiny", recordings=20, per_recording=10, seconds=0.2, seed=1)
    tone = Tone(name="tone")
    local, _ = timed(lambda: ap.evaluate(segs, [tone], store=work / "o-local.sqlite", progress=False, batch_size=1))
    evaluate_on_ray(segs[:2], [tone], store=work / "o-warm.sqlite", progress=False, resources={"tone": {"actors": 1}})
    ray1, _ = timed(lambda: evaluate_on_ray(segs, [tone], store=work / "o-ray.sqlite", progress=False, batch_size=1,
                                            resources={"tone": {"actors": 1}}))
    ray8, _ = timed(lambda: evaluate_on_ray(segs, [tone], store=work / "o-ray8.sqlite", progress=False, batch_size=8,
                                            resources={"tone": {"actors": 1}}))
    n = len(segs)
    return {"tasks": n, "local_s": local, "ray_s": ray1, "per_task_ms": 1000 * (ray1 - local) / n,
            "ray_batch8_s": ray8, "per_task_batch8_ms": 1000 * (ray8 - local) / (n / 8)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recordings", type=int, default=12)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--skip-acoustic", action="store_true")
    p.add_argument("--cache-dir", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "affectproxy-bench"))
    args = p.parse_args()

    from affectproxy.cluster.connect import local_only

    local_only()
    import ray

    from affectproxy.cluster.testing import synthetic_study

    cpus = os.cpu_count() or 2
    t0 = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False)
    started = time.perf_counter() - t0
    work = Path(tempfile.mkdtemp(prefix="ray-scaling-"))
    segs = synthetic_study(work / "audio", recordings=args.recordings, per_recording=4, seconds=args.seconds)
    audio = sum(s.duration for s in segs)
    print(f"{platform.processor() or platform.machine()}, {cpus} CPUs; ray {ray.__version__}; "
          f"ray.init {started:.1f} s; {len(segs)} segments, {audio:.0f} s of audio", flush=True)
    rows = run_case("prosody", segs, {"type": "prosody"}, work, cpus)
    if not args.skip_acoustic:
        from acoustic_modes.wav2vec2 import build_audeering

        folder = build_audeering(Path(args.cache_dir), False)
        ev = {"type": "wav2vec2", "model": str(folder), "device": "cpu", "download": False, "name": "w2v2-large"}
        rows += run_case("w2v2-large", segs, ev, work, cpus)
    print("\n| evaluator | engine | actors | wall s | audio s/s | warm-up s |\n|---|---|---|---|---|---|")
    for r in rows:
        warm = f"{r['warm_up_s']:.1f}" if "warm_up_s" in r else "-"
        print(f"| {r['evaluator']} | {r['engine']} | {r['actors']} | {r['wall_s']:.1f} | {r['audio_s_per_s']:.2f} | "
              f"{warm} |")
    o = overhead(work)
    print(f"\nper-task overhead: {o['tasks']} tasks of one 0.2 s segment: local {o['local_s']:.2f} s, ray (1 actor) "
          f"{o['ray_s']:.2f} s -> {o['per_task_ms']:.1f} ms per task; 8 segments per task: {o['ray_batch8_s']:.2f} s "
          f"-> {o['per_task_batch8_ms']:.1f} ms per task")
    ray.shutdown()


if __name__ == "__main__":
    main()
