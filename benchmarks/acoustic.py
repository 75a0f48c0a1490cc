"""Acoustic-model throughput: every family and mode in one run, results written as each mode finishes.

For each family in ``benchmarks/acoustic_modes`` (emotion2vec plus_large size; wav2vec2-large with a categorical
head; the audeering dimensional layout) the script builds a randomly initialised model, counts its FLOP per audio
second, then runs each mode over the same seeded synthetic 16 kHz segments of 3-8 s (1,000 by default). Modes that
handle one segment per call (funasr ``generate()``, the transformers pipeline, our per-item path) are capped
(``--cap``, 200 by default) because they are slow; batched modes run all segments. Each mode is loaded, warmed up
on two segments, then timed (with a device synchronisation) over its segments.

Reported per mode: audio seconds per second; the speed-up over the family's one-by-one reference; the largest
absolute deviation of any output (class probability or dimensional value) from the reference's on the segments
both ran; peak accelerator memory; and the fraction of the chip's bf16 rate reached (FLOP per audio second x audio
seconds per second / peak rate; the peak is measured here with a large bf16 matmul, and also taken from the
vendor's dense bf16 figure where the chip is known). Results go to ``$OUT/acoustic-results.json`` and
``$OUT/acoustic-results.md`` after every mode (``--out``, default ``$OUT`` or ``benchmarks/.out``), so a run cut
short keeps what it measured. A mode that fails is recorded with its error and the run goes on.

Usage::

    python benchmarks/acoustic.py --device cuda                     # the GPU measurement (issue 15)
    python benchmarks/acoustic.py --tiny --segments 12 --cap 4      # a quick end-to-end check on the CPU
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
SAMPLE_RATE = 16000
SEED = 20260
# Dense bf16 tensor-core peaks from the vendors' data sheets (FLOP/s), for chips whose name contains the key.
SPEC_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12}


def segments(n: int, seed: int = SEED) -> list[np.ndarray]:
    """``n`` speech-like synthetic segments of 3-8 s (fixed by ``seed``)."""
    from affectproxy.testing import synthetic_signal

    rng = np.random.default_rng(seed)
    return [synthetic_signal(float(rng.uniform(3.0, 8.0)), SAMPLE_RATE, i) for i in range(n)]


def families(only: list[str] | None) -> list[Any]:
    out = []
    for path in sorted((HERE / "acoustic_modes").glob("*.py")):
        if not path.stem.startswith("_"):
            out += importlib.import_module(f"acoustic_modes.{path.stem}").FAMILIES
    if only:
        unknown = sorted(set(only) - {f.name for f in out})
        if unknown:
            raise SystemExit(f"unknown family {unknown}; known: {sorted(f.name for f in out)}")
        out = [f for f in out if f.name in only]
    return out


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measured_bf16_peak(device: str) -> float:
    """FLOP/s of a large bf16 matmul on ``device`` (best of a few): the rate the chip reaches in practice."""
    import torch

    n = 8192 if device.startswith("cuda") else 1024
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    best = 0.0
    for _ in range(5):
        synchronize(device)
        t0 = time.perf_counter()
        for _ in range(10):
            a @ b
        synchronize(device)
        best = max(best, 10 * 2 * n**3 / (time.perf_counter() - t0))
    return best


def machine(device: str) -> dict[str, Any]:
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else None
    spec = next((v for k, v in SPEC_BF16.items() if gpu and k in gpu), None)
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "python": platform.python_version(),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "spec_bf16_flops": spec}


def peak_memory(device: str) -> float | None:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    return None


def run_mode(mode: Any, folder: Path, device: str, waves: list[np.ndarray]) -> tuple[np.ndarray, float, float]:
    """Load, warm up on two segments, time ``run`` over ``waves``; returns outputs, seconds and load seconds."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    run = mode.load(folder, device)
    run(waves[:2])
    synchronize(device)
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = np.asarray(run(waves), dtype=np.float64)
    synchronize(device)
    return out, time.perf_counter() - t0, load


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| family | mode | segments | audio s/s | x one-by-one reference | max abs dev vs reference | "
             "peak GPU GiB | % of bf16 peak (measured / spec) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['family']} | {r['mode']} | - | failed: {r['error'][:120]} | | | | |")
            continue
        dev = "reference" if r["is_reference"] else ("-" if r["deviation"] is None else f"{r['deviation']:.2e}")
        ratio = "-" if r["speedup"] is None else f"{r['speedup']:.2f}"
        mem = "-" if r["peak_gib"] is None else f"{r['peak_gib']:.1f}"
        frac = f"{100 * r['fraction_measured']:.1f}" + (
            f" / {100 * r['fraction_spec']:.1f}" if r["fraction_spec"] is not None else "")
        lines.append(f"| {r['family']} | {r['mode']} | {r['segments']} | {r['speed']:.1f} | {ratio} | {dev} | "
                     f"{mem} | {frac} |")
    return "\n".join(lines)


