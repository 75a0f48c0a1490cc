"""Acoustic-model throughput: each (family, mode) in its own child process, interleaved, repeated.

Families live in ``benchmarks/acoustic_modes/*.py`` (see that package's docstring for the interface). For each
repeat the parent runs every (family, mode) once, in a rotated order, each in a fresh ``python acoustic.py
--child FAMILY MODE`` process that loads the model, warms up on one segment and times only ``run()`` over a fixed,
seeded set of synthetic 16 kHz segments of 3-8 s. It reports per mode: median audio seconds per second, the ratio
to the family's reference mode, peak resident memory of the child (loading included) and the largest absolute
deviation of its outputs from the reference's; the Markdown table goes to stdout and into
``benchmarks/RESULTS.md`` under ``## acoustic``.

Usage::

    python benchmarks/acoustic.py                       # all families, 3 repeats, cpu
    python benchmarks/acoustic.py --family emotion2vec --repeats 1 --segments 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SAMPLE_RATE = 16000
SEED = 20260
SECTION = "## acoustic"


def segments(n: int, seed: int = SEED) -> list[np.ndarray]:
    """``n`` speech-like synthetic segments of 3-8 s (fixed by ``seed``)."""
    from affectproxy.testing import synthetic_signal

    rng = np.random.default_rng(seed)
    return [synthetic_signal(float(rng.uniform(3.0, 8.0)), SAMPLE_RATE, i) for i in range(n)]


def families(only: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """family name -> {"module", "REFERENCE", "MODES"} from every module in acoustic_modes/."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((HERE / "acoustic_modes").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        mod = importlib.import_module(f"acoustic_modes.{path.stem}")
        out[mod.FAMILY] = {"module": mod, "REFERENCE": mod.REFERENCE, "MODES": mod.MODES}
        for name, extra in getattr(mod, "EXTRA_FAMILIES", {}).items():
            out[name] = {"module": mod, "REFERENCE": extra["REFERENCE"], "MODES": extra["MODES"]}
    if only:
        unknown = sorted(set(only) - set(out))
        if unknown:
            raise SystemExit(f"unknown family {unknown}; known: {sorted(out)}")
        out = {k: v for k, v in out.items() if k in only}
    return out


def child(family: str, mode: str, cache_dir: Path, n_segments: int, out: Path) -> None:
    """Load one mode, warm up on one segment, time run() over the segments, write outputs and a JSON record."""
    fam = families([family])[family]
    audios = segments(n_segments)
    t0 = time.perf_counter()
    run = fam["MODES"][mode](cache_dir)
    run(audios[:1])
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = np.asarray(run(audios), dtype=np.float64)
    seconds = time.perf_counter() - t0
    audio_s = sum(len(a) for a in audios) / SAMPLE_RATE
    np.save(out.with_suffix(".npy"), result)
    record = {
        "family": family, "mode": mode, "seconds": seconds, "audio_seconds": audio_s, "load_seconds": load_s,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    out.with_suffix(".json").write_text(json.dumps(record))


def machine() -> str:
    """One line on the hardware and software."""
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, {gpu}; Python {platform.python_version()}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads)")


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| family | mode | audio s/s (median) | RTF | x reference | peak RSS MB | max abs dev vs reference | "
            "load s |\n|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        dev = "reference" if r["is_reference"] else f"{r['deviation']:.2e}"
        lines.append(
            f"| {r['family']} | {r['mode']} | {r['speed']:.2f} | {1 / r['speed']:.3f} | {r['ratio']:.2f} | "
            f"{r['peak_mb']:.0f} | {dev} | {r['load_s']:.1f} |"
        )
    return "\n".join(lines)


def write_results(text: str, path: Path) -> None:
    """Replace (or append) the ``## acoustic`` section of RESULTS.md, leaving other sections alone."""
    old = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmark results\n"
    lines = old.splitlines()
    try:
        start = lines.index(SECTION)
    except ValueError:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        new = "\n".join([*lines[:start], *text.rstrip("\n").splitlines(), "", *lines[end:]]).rstrip("\n") + "\n"
    path.write_text(new, encoding="utf-8")


