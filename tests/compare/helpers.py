"""Shared builders for the compare tests: AR(1) series and tidy frames."""

from __future__ import annotations

import numpy as np
import pandas as pd


def ar1(rng: np.random.Generator, runs: int, n: int, phi: float, innovations: np.ndarray | None = None) -> np.ndarray:
    """Stationary AR(1) series, shape (runs, n), started from the stationary distribution."""
    e = rng.standard_normal((runs, n)) if innovations is None else innovations
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def tidy(series: dict[tuple[str, str], np.ndarray], segment_ids: list | None = None) -> pd.DataFrame:
    """A tidy frame from {(evaluator, dimension): values}."""
    rows = []
    for (ev, dim), values in series.items():
        ids = segment_ids or [f"s{i:03d}" for i in range(len(values))]
        rows += [(sid, ev, dim, float(v)) for sid, v in zip(ids, values, strict=True)]
    return pd.DataFrame(rows, columns=["segment_id", "evaluator", "dimension", "value"])