def write(out_dir: Path, header: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Write the JSON record and the Markdown table (called after every mode)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "acoustic-results.json").write_text(json.dumps({**header, "rows": rows}, indent=2))
    m = header["machine"]
    text = "\n".join([
        f"Measured {header['date']} on {m['gpu'] or 'no GPU'} ({m['cpu']}, {m['cores']} cores); Python "
        f"{m['python']}, torch {m['torch']} ({m['threads']} threads); device {header['device']}.",
        f"Command: `{header['command']}`; {header['segments']} synthetic segments of 3-8 s "
        f"({header['audio_seconds']:.0f} s of audio), one-by-one modes capped at {header['cap']}; "
        f"{'tiny' if header['tiny'] else 'full-size'} random weights (speed and agreement only, not accuracy). "
        f"bf16 peak measured here: {header['bf16_peak_measured'] / 1e12:.3g} TFLOP/s"
        + (f"; data-sheet dense bf16: {m['spec_bf16_flops'] / 1e12:.0f} TFLOP/s." if m["spec_bf16_flops"] else "."),
        "FLOP per audio second (counted): " + ", ".join(
            f"{k} {v / 1e9:.3g} GFLOP" for k, v in header["flops_per_audio_second"].items()) + ".",
        "",
        table(rows),
        "",
    ])
    (out_dir / "acoustic-results.md").write_text(text)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--segments", type=int, default=1000, help="segments for batched modes (default 1000)")
    p.add_argument("--cap", type=int, default=200, help="segments for one-by-one modes (default 200)")
    p.add_argument("--family", action="append", help="run only this family (repeatable)")
    p.add_argument("--mode", action="append", help="run only this mode (repeatable; references always run)")
    p.add_argument("--tiny", action="store_true", help="tiny random models: a quick end-to-end check")
    p.add_argument("--max-batch-seconds", type=float, help="padded audio per forward pass for batched modes")
    p.add_argument("--out", default=os.environ.get("OUT") or str(HERE / ".out"), help="results folder ($OUT)")
    p.add_argument("--cache-dir", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "affectproxy-bench"),
                   help="where the random models are written (keep it outside --out)")
    args = p.parse_args(argv)
    if args.max_batch_seconds is not None:
        os.environ["AFFECTPROXY_BENCH_MAX_BATCH_SECONDS"] = str(args.max_batch_seconds)
    import torch

    torch.manual_seed(0)
    out_dir, cache = Path(args.out), Path(args.cache_dir)
    waves = segments(args.segments)
    cap = min(args.cap, args.segments)
    header: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "device": args.device,
        "command": "python benchmarks/acoustic.py " + " ".join(argv), "segments": args.segments, "cap": cap,
        "audio_seconds": sum(len(w) for w in waves) / SAMPLE_RATE, "tiny": args.tiny,
        "machine": machine(args.device), "bf16_peak_measured": measured_bf16_peak(args.device),
        "flops_per_audio_second": {},
    }
    rows: list[dict[str, Any]] = []
    write(out_dir, header, rows)
    for fam in families(args.family):
        try:
            t0 = time.perf_counter()
            folder = fam.build(cache, args.tiny)
            header["flops_per_audio_second"][fam.name] = fam.flops(folder, args.device)
            print(f"{fam.name}: built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        except Exception as exc:  # record and go on with the other families
            rows.append({"family": fam.name, "mode": "(build)", "error": f"{type(exc).__name__}: {exc}"})
            write(out_dir, header, rows)
            continue
        reference: tuple[str, np.ndarray] | None = None
        for mode in fam.modes:
            is_ref_candidate = mode.name in fam.reference and reference is None
            if args.mode and mode.name not in args.mode and not is_ref_candidate:
                continue
            n = cap if mode.one_by_one else args.segments
            try:
                outputs, seconds, load = run_mode(mode, folder, args.device, waves[:n])
            except Exception as exc:
                traceback.print_exc()
                rows.append({"family": fam.name, "mode": mode.name, "error": f"{type(exc).__name__}: {exc}"})
                write(out_dir, header, rows)
                continue
            audio = sum(len(w) for w in waves[:n]) / SAMPLE_RATE
            if is_ref_candidate:
                reference = (mode.name, outputs)
            ref_row = next((r for r in rows if r["family"] == fam.name and reference and
                            r["mode"] == reference[0] and "error" not in r), None)
            speed = audio / seconds
            k = min(len(outputs), cap)
            flop = header["flops_per_audio_second"][fam.name]
            spec = header["machine"]["spec_bf16_flops"]
            row = {
                "family": fam.name, "mode": mode.name, "dtype": mode.dtype, "segments": n, "audio_seconds": audio,
                "seconds": seconds, "load_seconds": load, "speed": speed,
                "is_reference": reference is not None and reference[0] == mode.name,
                "reference": reference[0] if reference else None,
                "speedup": speed / ref_row["speed"] if ref_row else (1.0 if is_ref_candidate else None),
                "deviation": (float(np.abs(outputs[:k] - reference[1][:k]).max())
                              if reference and not is_ref_candidate else None),
                "peak_gib": peak_memory(args.device),
                "fraction_measured": speed * flop / header["bf16_peak_measured"],
                "fraction_spec": speed * flop / spec if spec else None,
            }
            rows.append(row)
            np.save(out_dir / f"{fam.name}__{mode.name}.npy", outputs[:cap])
            write(out_dir, header, rows)
            print(f"{fam.name}/{mode.name}: {speed:.1f} audio s/s over {n} segments "
                  f"(speed-up {row['speedup'] or float('nan'):.2f}, deviation {row['deviation']})", file=sys.stderr)
    print((out_dir / "acoustic-results.md").read_text())


if __name__ == "__main__":
    main()
