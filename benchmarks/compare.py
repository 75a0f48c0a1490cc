"""Time affectproxy.compare.correlate on 18 series x 51 segments and 18 series x 100,000 segments.

Run:  PYTHONPATH=src python benchmarks/compare.py            (prints a Markdown table)
      PYTHONPATH=src python benchmarks/compare.py --record   (also replaces "## compare" in benchmarks/RESULTS.md)
"""

from __future__ import annotations

import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from affectproxy.compare import correlate

EVALUATORS = ["emotion2vec", "wav2vec2", "prosody", "gemini", "trust", "human"]
DIMENSIONS = ["arousal", "valence", "dominance"]


def tidy(n: int, seed: int = 0) -> pd.DataFrame:
    """18 AR(1) series (6 evaluators x 3 dimensions, phi 0.6) over n segments."""
    rng = np.random.default_rng(seed)
    k = len(EVALUATORS) * len(DIMENSIONS)
    from scipy.signal import lfilter

    values = lfilter([1.0], [1.0, -0.6], rng.standard_normal((k, n)), axis=1)
    ev = np.repeat(np.repeat(EVALUATORS, len(DIMENSIONS)), n)
    dim = np.repeat(np.tile(DIMENSIONS, len(EVALUATORS)), n)
    return pd.DataFrame({"segment_id": np.tile(np.arange(n), k), "evaluator": ev, "dimension": dim,
                         "value": values.ravel()})


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> str:
    rows = []
    small, large = tidy(51), tidy(100_000)
    cases = [
        ("18 x 51, spearman, neff (default)", lambda: correlate(small), 5),
        ("18 x 51, spearman, surrogate (999)", lambda: correlate(small, inference="surrogate"), 3),
        ("18 x 51, kendall, neff", lambda: correlate(small, "kendall"), 3),
        ("18 x 100,000, spearman, neff (default)", lambda: correlate(large), 2),
        ("18 x 100,000, pearson, neff", lambda: correlate(large, "pearson"), 2),
        ("18 x 100,000, kendall, neff", lambda: correlate(large, "kendall"), 1),
    ]
    for name, fn, repeat in cases:
        seconds = best_of(fn, repeat)
        pairs = len(fn()) if repeat > 1 else 135
        rows.append(f"| {name} | {pairs} | {seconds:.3f} |")
        print(rows[-1], flush=True)
    header = (f"Machine: {os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}, Python "
              f"{platform.python_version()}, numpy {np.__version__}. Command: "
              "`PYTHONPATH=src python benchmarks/compare.py --record` (best of 1-5 runs, wall seconds; the "
              "table includes building the segments x series matrix from the tidy frame).\n\n"
              "| case | pairs | seconds |\n|---|---|---|\n")
    return header + "\n".join(rows) + "\n"


RESULTS = Path(__file__).with_name("RESULTS.md")


def record(section: str, path: Path = RESULTS) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    block = f"## compare\n\n{section}\n"
    pattern = re.compile(r"^## compare\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    out = main()
    print(out)
    if "--record" in sys.argv:
        record(out)
