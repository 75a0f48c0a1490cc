"""One acoustic mode, once, on four fixed segments: a quick check between full runs of acoustic.py.

    python benchmarks/acoustic_quick.py wav2vec2 pipeline
    python benchmarks/acoustic_quick.py wav2vec2 ours-fp32

Uses the full-size random models that ``benchmarks/acoustic.py`` builds in ``.benchmarks/acoustic``.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
CACHE = Path(__file__).resolve().parents[1] / ".benchmarks" / "acoustic"


def main(family: str, mode: str) -> None:
    module = importlib.import_module(f"acoustic_modes.{family}")
    module.prepare(CACHE)
    rng = np.random.default_rng(0)
    audios = [0.1 * rng.standard_normal(16000 * s).astype(np.float32) for s in (3, 5, 7, 4)]
    run = module.MODES[mode](CACHE)
    start = time.perf_counter()
    run(audios)
    seconds = time.perf_counter() - start
    print(f"{family} {mode}: {sum(len(a) for a in audios) / 16000 / seconds:.2f} audio s/s")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
