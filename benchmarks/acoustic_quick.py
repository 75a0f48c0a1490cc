"""One acoustic mode, once, on four fixed segments: a quick check between full runs of acoustic.py.

    python benchmarks/acoustic_quick.py wav2vec2 pipeline
    python benchmarks/acoustic_quick.py wav2vec2 ours-fp32 --device cuda

Uses the full-size random models that ``benchmarks/acoustic.py`` builds (same cache folder).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    from acoustic import families

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("family")
    p.add_argument("mode")
    p.add_argument("--device", default="cpu")
    p.add_argument("--cache-dir", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "affectproxy-bench"))
    args = p.parse_args()
    (fam,) = families([args.family])
    mode = next((m for m in fam.modes if m.name == args.mode), None)
    if mode is None:
        raise SystemExit(f"unknown mode {args.mode!r}; {fam.name} has {[m.name for m in fam.modes]}")
    folder = fam.build(Path(args.cache_dir), False)
    rng = np.random.default_rng(0)
    waves = [0.1 * rng.standard_normal(16000 * s).astype(np.float32) for s in (3, 5, 7, 4)]
    run = mode.load(folder, args.device)
    start = time.perf_counter()
    run(waves)
    seconds = time.perf_counter() - start
    print(f"{fam.name} {mode.name}: {sum(len(a) for a in waves) / 16000 / seconds:.2f} audio s/s")


if __name__ == "__main__":
    main()