def parent(args: argparse.Namespace) -> None:
    fams = families(args.family)
    cache_dir = Path(args.cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = cache_dir / "runs"
    work.mkdir(exist_ok=True)
    modules = {id(f["module"]): f["module"] for f in fams.values()}
    for mod in modules.values():
        t0 = time.perf_counter()
        mod.prepare(cache_dir)
        print(f"prepared {mod.FAMILY} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    jobs = [(fam, mode) for fam, f in fams.items() for mode in f["MODES"]]
    env = {**os.environ, "AFFECTPROXY_BENCH_DEVICE": args.device}
    records: dict[tuple[str, str], list[dict[str, Any]]] = {job: [] for job in jobs}
    started = time.perf_counter()
    for rep in range(args.repeats):
        order = jobs[rep % len(jobs):] + jobs[: rep % len(jobs)]  # rotate so no mode always runs first
        for fam, mode in order:
            out = work / f"{fam}__{mode}__{rep}"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", fam, mode, "--cache-dir", str(cache_dir),
                   "--segments", str(args.segments), "--out", str(out)]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"{fam}/{mode} failed:\n{proc.stderr[-4000:]}")
            rec = json.loads(out.with_suffix(".json").read_text())
            rec["outputs"] = np.load(out.with_suffix(".npy"))
            records[(fam, mode)].append(rec)
            print(f"[{rep + 1}/{args.repeats}] {fam}/{mode}: {rec['audio_seconds'] / rec['seconds']:.2f} audio s/s, "
                  f"{rec['peak_mb']:.0f} MB", file=sys.stderr)
    rows = []
    for fam, f in fams.items():
        ref = records[(fam, f["REFERENCE"])]
        ref_speed = statistics.median(r["audio_seconds"] / r["seconds"] for r in ref)
        for mode in f["MODES"]:
            recs = records[(fam, mode)]
            speed = statistics.median(r["audio_seconds"] / r["seconds"] for r in recs)
            dev = max(float(np.abs(r["outputs"] - q["outputs"]).max()) for r in recs for q in ref)
            rows.append({"family": fam, "mode": mode, "speed": speed, "ratio": speed / ref_speed,
                         "peak_mb": max(r["peak_mb"] for r in recs), "deviation": dev,
                         "is_reference": mode == f["REFERENCE"],
                         "load_s": statistics.median(r["load_seconds"] for r in recs)})
    audio_s = records[jobs[0]][0]["audio_seconds"]
    command = "python benchmarks/acoustic.py " + " ".join(args.argv)
    text = "\n".join([
        SECTION,
        "",
        f"Measured {dt.date.today().isoformat()} on {machine()}; device {args.device}.",
        f"Command: `{command.strip()}` ({args.repeats} repeats, modes interleaved, each run in its own process; "
        f"{args.segments} synthetic segments of 3-8 s, {audio_s:.1f} s of audio; wall time "
        f"{(time.perf_counter() - started) / 60:.1f} min). Randomly initialised full-size weights: speed and "
        "numerical agreement only, not accuracy. Peak RSS includes loading; deviation is the largest absolute "
        "difference of any output (class probability or dimensional value) from the reference mode's, over all "
        "repeats.",
        "",
        table(rows),
        "",
        "GPU: not yet measured (no GPU was available for this run; targets: >= 25x the per-segment pipeline and "
        ">= 5,000 audio s/s).",
    ])
    print(text)
    if not args.no_write:
        write_results(text, HERE / "RESULTS.md")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--family", action="append", help="run only this family (repeatable)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--segments", type=int, default=20)
    p.add_argument("--device", default="cpu")
    p.add_argument("--cache-dir", default=str(ROOT / ".benchmarks" / "acoustic"))
    p.add_argument("--no-write", action="store_true", help="print the table without touching RESULTS.md")
    p.add_argument("--child", nargs=2, metavar=("FAMILY", "MODE"), help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.argv = [a for a in argv]
    if args.child:
        child(args.child[0], args.child[1], Path(args.cache_dir), args.segments, Path(args.out))
    else:
        parent(args)


if __name__ == "__main__":
    main()
